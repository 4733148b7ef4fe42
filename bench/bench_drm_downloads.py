"""DRM's protected-package downloads against the S3 server they stream from, on the local platform, no mocks.

Starts its own local stack and the four services, puts a ~2 MB EPUB (``haruko-jpeg.epub``, 2.27 MB) where the
reader would have stored it and announces it on Kafka as the reader does (``PublicationIngested``, encoded with
the kit); DRM protects it and stores the package in its bucket. Then, with one httpx client and ``--concurrency``
downloads in flight (10), for ``--seconds`` each, alternately:

- ours: ``GET /v1/publications/{id}/protected`` on DRM's HTTP API (a StreamingResponse of the S3 object);
- the peer: the same object straight from the S3 server (SeaweedFS), a GET of a presigned URL, same client.

Each download is read to its end; MB/s and requests/s per run, median of 3 with the spread, and the ratio ours /
S3. Also the CPU the DRM process used per MB served (``/proc/<pid>/stat``) and the bench's own CPU per run (the
client shares the 2 cores: near 100 % of a core, it is the limit of both). The memory of all four services at idle
and after the downloads, and the figures, are the last lines.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.corpus
sys.path.insert(0, str(ROOT / "deploy" / "local"))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
from _common import Figure, ServiceMemory, cpu_seconds, record, send_events  # noqa: E402
from aiobotocore.config import AioConfig  # noqa: E402
from aiobotocore.session import get_session  # noqa: E402
from local_platform import SERVICES, Platform, temporary_platform  # noqa: E402

from sachso.events.v1 import reader_events_pb2 as reader  # noqa: E402
from sachso.kit.topics import READER_EVENTS  # noqa: E402
from tests.corpus import CORPUS  # noqa: E402

BOOK = CORPUS / "epub" / "haruko-jpeg.epub"
REPETITIONS = 3
READ_CHUNK = 256 * 1024


async def announce(platform: Platform, s3: Any, publication_id: str) -> None:
    """The book stored as the reader stores an original, and ``PublicationIngested`` on the reader's topic."""
    data = BOOK.read_bytes()
    bucket = f"{platform.namespace}-bench-originals".lower()
    await s3.create_bucket(Bucket=bucket)
    key = f"{publication_id}/original.epub"
    await s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/epub+zip")
    payload = reader.PublicationIngested(
        publication_id=publication_id,
        metadata=reader.PublicationMetadata(title="Haruko"),
        original=reader.StoredFile(
            bucket=bucket,
            key=key,
            media_type="application/epub+zip",
            length=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        ),
    )
    await send_events(
        platform.stack_env["SACHSO_KAFKA_BOOTSTRAP_SERVERS"],
        f"{platform.namespace}.{READER_EVENTS.name}",
        "/sachso/reader",
        [(publication_id, payload)],
    )


