"""The reader service side by side with Readium's r2-streamer-js and with the machine's limit, in one run.

Starts its own local stack and the platform, ingests corpus books through the ingest API, starts
r2-streamer-js on the same files and a bare ASGI app on the same uvicorn returning the same chapter from memory
(the limit: what any Python service could do here), then measures with autocannon (npm, tools/readium):
- thread CPU per resource GET, full and ranged, in process (no HTTP server): ours against the bare app;
- resource GETs per second, full and ranged (bytes=0-4095), at 10 and 100 connections, on a chapter of
  Moby-Dick — ours through a streaming token, theirs through their URL — median of 3 runs with the spread, and
  the ratios ours/theirs and ours/bare; and ours against the bare app sending our answer's headers too;
- time to first byte of the manifest of a cold book (first request after ingest / first request to the peer);
- manifest generation for the whole EPUB corpus (ours: check + parse + manifest of every book);
- PDF pages at 1,200 px through HTTP: cold (first request of a page), the next page (rendered ahead while the
  first was read) and warm (asked again), against raw pypdfium2 render + WebP encode of the same pages here.
``--profile`` also samples the reader process with py-spy during a 10-connection run and prints its top frames;
``--cprofile`` prints cProfile's top functions (thread CPU) of in-process full and ranged GETs;
``--resources-only`` measures the resource GET figures alone (one book ingested), in about a third of the time.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import gc
import io
import json
import os
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pypdfium2 as pdfium
import uvicorn
import uvloop
from _bare_asgi import app_for
from _common import REPETITIONS, ROOT, Figure, record  # first: puts the repository root on the path
from local_platform import Platform, read_env_file, temporary_platform
from stack import free_port
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from reader.bootstrap import build
from reader.domain.packaging import Limits
from reader.service_layer.ingest import describe
from reader.settings import ReaderSettings
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


async def ingest_all(http: httpx.AsyncClient, base: str, publisher: str, paths: list[Path]) -> dict[str, str]:
    ids = {}
    for path in paths:
        files = {"file": (path.name, path.read_bytes(), "application/octet-stream")}
        metadata = json.dumps({"title": path.stem})
        answer = await http.post(f"{base}/v1/publications", files=files, data={"metadata": metadata},
                                 headers={"Authorization": f"Bearer {publisher}"})  # fmt: skip
        answer.raise_for_status()
        ids[path.name] = answer.json()["id"]
    return ids


class BareApp:
    """The limit: :mod:`_bare_asgi` on a free port, serving ``body`` (with ``headers`` too, when given)."""

    def __init__(self, body: bytes, media_type: str, headers: list[tuple[str, str]] | None = None) -> None:
        self.file = tempfile.NamedTemporaryFile(suffix=".bin")  # noqa: SIM115 (closed in stop)
        self.file.write(body)
        self.file.flush()
        self.port = free_port()
        script = Path(__file__).with_name("_bare_asgi.py")
        extra = [json.dumps(headers)] if headers else []
        self.process = subprocess.Popen(
            [sys.executable, str(script), str(self.port), self.file.name, media_type, *extra]
        )
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


REQUEST_KINDS = {"full": {"Accept-Encoding": "identity"}, "range": {"Range": "bytes=0-4095"}}
# what the bare app with our headers leaves out: it writes its own length, range and type
OWN_HEADERS = {b"content-length", b"content-range", b"content-type"}


class _NullTransport(asyncio.Transport):
    """A connection that takes every byte at once: uvicorn's protocol measured without sockets or a client."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 80), "peername": ("127.0.0.1", 5000)}.get(name, default)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:  # a request that waited (a revocation read): the next one is queued
        pass

    def resume_reading(self) -> None:
        pass


async def through_uvicorn(app: Any, request: bytes, count: int) -> float:
    """Thread CPU µs per request of ``app`` behind uvicorn's own HTTP protocol (httptools), as the services run
    it, with the request's bytes fed in process: parsing, the ASGI cycle and the answer's serialisation, no I/O."""
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    config.load()
    protocol = HttpToolsProtocol(config, ServerState(), {})
    protocol.connection_made(_NullTransport())
    for _ in range(100):  # warm
        protocol.data_received(request)
        await asyncio.sleep(0)
    started = time.thread_time()
    for _ in range(count):
        protocol.data_received(request)
        await asyncio.sleep(0)  # the request's task runs
    while protocol.tasks:  # a request queued behind one that waited starts when that one ends
        await asyncio.wait(set(protocol.tasks))
        await asyncio.sleep(0)
    took = (time.thread_time() - started) / count * 1e6
    protocol.connection_lost(None)
    return took


