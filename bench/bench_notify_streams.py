"""Notify's live inbox streams per process (the capacity plan's A13), on the local platform, no mocks.

Starts its own local stack and the four services, then opens ``--streams`` levels (500, 1,000, 2,000 by default)
of concurrent ``GET /v1/inbox/stream`` connections against the one notify process, each for a distinct patron with a
token signed by lending's key (as a patron's app holds), and measures at each level:

- notify's resident memory per open stream: VmRSS from ``/proc/<pid>/status`` less its reading before the first
  stream (after a warm-up of a few streams opened and closed), divided by the streams open; median of 3 readings;
- notify's CPU while the streams are open and idle, from ``/proc/<pid>/stat`` over 10 s (3 windows, the median);
  the same before any stream is open is its idle floor (consumer polls, sender, reminders);

then, with the most streams open, the time for a message to reach every stream:

- fan-out: one inbox message per patron written straight into notify's inbox collection with one
  ``insert_many`` (what notify's consumer writes), then the change stream -> feed -> each patron's stream; the clock
  starts before the insert and stops when a stream has read its ``message`` event: p50/p99/last over the streams,
  3 rounds, median of each;
- end to end: a burst of one ``HoldReady`` per patron on Kafka (as lending's relay would put them, encoded with the
  kit as ``bench_notify.py`` does); notify's consumer writes each patron's inbox message (and queues her email);
  the clock starts before the first event is sent. One burst (``--bursts``): it also queues as many emails. Here
  the consumer's rate (the stand-in database's), not the streams, sets the time.

A round waits ``--within`` seconds (60) at most; a stream not reached by then counts as ``inf`` in the percentiles.

The figure for the capacity plan is streams per process within a memory limit (``--budget-mib``, 512): (limit -
RSS before any stream) / memory per stream. No peer runs here. The memory of all four services, at idle and after
the load, and the figures are the last lines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import resource
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy" / "local"))
sys.path.insert(0, str(ROOT / "bench"))

from _common import Figure, ServiceMemory, cpu_seconds, memory_kib, record, send_events  # noqa: E402
from bench_notify import hold_ready_events, percentile  # noqa: E402
from local_platform import SERVICES, Platform, temporary_platform  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402

from notify.adapters.inbox_repository import inbox_document  # noqa: E402
from notify.domain.inbox import InboxMessage  # noqa: E402
from notify.domain.notices import Language, NoticeKind  # noqa: E402
from sachso.kit.auth import Role, TokenIssuer  # noqa: E402
from sachso.kit.topics import LENDING_EVENTS  # noqa: E402

Document = dict[str, Any]
REPETITIONS = 3
Round = tuple[list[float], float, int]  # each stream's latency (ms), seconds to set the round off, streams reached
OPENING_AT_ONCE = 100  # connections being set up at a time; the rest wait (uvicorn's backlog is 2,048)


@dataclass
class InboxStream:
    """One patron's open ``/v1/inbox/stream``, read line by line; the times its ``message`` events arrived."""

    patron: str
    arrivals: list[float] = field(default_factory=list)
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    task: asyncio.Task[None] | None = None

    async def open(self, port: int, token: str) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer.write(
            f"GET /v1/inbox/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        status = await self.reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"stream for {self.patron}: {status!r}")
        # The first event is the ``connected`` comment, sent once the feed holds her queue.
        while not (await self.reader.readline()).startswith(b":"):
            pass
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.reader is not None
        while line := await self.reader.readline():
            if line.startswith(b"event: message"):
                self.arrivals.append(time.perf_counter())

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()


async def open_streams(patrons: list[str], port: int, issuer: TokenIssuer) -> tuple[list[InboxStream], float]:
    """Open one stream per patron, ``OPENING_AT_ONCE`` at a time; return them and the seconds it took."""
    tokens = {patron: issuer.issue(patron, audience="sachso", roles=[Role.PATRON]) for patron in patrons}
    streams = [InboxStream(patron) for patron in patrons]
    gate = asyncio.Semaphore(OPENING_AT_ONCE)

    async def one(stream: InboxStream) -> None:
        async with gate:
            await stream.open(port, tokens[stream.patron])

    started = time.perf_counter()
    await asyncio.gather(*(one(stream) for stream in streams))
    return streams, time.perf_counter() - started


def resident_kib(pid: int, readings: int = REPETITIONS) -> float:
    """The median of a few VmRSS readings a second apart (the allocator settles after a burst of work)."""
    values = []
    for _ in range(readings):
        time.sleep(1)
        values.append(memory_kib(pid)[0])
    return statistics.median(values)


async def idle_cpu_percent(pid: int, seconds: float = 10.0) -> list[float]:
    """The process's CPU (% of one core) in 3 windows filling ``seconds``."""
    shares = []
    for _ in range(REPETITIONS):
        used, started = cpu_seconds(pid), time.perf_counter()
        await asyncio.sleep(seconds / REPETITIONS)
        shares.append(100 * (cpu_seconds(pid) - used) / (time.perf_counter() - started))
    return shares


async def until_all_arrived(streams: list[InboxStream], count: int, within: float) -> int:
    """Wait until every stream has read ``count`` messages (or ``within`` s); return how many have."""
    deadline = time.perf_counter() + within
    while time.perf_counter() < deadline:
        if all(len(stream.arrivals) >= count for stream in streams):
            break
        await asyncio.sleep(0.02)
    return sum(len(stream.arrivals) >= count for stream in streams)


def latencies_ms(streams: list[InboxStream], index: int, started: float) -> list[float]:
    """Each stream's time to its ``index``-th message; infinite (shown ``inf``) where it did not come in time, so the
    percentiles are over every stream, not only those reached."""
    return [1000 * (s.arrivals[index] - started) if len(s.arrivals) > index else math.inf for s in streams]


async def fan_out_round(notify_db: Any, streams: list[InboxStream], round_number: int, within: float) -> Round:
    """One inbox message per patron by one ``insert_many``; (latencies ms, insert seconds, streams reached)."""
    now = datetime.now(UTC)
    documents = [
        inbox_document(
            InboxMessage(
                id=f"bench-{uuid.uuid4().hex}",
                patron_id=stream.patron,
                kind=NoticeKind.HOLD_READY,
                language=Language.VI,
                title="Sách bạn đặt trước đã sẵn sàng",
                body="Mời bạn mượn trong 72 giờ.",
                created_at=now,
            ),
            stored_at=now,
        )
        for stream in streams
    ]
    started = time.perf_counter()
    await notify_db["inbox"].insert_many(documents, ordered=False)
    inserted = time.perf_counter() - started
    reached = await until_all_arrived(streams, round_number + 1, within)
    return latencies_ms(streams, round_number, started), inserted, reached


async def seed_directory(notify_db: Any, patrons: list[str]) -> list[str]:
    """The patrons and 100 titles notify must know to write a hold-ready message (as lending's events would
    have told it); return the titles."""
    batch = uuid.uuid4().hex[:6]
    titles = [f"st{batch}{i:03d}" for i in range(100)]
    await notify_db["titles"].insert_many([{"_id": t, "title": f"Sách {t}", "authors": []} for t in titles])
    await notify_db["patrons"].insert_many(
        [{"_id": p, "display_name": f"Bạn đọc {p}", "email": f"{p}@x.vn", "language": "vi"} for p in patrons]
    )
    return titles


async def hold_ready_burst(
    bootstrap: str, topic: str, streams: list[InboxStream], titles: list[str], round_number: int, within: float
) -> Round:
    """One HoldReady per patron on Kafka at once; (latencies ms, seconds to send, streams reached)."""
    events = hold_ready_events([stream.patron for stream in streams], titles, f"h{uuid.uuid4().hex[:6]}")
    started = await send_events(bootstrap, topic, "/sachso/lending", events)
    sent = time.perf_counter() - started
    reached = await until_all_arrived(streams, round_number + 1, within)
    return latencies_ms(streams, round_number, started), sent, reached


async def rounds(
    what: str, setup: str, count: int, streams: int, measure: Callable[[int], Awaitable[Round]]
) -> tuple[list[list[float]], list[float], list[int]]:
    """Up to ``count`` rounds of ``measure(round)``, each printed as it ends; none after a round that did not reach
    every stream (its late messages would be counted in the next)."""
    latencies_of, setups, reached = [], [], []
    for index in range(count):
        latencies, seconds, count_reached = await measure(index)
        latencies_of.append(latencies)
        setups.append(seconds)
        reached.append(count_reached)
        print(
            round_line(f"{what} {index + 1}", count_reached, streams, f"{setup} {seconds:.1f} s", latencies), flush=True
        )
        if count_reached < streams:
            break
    return latencies_of, setups, reached


def round_line(what: str, reached: int, streams: int, setup: str, latencies: list[float]) -> str:
    return (
        f"  {what}: {reached:,}/{streams:,} streams reached, {setup}, p50 {statistics.median(latencies):.0f} ms, "
        f"p99 {percentile(latencies, 0.99):.0f} ms, last {max(latencies):.0f} ms (load {os.getloadavg()[0]:.1f})"
    )


def latency_line(name: str, rounds: list[list[float]], extra: str) -> str:
    p50s = [statistics.median(r) for r in rounds]
    p99s = [percentile(r, 0.99) for r in rounds]
    lasts = [max(r) for r in rounds]
    return (
        f"  {name}: p50 {Figure.of(p50s)} ms, p99 {Figure.of(p99s)} ms, last stream {Figure.of(lasts)} ms "
        f"(median of {len(p50s)} round(s), spread); {extra}"
    )


async def run(platform: Platform, levels: list[int], budget_mib: float, bursts: int, within: float) -> None:
    env = platform.stack_env
    memory = ServiceMemory({name: pid for name in SERVICES if (pid := platform.pid(name)) is not None})
    memory.snapshot("idle")
    notify_pid = memory.pids["notify"]
    port = platform.endpoints()["notify"].http_port
    issuer = TokenIssuer.from_files(
        "sachso-lending", [str(next((platform.state_dir / "keys" / "lending").glob("*.pem")))]
    )
    mongo: AsyncMongoClient[Document] = AsyncMongoClient(env["SACHSO_MONGO_URI"], retryWrites=False, tz_aware=True)
    notify_db = mongo[f"{platform.namespace}_notify"]
    batch = uuid.uuid4().hex[:6]

    warm, _ = await open_streams([f"warm{batch}{i}" for i in range(20)], port, issuer)  # code paths loaded once
    for stream in warm:
        await stream.close()
    await asyncio.sleep(1)
    baseline = resident_kib(notify_pid)
    floor = await idle_cpu_percent(notify_pid)
    print(
        f"notify before any stream: VmRSS {baseline / 1024:.1f} MiB, idle CPU {Figure.of(floor)} % of a core "
        f"(load {os.getloadavg()[0]:.1f})",
        flush=True,
    )
    streams: list[InboxStream] = []
    per_level: list[tuple[int, float, list[float], float]] = []  # streams, KiB each, CPU, opened/s
    for level in levels:
        more = [f"p{batch}{i:05d}" for i in range(len(streams), level)]
        opened, seconds = await open_streams(more, port, issuer)
        streams += opened
        rss = resident_kib(notify_pid)
        cpu = await idle_cpu_percent(notify_pid)
        per_stream = (rss - baseline) / level
        per_level.append((level, per_stream, cpu, len(more) / seconds))
        print(
            f"  {level:,} streams open ({len(more):,} more in {seconds:.1f} s): VmRSS {rss / 1024:.1f} MiB, "
            f"{per_stream:.1f} KiB per stream; idle CPU {Figure.of(cpu)} % of a core (load {os.getloadavg()[0]:.1f})",
            flush=True,
        )
    memory.snapshot(f"{len(streams):,} streams")

    fan_outs, inserts, reached = await rounds(
        "fan-out", "insert", REPETITIONS, len(streams), lambda index: fan_out_round(notify_db, streams, index, within)
    )
    fan_out_load = os.getloadavg()[0]
    memory.snapshot("after fan-out")
    topic = f"{platform.namespace}.{LENDING_EVENTS.name}"
    titles = await seed_directory(notify_db, [stream.patron for stream in streams]) if bursts else []
    burst_rounds, sends, burst_reached = await rounds(
        "HoldReady burst",
        "sent in",
        bursts if min(reached) == len(streams) else 0,
        len(streams),
        lambda index: hold_ready_burst(
            env["SACHSO_KAFKA_BOOTSTRAP_SERVERS"], topic, streams, titles, len(fan_outs) + index, within
        ),
    )
    burst_load = os.getloadavg()[0]
    if burst_rounds:
        memory.snapshot("after HoldReady burst")
    after_messages = memory_kib(notify_pid)[0]  # streams still open
    for stream in streams:
        await stream.close()
    await mongo.close()

    most, per_stream_most, cpu_most, _ = per_level[-1]
    budget_kib = budget_mib * 1024
    print(memory.report())
    print(f"notify inbox streams, one process (local stack; load {fan_out_load:.1f} at fan-out):")
    print(f"  before any stream: VmRSS {baseline / 1024:.1f} MiB; idle CPU {Figure.of(floor)} % of a core")
    for level, per_stream, cpu, opened_per_second in per_level:
        print(
            f"  {level:,} streams: {per_stream:.1f} KiB VmRSS per stream; idle CPU {Figure.of(cpu)} % of a core "
            f"(+{statistics.median(cpu) - statistics.median(floor):.2f} over the floor); "
            f"opened {opened_per_second:.0f}/s"
        )
    if len(per_level) > 1:
        first = per_level[0]
        marginal = (per_stream_most * most - first[1] * first[0]) / (most - first[0])
        print(f"  marginal VmRSS per stream from {first[0]:,} to {most:,} streams: {marginal:.1f} KiB")
    print(
        f"  after the messages ({len(fan_outs)} fan-outs, {len(burst_rounds)} burst(s)): "
        f"VmRSS {after_messages / 1024:.1f} MiB, {(after_messages - baseline) / most:.1f} KiB per stream"
    )
    print(
        f"  streams per process within {budget_mib:.0f} MiB: ({budget_mib:.0f} MiB - {baseline / 1024:.1f} MiB) / "
        f"{per_stream_most:.1f} KiB = {(budget_kib - baseline) / per_stream_most:,.0f}"
    )
    print(
        latency_line(
            f"fan-out to {most:,} streams (insert_many -> change stream -> SSE)",
            fan_outs,
            f"reached {min(reached):,}/{most:,}; insert {Figure.of([s * 1000 for s in inserts])} ms",
        )
    )
    if burst_rounds:
        print(
            latency_line(
                f"HoldReady burst to {most:,} streams (Kafka -> consumer -> inbox -> SSE)",
                burst_rounds,
                f"reached {min(burst_reached):,}/{most:,}; sent in {Figure.of(sends)} s; load {burst_load:.1f}",
            )
        )
    record(
        "notify streams",
        f"fan-out to {most:,} open streams, last stream (load {fan_out_load:.1f})",
        "ms",
        Figure.of([max(r) for r in fan_outs]),
        lower_is_better=True,
    )
    record(
        "notify streams",
        f"VmRSS per open stream at {most:,} (load {fan_out_load:.1f})",
        "KiB",
        Figure(per_stream_most, per_stream_most, per_stream_most),
        lower_is_better=True,
    )
    record(
        "notify streams",
        f"idle CPU with {most:,} streams open",
        "% of a core",
        Figure.of(cpu_most),
        lower_is_better=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", default="500,1000,2000", help="levels of open streams, ascending")
    parser.add_argument("--budget-mib", type=float, default=512.0, help="the pod's memory limit for the figure")
    parser.add_argument("--bursts", type=int, default=1, help="HoldReady bursts at the most streams (0: none)")
    parser.add_argument("--within", type=float, default=60.0, help="seconds a round may take to reach every stream")
    args = parser.parse_args()
    levels = sorted(int(level) for level in args.streams.split(","))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = levels[-1] * 2 + 1024  # our end of each stream, and notify's (it inherits the limit)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    with temporary_platform() as platform:
        asyncio.run(run(platform, levels, args.budget_mib, args.bursts, args.within))


if __name__ == "__main__":
    main()
