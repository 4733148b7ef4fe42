"""Downloading a loan for offline reading: time and bytes, as the web app does it (web/src/offline/download.ts).

Starts its own local stack and the platform, ingests Moby-Dick (EPUB, 1,345 positions) and "An Introduction to R"
(PDF, 113 pages) through the ingest API, issues streaming tokens as DRM does, then does what the app does:
- EPUB: the manifest, the positions list (GET: it answers nothing else) and a HEAD of the first byte of every
  resource the manifest lists (the size shown before the download starts), then a GET of each (four at a time);
- PDF: the manifest, three pages spread through the book at the device's width (the size estimate: their mean ×
  pages), then every other page image at that width and every text layer (four at a time). 1,200 px: a
  390-px-wide phone at device pixel ratio 3.
Figures: seconds to size and to download, bytes stored; the EPUB median of 3 with the spread; the PDF first
(cold: every page rendered on demand) and then warm (median of 3; pages already rendered). No peer: Libby and
Palace download whole files through their own apps, not a web app's storage.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterable

import httpx
from _common import REPETITIONS, Figure, record  # first: puts the repository root on the path
from local_platform import Platform, temporary_platform

from sachso.kit.auth import Role, TokenIssuer
from tests.corpus import CORPUS

EPUB = CORPUS / "epub" / "moby-dick.epub"
PDF = CORPUS / "pdf" / "R-intro.pdf"
WIDTH = 1200
CONCURRENCY = 4  # as the app's download pool
BENCH = "offline"


async def pool(items: Iterable[str], work: Callable[[str], Awaitable[int]]) -> int:
    """Runs ``work`` on every item, CONCURRENCY at a time; the sum of what it answered (bytes)."""
    queue = list(items)
    total = 0

    async def worker() -> None:
        nonlocal total
        while queue:
            done = await work(queue.pop())  # not ``total += await …``: that reads total before the await
            total += done

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return total


async def download_epub(http: httpx.AsyncClient, base: str) -> tuple[float, float, int, int]:
    """(seconds to size, seconds to download, bytes announced, bytes stored) for one EPUB download."""
    started = time.perf_counter()
    manifest = (await http.get(f"{base}manifest.json")).json()
    # The positions list answers GET only (it is computed): fetched while sizing and kept, as the app does.
    positions = await http.get(f"{base}~readium/positions")
    positions.raise_for_status()
    paths = ["manifest.json"]
    for link in [*manifest["readingOrder"], *manifest.get("resources", [])]:
        if (href := link["href"].split("#")[0]) not in paths:
            paths.append(href)

    async def size(path: str) -> int:
        # As the app: a HEAD of the first byte, whose Content-Range names the whole (decoded) length.
        answer = await http.head(f"{base}{path}", headers={"Range": "bytes=0-0"})
        if answer.status_code == 416:
            return 0
        answer.raise_for_status()
        whole = answer.headers.get("content-range", "").rpartition("/")[2]
        return int(whole) if whole.isdigit() else int(answer.headers.get("content-length", 0))

    announced = len(positions.content) + await pool(paths, size)
    sized = time.perf_counter()

    async def get(path: str) -> int:
        answer = await http.get(f"{base}{path}")
        answer.raise_for_status()
        return len(answer.content)

    stored = len(positions.content) + await pool(paths, get)
    return sized - started, time.perf_counter() - sized, announced, stored


async def download_pdf(http: httpx.AsyncClient, base: str) -> tuple[float, float, int, int, int]:
    """(seconds to size, seconds to download, bytes estimated, bytes stored, pages) for one PDF download."""
    started = time.perf_counter()
    manifest = (await http.get(f"{base}manifest.json")).json()
    pages = int(manifest["metadata"]["numberOfPages"])
    samples = sorted({1, -(-pages // 3), -(-2 * pages // 3)})  # as the app: three pages spread through the book
    sampled = 0
    for page in samples:
        answer = await http.get(f"{base}~sachso/pages/{page}", params={"width": WIDTH})
        answer.raise_for_status()
        sampled += len(answer.content)
    estimated = round(sampled / len(samples)) * pages
    sized = time.perf_counter()

    async def get(path: str) -> int:
        answer = await http.get(f"{base}{path}", params={"width": WIDTH} if not path.endswith("/text") else None)
        answer.raise_for_status()
        return len(answer.content)

    paths = [f"~sachso/pages/{page}" for page in range(1, pages + 1) if page not in samples]
    paths += [f"~sachso/pages/{page}/text" for page in range(1, pages + 1)]
    stored = sampled + len(json.dumps(manifest)) + await pool(paths, get)
    return sized - started, time.perf_counter() - sized, estimated, stored, pages


def run(platform: Platform) -> None:
    keys = platform.state_dir / "keys"
    accounts = TokenIssuer.from_files("sachso-lending", [str(next((keys / "lending").glob("*.pem")))])
    drm = TokenIssuer.from_files("sachso-drm", [str(next((keys / "drm").glob("*.pem")))])
    publisher = accounts.issue("bench", audience="sachso", roles=[Role.PUBLISHER], publisher_id="bench")
    reader = platform.endpoints()["reader"].http_url

    async def measure() -> None:
        async with httpx.AsyncClient(timeout=600) as http:  # EPUBCheck on a busy machine takes its time
            ids = {}
            for path in (EPUB, PDF):
                for _ in range(5):  # a busy reader answers 503 with Retry-After (EPUBCheck, the database)
                    answer = await http.post(
                        f"{reader}/v1/publications",
                        files={"file": (path.name, path.read_bytes(), "application/octet-stream")},
                        data={"metadata": json.dumps({"title": path.stem})},
                        headers={"Authorization": f"Bearer {publisher}"},
                    )
                    if answer.status_code not in (502, 503, 504):
                        break
                    await asyncio.sleep(float(answer.headers.get("Retry-After", "5")))
                answer.raise_for_status()
                ids[path.name] = answer.json()["id"]

            def base(name: str) -> str:
                token = drm.issue("p", audience="sachso-streaming", ttl_seconds=300, pub=ids[name], loan="l")
                return f"{reader}/v1/read/{token}/"

            positions = len((await http.get(f"{base(EPUB.name)}~readium/positions")).json()["positions"])
            epub = [await download_epub(http, base(EPUB.name)) for _ in range(REPETITIONS)]
            print(f"EPUB {EPUB.name}: {positions} positions, {epub[0][2]:,} B announced, {epub[0][3]:,} B stored")
            record(BENCH, f"EPUB for offline reading ({positions} positions): size it (HEAD of every resource)", "s",
                   Figure.of([run[0] for run in epub]), lower_is_better=True)  # fmt: skip
            record(BENCH, "same, download every resource", "s", Figure.of([run[1] for run in epub]),
                   lower_is_better=True)  # fmt: skip
            record(BENCH, "same, bytes stored", "MB", Figure.of([run[3] / 1e6 for run in epub]), lower_is_better=True)
            record(BENCH, "same, bytes announced before (HEAD of each first byte: Content-Range)", "MB",
                   Figure.of([run[2] / 1e6 for run in epub]), lower_is_better=True)  # fmt: skip

            cold = await download_pdf(http, base(PDF.name))
            warm = [await download_pdf(http, base(PDF.name)) for _ in range(REPETITIONS)]
            print(f"PDF {PDF.name}: {cold[4]} pages at {WIDTH} px, {cold[2]:,} B estimated, {cold[3]:,} B stored")
            record(BENCH, f"PDF for offline reading ({cold[4]} pages at {WIDTH} px), cold: download", "s",
                   Figure.of([cold[1]]), lower_is_better=True)  # fmt: skip
            record(BENCH, "same, warm (pages already rendered): download", "s", Figure.of([run[1] for run in warm]),
                   lower_is_better=True)  # fmt: skip
            record(BENCH, "same, bytes stored", "MB", Figure.of([run[3] / 1e6 for run in warm]), lower_is_better=True)
            record(BENCH, "same, bytes estimated before (3 sampled pages' mean × pages)", "MB",
                   Figure.of([run[2] / 1e6 for run in warm]), lower_is_better=True)  # fmt: skip

    asyncio.run(measure())


def main() -> None:
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    with temporary_platform("offline") as platform:
        run(platform)


if __name__ == "__main__":
    main()