async def cpu_per_request(
    platform: Platform, path: str, body: bytes, media_type: str, *, with_cprofile: bool = False
) -> dict[str, dict[str, list[float]]]:
    """Thread CPU time per resource GET answered in process, µs, for each of :data:`REQUEST_KINDS` (full, ranged),
    ``REPETITIONS`` rounds of 5,000 each: the reader as its bootstrap builds it (on the platform's own servers and
    settings) against the bare app, with no HTTP server in between (``ours``, ``bare``) — what our own work per
    request costs, a figure the machine's load barely moves — and the same behind uvicorn's HTTP protocol in
    process (``ours_uvicorn``, ``bare_uvicorn``, and ``same_uvicorn``: the bare app sending our headers too).
    ``with_cprofile`` prints cProfile's top functions for ours per kind."""
    with tempfile.TemporaryDirectory() as cache:
        environment = {**read_env_file(platform.env_file("reader")), "READER_CACHE_DIR": cache}
        with mock.patch.dict(os.environ, environment):
            settings = ReaderSettings()
        async with build(settings) as process:
            ours = process.asgi_app
            assert ours is not None
            gc.freeze()  # as the service's runtime does after start-up: collections walk only what requests make
            bare = app_for(body, media_type)
            figures = {}
            for kind, extra in REQUEST_KINDS.items():
                headers = [(b"host", b"127.0.0.1"), (b"user-agent", b"bench")]
                headers += [(name.lower().encode(), value.encode()) for name, value in extra.items()]
                scope = {
                    "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                    "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                    "headers": headers, "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000),
                }  # fmt: skip
                statuses: set[int] = set()

                async def receive() -> dict[str, object]:
                    return {"type": "http.request", "body": b"", "more_body": False}

                answered: list[tuple[bytes, bytes]] = []

                async def send(
                    message: MutableMapping[str, Any], statuses: set[int] = statuses, answered: Any = answered
                ) -> None:
                    if message["type"] == "http.response.start":
                        statuses.add(int(message["status"]))
                        answered[:] = message["headers"]

                samples: dict[str, list[float]] = {"ours": [], "bare": []}
                for app in (ours, bare):  # warm: token verified, chapter read, headers built
                    for _ in range(100):
                        await app(dict(scope), receive, send)
                for _ in range(REPETITIONS):
                    for name, app in (("ours", ours), ("bare", bare)):
                        started = time.thread_time()
                        for _ in range(5_000):
                            await app(dict(scope), receive, send)
                        samples[name].append((time.thread_time() - started) / 5_000 * 1e6)
                expected = {"full": {200}, "range": {206}}[kind]
                if statuses != expected:
                    raise RuntimeError(f"in-process {kind} GETs answered {sorted(statuses)}")
                if with_cprofile:
                    profiler = cProfile.Profile(time.thread_time)  # CPU, not wall time: the machine is shared
                    profiler.enable()
                    for _ in range(5_000):
                        await ours(dict(scope), receive, send)
                    profiler.disable()
                    print(f"cProfile, 5,000 {kind} GETs in process (ours):")
                    pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
                await ours(dict(scope), receive, send)
                same = app_for(body, media_type, [header for header in answered if header[0] not in OWN_HEADERS])
                request = b"".join(
                    [f"GET {path} HTTP/1.1\r\n".encode(), *(b"%s: %s\r\n" % header for header in headers), b"\r\n"]
                )
                for name, app in (("ours", ours), ("bare", bare), ("same", same)):
                    samples[f"{name}_uvicorn"] = [
                        await through_uvicorn(app, request, 5_000) for _ in range(REPETITIONS)
                    ]
                figures[kind] = samples
            return figures


