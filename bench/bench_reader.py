"""The reader service side by side with Readium's r2-streamer-js, in one run, on the same books.

Starts its own local stack and the platform, ingests corpus books through the ingest API, starts
r2-streamer-js on the same files, then measures with autocannon (npm, tools/readium):
- resource GETs per second, full and ranged (bytes=0-4095), at 10 and 100 connections, on a chapter of
  Moby-Dick — ours through a streaming token, theirs through their URL — and the ratio ours/theirs;
- time to first byte of the manifest of a cold book (first request after ingest / first request to the peer);
- manifest generation for the whole EPUB corpus (ours: check + parse + manifest of every book);
- PDF page render at 1,200 px (p50/p99; the peer does not render PDF pages).
The last lines are the figures.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy" / "local"))
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from local_platform import Platform, temporary_platform  # noqa: E402

from reader.domain.packaging import Limits  # noqa: E402
from reader.service_layer.ingest import describe  # noqa: E402
from sachso.kit.auth import Role, TokenIssuer  # noqa: E402
from tests.corpus import CORPUS  # noqa: E402
from tests.integration.conftest import readium_streamer  # noqa: E402

BOOKS = sorted((CORPUS / "epub").glob("*.epub"))
AUTOCANNON = ROOT / "tools" / "readium" / "node_modules" / ".bin" / "autocannon"
HOT = "moby-dick.epub"
DURATION = 5


def autocannon(url: str, connections: int, headers: dict[str, str] | None = None) -> float:
    """Requests per second (mean over the run), non-2xx answers counted as failures."""
    command = [str(AUTOCANNON), "-j", "-c", str(connections), "-d", str(DURATION)]
    for key, value in (headers or {}).items():
        command += ["-H", f"{key}={value}"]
    result = json.loads(subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout)
    if result["non2xx"] or result["errors"]:
        raise RuntimeError(f"{url}: {result['non2xx']} non-2xx, {result['errors']} errors")
    return float(result["requests"]["average"])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def ingest_all(http: httpx.AsyncClient, base: str, publisher: str) -> dict[str, str]:
    ids = {}
    for path in [*BOOKS, CORPUS / "pdf" / "R-intro.pdf"]:
        files = {"file": (path.name, path.read_bytes(), "application/octet-stream")}
        metadata = json.dumps({"title": path.stem})
        answer = await http.post(f"{base}/v1/publications", files=files, data={"metadata": metadata},
                                 headers={"Authorization": f"Bearer {publisher}"})  # fmt: skip
        answer.raise_for_status()
        ids[path.name] = answer.json()["id"]
    return ids


def run(platform: Platform) -> dict[str, float]:
    keys = platform.state_dir / "keys"
    accounts = TokenIssuer.from_files("sachso-lending", [str(next((keys / "lending").glob("*.pem")))])
    drm = TokenIssuer.from_files("sachso-drm", [str(next((keys / "drm").glob("*.pem")))])
    publisher = accounts.issue("bench", audience="sachso", roles=[Role.PUBLISHER], publisher_id="bench")
    reader = platform.endpoints()["reader"].http_url
    results: dict[str, float] = {}

    async def prepare() -> tuple[dict[str, str], list[float]]:
        async with httpx.AsyncClient(timeout=120) as http:
            ids = await ingest_all(http, reader, publisher)
            cold: list[float] = []
            for name in [book.name for book in BOOKS]:
                token = drm.issue("p", audience="sachso-streaming", ttl_seconds=3600, pub=ids[name], loan="l")
                started = time.perf_counter()
                async with http.stream("GET", f"{reader}/v1/read/{token}/manifest.json") as response:
                    await response.aread()
                cold.append((time.perf_counter() - started) * 1000)
            return ids, cold

    ids, cold_ours = asyncio.run(prepare())
    token = drm.issue("p", audience="sachso-streaming", ttl_seconds=3600, pub=ids[HOT], loan="l")
    with readium_streamer(BOOKS) as streamer:
        cold_theirs = []
        for book in BOOKS:
            started = time.perf_counter()
            httpx.get(f"{streamer.root(book)}/manifest.json", timeout=60).raise_for_status()
            cold_theirs.append((time.perf_counter() - started) * 1000)
        manifest = httpx.get(f"{streamer.root(CORPUS / 'epub' / HOT)}/manifest.json").json()
        hot_root = streamer.root(CORPUS / "epub" / HOT)
        relative = manifest["readingOrder"][10]["href"].removeprefix(hot_root + "/")
        theirs_url = f"{hot_root}/{relative}"
        ours_url = f"{reader}/v1/read/{token}/{relative}"
        for connections in (10, 100):
            for label, headers in (("full", {"Accept-Encoding": "identity"}), ("range", {"Range": "bytes=0-4095"})):
                ours = autocannon(ours_url, connections, headers)
                theirs = autocannon(theirs_url, connections, headers)
                results[f"{label}_c{connections}_ours_rps"] = ours
                results[f"{label}_c{connections}_r2_rps"] = theirs
                results[f"{label}_c{connections}_ratio"] = ours / theirs
    results["manifest_cold_ttfb_p50_ours_ms"] = statistics.median(cold_ours)
    results["manifest_cold_ttfb_p50_r2_ms"] = statistics.median(cold_theirs)
    results["manifest_cold_ttfb_ratio"] = (
        results["manifest_cold_ttfb_p50_r2_ms"] / results["manifest_cold_ttfb_p50_ours_ms"]
    )
    started = time.perf_counter()
    for book in BOOKS:
        describe(book, Limits())
    results["corpus_manifest_generation_s"] = time.perf_counter() - started

    pdf_token = drm.issue("p", audience="sachso-streaming", ttl_seconds=3600, pub=ids["R-intro.pdf"], loan="l")
    renders = []
    with httpx.Client(timeout=60) as http:
        for page in range(1, 61):
            started = time.perf_counter()
            http.get(f"{reader}/v1/read/{pdf_token}/~sachso/pages/{page}", params={"width": 1200}).raise_for_status()
            renders.append((time.perf_counter() - started) * 1000)
    results["pdf_page_1200px_p50_ms"] = statistics.median(renders)
    results["pdf_page_1200px_p99_ms"] = percentile(renders, 0.99)
    return results


def main() -> None:
    with temporary_platform() as platform:
        results = run(platform)
    print("reader vs Readium r2-streamer-js (same machine, same books, autocannon):")
    for key, value in results.items():
        print(f"  {key}: {value:.2f}")


if __name__ == "__main__":
    main()
