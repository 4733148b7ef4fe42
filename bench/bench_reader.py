"""The reader service side by side with Readium's r2-streamer-js and with the machine's limit, in one run.

Starts its own local stack and the platform, ingests corpus books through the ingest API, starts
r2-streamer-js on the same files and a bare ASGI app on the same uvicorn returning the same chapter from memory
(the limit: what any Python service could do here), then measures with autocannon (npm, tools/readium):
- resource GETs per second, full and ranged (bytes=0-4095), at 10 and 100 connections, on a chapter of
  Moby-Dick — ours through a streaming token, theirs through their URL — median of 3 runs with the spread, and
  the ratios ours/theirs and ours/bare;
- time to first byte of the manifest of a cold book (first request after ingest / first request to the peer);
- manifest generation for the whole EPUB corpus (ours: check + parse + manifest of every book);
- PDF pages at 1,200 px through HTTP: cold (first request of a page), the next page (rendered ahead while the
  first was read) and warm (asked again), against raw pypdfium2 render + WebP encode of the same pages here.
``--profile`` also samples the reader process with py-spy during a 10-connection run and prints its top frames.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pypdfium2 as pdfium
from _common import REPETITIONS, ROOT, Figure, record  # first: puts the repository root on the path
from local_platform import Platform, free_port, temporary_platform

from reader.domain.packaging import Limits
from reader.service_layer.ingest import describe
from sachso.kit.auth import Role, TokenIssuer
from tests.corpus import CORPUS
from tests.integration.conftest import readium_streamer

BOOKS = sorted((CORPUS / "epub").glob("*.epub"))
PDF = CORPUS / "pdf" / "R-intro.pdf"
AUTOCANNON = ROOT / "tools" / "readium" / "node_modules" / ".bin" / "autocannon"
HOT = "moby-dick.epub"
DURATION = 4
PAGE_WIDTH = 1200
BENCH = "reader"


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


class BareApp:
    """The limit: :mod:`_bare_asgi` on a free port, serving ``body``."""

    def __init__(self, body: bytes, media_type: str) -> None:
        self.file = tempfile.NamedTemporaryFile(suffix=".bin")  # noqa: SIM115 (closed in stop)
        self.file.write(body)
        self.file.flush()
        self.port = free_port()
        script = Path(__file__).with_name("_bare_asgi.py")
        self.process = subprocess.Popen([sys.executable, str(script), str(self.port), self.file.name, media_type])
        self.url = f"http://127.0.0.1:{self.port}/chapter"
        for _ in range(200):
            try:
                httpx.get(self.url, timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("the bare ASGI app did not start")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(10)
        self.file.close()


def profile(pid: int, url: str, seconds: int = 8) -> None:
    """Sample the reader with py-spy while autocannon loads it; print the top frames (self and inclusive)."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "stacks.txt"
        spy = subprocess.Popen(
            [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(pid), "--duration", str(seconds),
             "--format", "raw", "--output", str(out), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        subprocess.run(
            [str(AUTOCANNON), "-c", "10", "-d", str(seconds), "-H", "Accept-Encoding=identity", url],
            capture_output=True, check=True,
        )  # fmt: skip
        spy.wait(60)
        own: collections.Counter[str] = collections.Counter()
        inclusive: collections.Counter[str] = collections.Counter()
        total = 0
        for line in out.read_text(encoding="utf-8").splitlines():
            stack, _, count_text = line.rpartition(" ")
            count = int(count_text)
            frames = [frame.split(" (")[0] + " (" + frame.split(" (")[-1].split("/")[-1] for frame in stack.split(";")]
            total += count
            own[frames[-1]] += count
            for frame in set(frames):
                inclusive[frame] += count
    print(f"py-spy, reader process, {total} samples under autocannon -c 10 (full chapter):")
    print("  top frames by own time:")
    for frame, count in own.most_common(15):
        print(f"    {100 * count / total:5.1f}%  {frame}")
    print("  top frames by inclusive time:")
    for frame, count in inclusive.most_common(25):
        print(f"    {100 * count / total:5.1f}%  {frame}")


def raw_render(page: int, width: int) -> tuple[bytes, float]:
    """The raw work of a page image: pypdfium2 render + WebP encode (the document already open)."""
    document = pdfium.PdfDocument(str(PDF))
    try:
        started = time.perf_counter()
        pdf_page = document[page - 1]
        bitmap = pdf_page.render(scale=width / pdf_page.get_size()[0])
        buffer = io.BytesIO()
        bitmap.to_pil().save(buffer, format="WEBP", quality=82)
        return buffer.getvalue(), (time.perf_counter() - started) * 1000
    finally:
        document.close()


def pdf_pages(reader: str, token: str, repetition: int) -> tuple[float, float, float, float]:
    """p50 of cold (odd pages, first request), rendered-ahead (the even page after it), warm (every page again)
    and raw render + encode of the same odd pages in this process; each repetition at its own width."""
    width = PAGE_WIDTH + 100 * repetition  # a width never asked before: cold for this run
    cold, ahead, warm, raw = [], [], [], []
    with httpx.Client(timeout=60) as http:

        def get(page: int) -> float:
            started = time.perf_counter()
            http.get(f"{reader}/v1/read/{token}/~sachso/pages/{page}", params={"width": width}).raise_for_status()
            return (time.perf_counter() - started) * 1000

        for page in range(1, 41, 2):
            cold.append(get(page))
            ahead.append(get(page + 1))
            raw.append(raw_render(page, width)[1])
        warm = [get(page) for page in range(1, 41)]
    return statistics.median(cold), statistics.median(ahead), statistics.median(warm), statistics.median(raw)


def run(platform: Platform, *, with_profile: bool) -> None:
    keys = platform.state_dir / "keys"
    accounts = TokenIssuer.from_files("sachso-lending", [str(next((keys / "lending").glob("*.pem")))])
    drm = TokenIssuer.from_files("sachso-drm", [str(next((keys / "drm").glob("*.pem")))])
    publisher = accounts.issue("bench", audience="sachso", roles=[Role.PUBLISHER], publisher_id="bench")
    reader = platform.endpoints()["reader"].http_url

    async def prepare() -> tuple[dict[str, str], list[float]]:
        async with httpx.AsyncClient(timeout=600) as http:  # EPUBCheck on a busy machine takes its time
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
    print(f"reader vs Readium r2-streamer-js vs a bare ASGI app (same machine, same run, autocannon {DURATION} s, "
          f"median of {REPETITIONS} with the spread):")  # fmt: skip
    with readium_streamer(BOOKS) as streamer:
        cold_theirs = []
        for book in BOOKS:
            started = time.perf_counter()
            httpx.get(f"{streamer.root(book)}/manifest.json", timeout=60).raise_for_status()
            cold_theirs.append((time.perf_counter() - started) * 1000)
        manifest = httpx.get(f"{streamer.root(CORPUS / 'epub' / HOT)}/manifest.json").json()
        hot_root = streamer.root(CORPUS / "epub" / HOT)
        link = manifest["readingOrder"][10]
        relative = link["href"].removeprefix(hot_root + "/")
        theirs_url = f"{hot_root}/{relative}"
        ours_url = f"{reader}/v1/read/{token}/{relative}"
        chapter = httpx.get(ours_url, headers={"Accept-Encoding": "identity"})
        chapter.raise_for_status()
        if with_profile:
            profile(int((platform.state_dir / "reader.pid").read_text()), ours_url)
        bare = BareApp(chapter.content, chapter.headers["content-type"])
        try:
            for connections in (10, 100):
                for label, headers in (("full", {"Accept-Encoding": "identity"}), ("range", {"Range": "bytes=0-4095"})):
                    samples: dict[str, list[float]] = {"ours": [], "r2": [], "bare": []}
                    for _ in range(REPETITIONS):  # interleaved, so that a busy moment of the machine hits all three
                        samples["ours"].append(autocannon(ours_url, connections, headers))
                        samples["r2"].append(autocannon(theirs_url, connections, headers))
                        samples["bare"].append(autocannon(bare.url, connections, headers))
                    record(
                        BENCH, f"resource GETs, {label}, {connections} connections ({len(chapter.content):,} B)", "/s",
                        Figure.of(samples["ours"]), peer=Figure.of(samples["r2"]), peer_name="r2-streamer-js",
                        limit=Figure.of(samples["bare"]), limit_name="bare ASGI app", goal="≥5× r2, ≥80% of bare",
                    )  # fmt: skip
        finally:
            bare.stop()
    record(
        BENCH, "manifest of a cold book, time to first byte (p50 over the corpus)", "ms", Figure.of(cold_ours),
        peer=Figure.of(cold_theirs), peer_name="r2-streamer-js", lower_is_better=True,
    )  # fmt: skip
    durations = []
    for _ in range(REPETITIONS):
        started = time.perf_counter()
        for book in BOOKS:
            describe(book, Limits())
        durations.append(time.perf_counter() - started)
    record(BENCH, f"manifests of the whole EPUB corpus ({len(BOOKS)} books)", "s", Figure.of(durations),
           lower_is_better=True)  # fmt: skip

    pdf_token = drm.issue("p", audience="sachso-streaming", ttl_seconds=3600, pub=ids[PDF.name], loan="l")
    runs = [pdf_pages(reader, pdf_token, repetition) for repetition in range(REPETITIONS)]
    raw = Figure.of([r[3] for r in runs])
    record(BENCH, f"PDF page {PAGE_WIDTH}+ px, cold (first request), p50", "ms", Figure.of([r[0] for r in runs]),
           limit=raw, limit_name="raw render+WebP", lower_is_better=True, goal="≤1.1× raw")  # fmt: skip
    record(BENCH, "PDF page, the next page (rendered ahead), p50", "ms", Figure.of([r[1] for r in runs]),
           limit=raw, limit_name="raw render+WebP", lower_is_better=True)  # fmt: skip
    record(BENCH, "PDF page, warm (already rendered), p50", "ms", Figure.of([r[2] for r in runs]),
           limit=raw, limit_name="raw render+WebP", lower_is_better=True, goal="<5 ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--profile", action="store_true", help="sample the reader with py-spy and print top frames")
    options = parser.parse_args()
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    with temporary_platform() as platform:
        run(platform, with_profile=options.profile)


if __name__ == "__main__":
    main()
