"""What every bench shares: the import path, median-of-3 figures with their spread, and the closing table.

A bench run as ``python bench/bench_x.py`` (as the README says) has only ``bench/`` on its import path; importing
this module first puts the repository root (for ``tests.corpus``) and ``deploy/local`` there too.

Each figure is recorded with :func:`record`: it prints ours, the peer and the limit measured in the same run
(each a median of repetitions, with the spread) and the ratios, and appends the same as a JSON line to the file
named by ``SACHSO_BENCH_RESULTS`` (``make bench`` sets it). ``python bench/_common.py FILE`` prints the table of
every ratio at the end of ``make bench``.

:class:`ServiceMemory` reads a running service's resident memory (VmRSS) and its peak (VmHWM) from
``/proc/<pid>/status`` at named stages of a bench, and prints them per service at its end; :func:`cpu_seconds`
reads the CPU a process has used, from ``/proc/<pid>/stat``. :func:`send_events` puts events on Kafka as a
service's outbox relay would.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer
from google.protobuf.message import Message

from sachso.kit import events as ce

ROOT = Path(__file__).resolve().parents[1]
for _folder in (ROOT / "deploy" / "local", ROOT):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

RESULTS_VARIABLE = "SACHSO_BENCH_RESULTS"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
REPETITIONS = 3


@dataclass(frozen=True)
class Figure:
    """The median of repeated measurements and their spread (lowest, highest)."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Figure:
        return cls(statistics.median(samples), min(samples), max(samples))

    def __str__(self) -> str:
        return f"{_number(self.median)} ({_number(self.low)}–{_number(self.high)})"


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def record(
    bench: str,
    figure: str,
    unit: str,
    ours: Figure,
    *,
    peer: Figure | None = None,
    peer_name: str = "",
    limit: Figure | None = None,
    limit_name: str = "",
    lower_is_better: bool = False,
    goal: str = "",
) -> dict[str, object]:
    """Print one figure with its ratios (ours/peer, ours/limit; inverted when lower is better) and keep it."""

    def ratio(other: Figure | None) -> float | None:
        if other is None or not other.median or not ours.median:
            return None
        return other.median / ours.median if lower_is_better else ours.median / other.median

    vs_peer, vs_limit = ratio(peer), ratio(limit)
    line: dict[str, object] = {
        "bench": bench,
        "figure": figure,
        "unit": unit,
        "ours": asdict(ours),
        "peer": asdict(peer) if peer else None,
        "peer_name": peer_name,
        "limit": asdict(limit) if limit else None,
        "limit_name": limit_name,
        "vs_peer": vs_peer,
        "vs_limit": vs_limit,
        "lower_is_better": lower_is_better,
        "goal": goal,
    }
    text = f"  {figure}: ours {ours} {unit}"
    if peer is not None:
        text += f"; {peer_name} {peer} {unit}; ×{vs_peer or 0:.2f}"
    if limit is not None:
        text += f"; {limit_name} {limit} {unit}; {_against_limit(vs_limit, lower_is_better)}"
    if goal:
        text += f"  [goal: {goal}]"
    print(text, flush=True)
    results = os.environ.get(RESULTS_VARIABLE)
    if results:
        with open(results, "a", encoding="utf-8") as out:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
    return line


def _against_limit(vs_limit: float | None, lower_is_better: bool, name: str = "it") -> str:
    """Ours against the limit: a share of its rate, or a multiple of its time."""
    if not vs_limit:
        return ""
    return f"{1 / vs_limit:.2f}× the time of {name}" if lower_is_better else f"{100 * vs_limit:.0f}% of {name}"


def memory_kib(pid: int) -> tuple[int, int]:
    """A process's resident memory now and its peak since it started (VmRSS, VmHWM), in KiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines())
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used so far, all its threads (fields 14 and 15 of /proc/<pid>/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    after_name = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces
    return (int(after_name[11]) + int(after_name[12])) / CLOCK_TICKS


class ServiceMemory:
    """Resident and peak memory of each service process, read at the stages a bench names."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.stages: list[tuple[str, dict[str, tuple[int, int]]]] = []

    def snapshot(self, stage: str) -> None:
        self.stages.append((stage, {name: memory_kib(pid) for name, pid in self.pids.items()}))

    def report(self) -> str:
        """One line per service and stage: VmRSS and VmHWM in MiB."""
        lines = ["memory per service process (MiB, /proc/<pid>/status: VmRSS now / VmHWM peak since start):"]
        for name in self.pids:
            cells = [
                f"{stage} {readings[name][0] / 1024:.0f} / {readings[name][1] / 1024:.0f}"
                for stage, readings in self.stages
            ]
            lines.append(f"  {name}: " + "; ".join(cells))
        return "\n".join(lines)


async def send_events(bootstrap: str, topic: str, source: str, events: Iterable[tuple[str, Message]]) -> float:
    """Put ``(key, payload)`` events on ``topic`` at once, encoded with the kit as ``source``'s outbox relay would;
    return when the first was being sent (``time.perf_counter``), once all are acknowledged."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=5)
    await producer.start()
    started = time.perf_counter()
    try:
        for key, payload in events:
            message = ce.encode(
                event_id=uuid.uuid4().hex,
                event_type=str(payload.DESCRIPTOR.full_name),
                source=source,
                key=key,
                data=payload.SerializeToString(),
                time=datetime.now(UTC),
            )
            await producer.send(topic, value=message.value, key=key.encode(), headers=list(message.headers.items()))
        await producer.flush()
    finally:
        await producer.stop()
    return started


def table(path: Path) -> str:
    """Every recorded figure with its ratios, one row each (ratios > 1 are better for ours)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    header = ("bench", "figure", "ours (median, spread)", "vs peer", "vs limit", "goal")
    cells = [header]
    for row in rows:
        ours = Figure(**row["ours"])
        peer = f"×{row['vs_peer']:.2f} {row['peer_name']}" if row["vs_peer"] is not None else ""
        limit = _against_limit(row["vs_limit"], row["lower_is_better"], row["limit_name"])
        cells.append((row["bench"], row["figure"], f"{ours} {row['unit']}", peer, limit, row["goal"]))
    widths = [max(len(str(cell[i])) for cell in cells) for i in range(len(header))]
    lines = [" | ".join(str(cell[i]).ljust(widths[i]) for i in range(len(header))).rstrip() for cell in cells]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python bench/_common.py RESULTS.jsonl")
    print("\n== every ratio: ours against the peer (× > 1: ours better) and the limit, both measured in the same run")
    print(table(Path(sys.argv[1])))