async def protected_package(http: httpx.AsyncClient, url: str, within: float = 120.0) -> bytes:
    """Wait until DRM serves the protected package; return it."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        response = await http.get(url)
        if response.status_code == 200:
            return response.content
        await asyncio.sleep(0.2)
    raise RuntimeError(f"DRM did not protect the book within {within:.0f} s")


async def downloads(
    http: httpx.AsyncClient, url: str, concurrency: int, seconds: float, drm_pid: int
) -> tuple[float, float, float, float]:
    """``concurrency`` loops each downloading ``url`` to its end for ``seconds``; (MB/s, requests/s, DRM's CPU
    ms per MB, the bench's own CPU in % of a core)."""
    received, done = [0], [0]
    deadline = time.perf_counter() + seconds

    async def loop() -> None:
        while time.perf_counter() < deadline:
            async with http.stream("GET", url) as response:
                if response.status_code != 200:
                    raise RuntimeError(f"GET {url}: {response.status_code}")
                async for chunk in response.aiter_raw(READ_CHUNK):
                    received[0] += len(chunk)
            done[0] += 1

    started, drm_cpu, own_cpu = time.perf_counter(), cpu_seconds(drm_pid), time.process_time()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    megabytes = received[0] / 1e6
    drm_ms_per_mb = 1000 * (cpu_seconds(drm_pid) - drm_cpu) / megabytes
    return megabytes / elapsed, done[0] / elapsed, drm_ms_per_mb, 100 * (time.process_time() - own_cpu) / elapsed


async def run(platform: Platform, concurrency: int, seconds: float) -> None:
    env = platform.stack_env
    memory = ServiceMemory({name: pid for name in SERVICES if (pid := platform.pid(name)) is not None})
    memory.snapshot("idle")
    publication_id = f"bench-{uuid.uuid4().hex[:8]}"
    drm_bucket = f"{platform.namespace}-drm".replace("_", "-").lower()  # as the platform names DRM's bucket
    session = get_session()
    async with session.create_client(
        "s3",
        endpoint_url=env["SACHSO_S3_ENDPOINT_URL"],
        region_name=env.get("SACHSO_S3_REGION", "us-east-1"),
        aws_access_key_id=env["SACHSO_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=env["SACHSO_S3_SECRET_ACCESS_KEY"],
        config=AioConfig(s3={"addressing_style": "path"}),
    ) as s3:
        await announce(platform, s3, publication_id)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            ours_url = f"{platform.endpoints()['drm'].http_url}/v1/publications/{publication_id}/protected"
            package = await protected_package(http, ours_url)
            listed = await s3.list_objects_v2(Bucket=drm_bucket, Prefix=f"{publication_id}/")
            (stored,) = listed["Contents"]
            s3_url = await s3.generate_presigned_url(
                "get_object", Params={"Bucket": drm_bucket, "Key": stored["Key"]}, ExpiresIn=3600
            )
            raw = await http.get(s3_url)
            if raw.content != package:
                raise RuntimeError("DRM's package and the S3 object differ")
            print(
                f"protected package {len(package):,} bytes (from {BOOK.stat().st_size:,}); {concurrency} downloads "
                f"in flight, {seconds:.0f} s per run, alternating (load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
            Run = tuple[float, float, float, float]
            ours: list[Run] = []
            peer: list[Run] = []
            drm_pid = memory.pids["drm"]
            runs: list[tuple[list[Run], str, Callable[[], Awaitable[Run]]]] = [
                (ours, "DRM", lambda: downloads(http, ours_url, concurrency, seconds, drm_pid)),
                (peer, "S3 ", lambda: downloads(http, s3_url, concurrency, seconds, drm_pid)),
            ]
            for repetition in range(REPETITIONS):
                for results, name, measure in runs if repetition % 2 == 0 else runs[::-1]:
                    results.append(await measure())
                    print(
                        f"  {name} run {repetition + 1}: {results[-1][0]:.1f} MB/s, {results[-1][1]:.1f} requests/s; "
                        f"DRM CPU {results[-1][2]:.1f} ms per MB; bench CPU {results[-1][3]:.0f} % of a core "
                        f"(load {os.getloadavg()[0]:.1f})",
                        flush=True,
                    )
    load = os.getloadavg()[0]
    memory.snapshot("after downloads")
    print(memory.report())
    print(f"DRM protected-package downloads, {len(package) / 1e6:.2f} MB, {concurrency} in flight (load {load:.1f}):")
    for index, (unit, name) in enumerate((("MB/s", "throughput"), ("requests/s", "requests"))):
        record(
            "drm downloads",
            f"protected package {name}, {concurrency} in flight (load {load:.1f})",
            unit,
            Figure.of([result[index] for result in ours]),
            peer=Figure.of([result[index] for result in peer]),
            peer_name="same object straight from SeaweedFS S3",
        )
    print(
        f"  DRM's CPU per MB served: {Figure.of([result[2] for result in ours])} ms; the bench's own CPU "
        f"(httpx client): {Figure.of([result[3] for result in ours])} % of a core against DRM, "
        f"{Figure.of([result[3] for result in peer])} % against S3"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=10, help="downloads in flight")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per run")
    args = parser.parse_args()
    with temporary_platform() as platform:
        asyncio.run(run(platform, args.concurrency, args.seconds))


if __name__ == "__main__":
    main()