def run(platform: Platform, *, with_profile: bool, with_cprofile: bool, resources_only: bool) -> None:
    keys = platform.state_dir / "keys"
    accounts = TokenIssuer.from_files("sachso-lending", [str(next((keys / "lending").glob("*.pem")))])
    drm = TokenIssuer.from_files("sachso-drm", [str(next((keys / "drm").glob("*.pem")))])
    publisher = accounts.issue("bench", audience="sachso", roles=[Role.PUBLISHER], publisher_id="bench")
    reader = platform.endpoints()["reader"].http_url

    books = [CORPUS / "epub" / HOT] if resources_only else BOOKS

    async def prepare() -> tuple[dict[str, str], list[float]]:
        async with httpx.AsyncClient(timeout=600) as http:  # EPUBCheck on a busy machine takes its time
            ids = await ingest_all(http, reader, publisher, books if resources_only else [*BOOKS, PDF])
            cold: list[float] = []
            for name in [book.name for book in books]:
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
    with readium_streamer(books) as streamer:
        cold_theirs = []
        for book in books:
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
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # the services' loop, and uvicorn's
            in_process = runner.run(
                cpu_per_request(
                    platform, f"/v1/read/{token}/{relative}", chapter.content, chapter.headers["content-type"],
                    with_cprofile=with_cprofile,
                )
            )  # fmt: skip
        for kind, cpu in in_process.items():
            record(
                BENCH, f"resource GET, {kind}, in process (no HTTP server), thread CPU per request", "µs",
                Figure.of(cpu["ours"]), limit=Figure.of(cpu["bare"]), limit_name="bare ASGI app", lower_is_better=True,
            )  # fmt: skip
            record(
                BENCH, f"resource GET, {kind}, through uvicorn's HTTP protocol in process, thread CPU per request",
                "µs", Figure.of(cpu["ours_uvicorn"]), peer=Figure.of(cpu["same_uvicorn"]),
                peer_name="bare ASGI app with our headers", limit=Figure.of(cpu["bare_uvicorn"]),
                limit_name="bare ASGI app", lower_is_better=True,
            )  # fmt: skip
        bare = BareApp(chapter.content, chapter.headers["content-type"])
        # the same app sending our answer's own headers (the security headers, validators, cache policy): what
        # uvicorn's per-header work costs any service that must send them
        ours_only = {"etag", "accept-ranges", "cache-control", "last-modified", "vary", "content-security-policy",
                     "x-content-type-options", "referrer-policy"}  # fmt: skip
        same_headers = BareApp(
            chapter.content,
            chapter.headers["content-type"],
            [(name, value) for name, value in chapter.headers.items() if name in ours_only],
        )
        try:
            for connections in (10, 100):
                for label, headers in REQUEST_KINDS.items():
                    samples: dict[str, list[float]] = {"ours": [], "r2": [], "bare": [], "same": []}
                    for _ in range(REPETITIONS):  # interleaved, so that a busy moment of the machine hits all four
                        samples["ours"].append(autocannon(ours_url, connections, headers))
                        samples["r2"].append(autocannon(theirs_url, connections, headers))
                        samples["bare"].append(autocannon(bare.url, connections, headers))
                        samples["same"].append(autocannon(same_headers.url, connections, headers))
                    figure = f"resource GETs, {label}, {connections} connections ({len(chapter.content):,} B)"
                    record(
                        BENCH, figure, "/s",
                        Figure.of(samples["ours"]), peer=Figure.of(samples["r2"]), peer_name="r2-streamer-js",
                        limit=Figure.of(samples["bare"]), limit_name="bare ASGI app", goal="≥5× r2, ≥80% of bare",
                    )  # fmt: skip
                    record(
                        BENCH, f"{figure}, against the bare app sending our headers", "/s", Figure.of(samples["ours"]),
                        limit=Figure.of(samples["same"]), limit_name="bare ASGI app with our headers",
                    )  # fmt: skip
        finally:
            bare.stop()
            same_headers.stop()
    if resources_only:
        return
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
    parser.add_argument(
        "--cprofile", action="store_true", help="print cProfile's top functions of in-process full and ranged GETs"
    )
    parser.add_argument(
        "--resources-only", action="store_true",
        help="only the resource GET figures (one book ingested; no manifest or PDF figures): about 2 minutes",
    )  # fmt: skip
    options = parser.parse_args()
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    with temporary_platform() as platform:
        run(platform, with_profile=options.profile, with_cprofile=options.cprofile,
            resources_only=options.resources_only)  # fmt: skip


if __name__ == "__main__":
    main()
