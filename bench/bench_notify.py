"""Notify under load, end to end on the local platform (Tansu + SecantusDB + aiosmtpd), no mocks.

Starts its own local stack and the four services, then measures:

- return -> hold-ready email: a loan is returned over lending's HTTP API; lending makes the next patron's hold
  ready, its outbox relay publishes HoldReady, notify consumes it, writes the delivery and its sender hands the
  email to the SMTP server; the clock stops when the server has written the message to its maildir.
  p50/p99 ms over ``--samples`` returns;
- burst: ``--holds`` HoldReady events for as many patrons are put on Kafka at once (encoded with the kit, as
  lending's relay would); the figure is hold-ready emails accepted by the SMTP server per second while that
  backlog drains, over the first ``--window`` seconds (or until all arrived), and the time the whole backlog
  would take at that rate. Each hold also writes an inbox message. The patron and title directories notify keeps
  are seeded straight into its database for this part.

SecantusDB (a Python MongoDB stand-in doing ~1,000 simple operations/s here) is the limit: each hold-ready is
~9 database operations in the consumer's transaction. No peer (Palace Project sends hold notices every 20
minutes) runs here, so there is no ratio. The last lines are the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy" / "local"))

import httpx  # noqa: E402
from aiokafka import AIOKafkaProducer  # noqa: E402
from google.protobuf.timestamp_pb2 import Timestamp  # noqa: E402
from local_platform import Platform, temporary_platform  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402
from pymongo.asynchronous.client_session import AsyncClientSession  # noqa: E402

from sachso.events.v1 import lending_events_pb2 as lending  # noqa: E402
from sachso.kit import events as ce  # noqa: E402
from sachso.kit.auth import Role, TokenIssuer  # noqa: E402
from sachso.kit.events import OutboundEvent  # noqa: E402
from sachso.kit.outbox import Emit, Outbox  # noqa: E402
from sachso.kit.topics import LENDING_EVENTS  # noqa: E402

Document = dict[str, Any]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def stamp(moment: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(moment)
    return value


class Maildir:
    """Watches the SMTP server's maildir for new messages."""

    def __init__(self, path: Path) -> None:
        self.new = path / "new"
        for folder in ("cur", "new", "tmp"):  # the stack makes the folder, not its Maildir subfolders
            (path / folder).mkdir(parents=True, exist_ok=True)
        self.seen = set(os.listdir(self.new))

    def count(self) -> int:
        return len(os.listdir(self.new))

    def arrivals(self) -> list[bytes]:
        names = set(os.listdir(self.new)) - self.seen
        self.seen |= names
        return [(self.new / name).read_bytes() for name in names]

    async def wait_for(self, address: str, within: float = 10.0) -> float:
        """Wait for a message to ``address``; return when it was seen (perf_counter)."""
        needle = f"X-RcptTo: {address}".encode()
        deadline = time.perf_counter() + within
        while time.perf_counter() < deadline:
            if any(needle in message for message in self.arrivals()):
                return time.perf_counter()
            await asyncio.sleep(0.002)
        raise RuntimeError(f"no email to {address} within {within} s")


async def seed_lending(database: Any, outbox: Outbox, samples: int) -> list[tuple[str, str, str]]:
    """Readers, waiters and one-copy titles in lending; waiters and titles announced to notify by events."""
    await database["libraries"].update_one(
        {"_id": "daklak"},
        {"$setOnInsert": {"name": "Thư viện tỉnh Đắk Lắk", "kind": "province", "parent_id": None, "code": "DL"}},
        upsert=True,
    )
    batch = uuid.uuid4().hex[:6]
    triples = [(f"r{batch}{i:03d}", f"w{batch}{i:03d}", f"t{batch}{i:03d}") for i in range(samples)]
    patrons = [p for reader, waiter, _ in triples for p in (reader, waiter)]
    await database["patrons"].insert_many(
        [
            {"_id": p, "library_id": "daklak", "display_name": p, "email": f"{p}@x.vn", "status": "active"}
            for p in patrons
        ]
    )
    await database["titles"].insert_many(
        [{"_id": t, "title": f"Sách {t}", "publication_id": f"pub-{t}", "search_terms": []} for _, _, t in triples]
    )
    await database["licenses"].insert_many(
        [
            {
                "_id": f"lic-{t}",
                "title_id": t,
                "owner_id": "daklak",
                "sharing": "subtree",
                "terms": {"model": "one-copy-one-user", "concurrency": 1, "checkouts": None, "expires_at": None},
                "acquired_at": datetime.now(UTC),
                "in_use": 0,
                "checkouts_left": None,
            }
            for _, _, t in triples
        ]
    )

    async def announce(session: AsyncClientSession, emit: Emit) -> None:
        for _, waiter, title in triples:
            approved = lending.PatronApproved(
                patron_id=waiter, display_name=f"Bạn đọc {waiter}", email=f"{waiter}@x.vn", preferred_language="vi"
            )
            emit(OutboundEvent(topic=LENDING_EVENTS.name, key=waiter, payload=approved))
            emit(
                OutboundEvent(
                    topic=LENDING_EVENTS.name,
                    key=title,
                    payload=lending.TitleAdded(title_id=title, title=f"Sách {title}"),
                )
            )

    await outbox.transaction(announce)
    return triples


async def return_to_email(
    http: httpx.AsyncClient, issuer: TokenIssuer, maildir: Maildir, triples: list[tuple[str, str, str]]
) -> list[float]:
    def auth(patron: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {issuer.issue(patron, audience='sachso', roles=[Role.PATRON])}"}

    latencies = []
    for reader, waiter, title in triples:
        loan = await http.post("/v1/loans", json={"title_id": title}, headers=auth(reader))
        assert loan.status_code == 201, loan.text
        hold = await http.post("/v1/holds", json={"title_id": title}, headers=auth(waiter))
        assert hold.status_code == 201, hold.text
        maildir.arrivals()  # forget what came before
        started = time.perf_counter()
        returned = await http.post(f"/v1/loans/{loan.json()['id']}/return", headers=auth(reader))
        assert returned.status_code == 200, returned.text
        latencies.append((await maildir.wait_for(f"{waiter}@x.vn")) - started)
    return [latency * 1000 for latency in latencies]


async def until(check: Callable[[], Awaitable[bool]], *, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} within {within:.0f} s")
        await asyncio.sleep(0.05)


async def burst(
    notify_db: Any, bootstrap: str, topic: str, maildir: Maildir, holds: int, window: float
) -> tuple[float, int, float]:
    """``holds`` HoldReady events at once; return (emails per second, emails in the window, seconds measured)."""
    batch = uuid.uuid4().hex[:6]
    titles = [f"bt{batch}{i:03d}" for i in range(100)]
    await notify_db["titles"].insert_many([{"_id": t, "title": f"Sách {t}", "authors": []} for t in titles])
    patrons = [f"b{batch}{i:05d}" for i in range(holds)]
    await notify_db["patrons"].insert_many(
        [{"_id": p, "display_name": f"Bạn đọc {p}", "email": f"{p}@x.vn", "language": "vi"} for p in patrons]
    )
    ready_until = stamp(datetime.now(UTC) + timedelta(hours=72))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=5)
    await producer.start()
    before = maildir.count()
    started = time.perf_counter()
    try:
        for index, patron in enumerate(patrons):
            title = titles[index % len(titles)]
            payload = lending.HoldReady(hold_id=f"h{patron}", patron_id=patron, title_id=title, ready_until=ready_until)
            message = ce.encode(
                event_id=uuid.uuid4().hex,
                event_type=str(payload.DESCRIPTOR.full_name),
                source="/sachso/lending",
                key=title,
                data=payload.SerializeToString(),
                time=datetime.now(UTC),
            )
            await producer.send(topic, value=message.value, key=title.encode(), headers=list(message.headers.items()))
        await producer.flush()
    finally:
        await producer.stop()
    with contextlib.suppress(RuntimeError):  # the window closes before the backlog is gone: that is the figure

        async def drained() -> bool:
            return maildir.count() - before >= holds

        await until(drained, within=window, what="backlog not drained")
    arrived = maildir.count() - before
    elapsed = time.perf_counter() - started
    if arrived == 0:
        raise RuntimeError("no hold-ready email arrived")
    return arrived / elapsed, arrived, elapsed


async def run(platform: Platform, env: dict[str, str], samples: int, holds: int, window: float) -> dict[str, float]:
    mongo: AsyncMongoClient[Document] = AsyncMongoClient(env["SACHSO_MONGO_URI"], retryWrites=False, tz_aware=True)
    lending_db = mongo[f"{platform.namespace}_lending"]
    notify_db = mongo[f"{platform.namespace}_notify"]
    maildir = Maildir(Path(env["SACHSO_SMTP_MAILDIR"]))
    issuer = TokenIssuer.from_files(
        "sachso-lending", [str(next((platform.state_dir / "keys" / "lending").glob("*.pem")))]
    )
    results: dict[str, float] = {}
    triples = await seed_lending(lending_db, Outbox(mongo, lending_db, source="/sachso/lending"), samples)

    async def learned() -> bool:
        patrons = await notify_db["patrons"].count_documents({})
        return patrons >= samples and await notify_db["titles"].count_documents({}) >= samples

    async def welcomed() -> bool:  # the card-approved emails went out before measuring
        return maildir.count() >= samples

    await until(learned, within=60, what="notify did not learn the patrons and titles")
    await until(welcomed, within=60, what="card-approved emails did not arrive")
    async with httpx.AsyncClient(base_url=platform.endpoints()["lending"].http_url, timeout=60) as http:
        latencies = await return_to_email(http, issuer, maildir, triples)
    results |= {
        "return_to_hold_ready_email_p50_ms": statistics.median(latencies),
        "return_to_hold_ready_email_p99_ms": percentile(latencies, 0.99),
    }
    topic = f"{platform.namespace}.{LENDING_EVENTS.name}"
    rate, arrived, elapsed = await burst(
        notify_db, env["SACHSO_KAFKA_BOOTSTRAP_SERVERS"], topic, maildir, holds, window
    )
    results |= {
        f"burst_{holds}_hold_ready_emails_per_s": rate,
        f"burst_{holds}_emails_in_{elapsed:.0f}_s": arrived,
        f"burst_{holds}_all_sent_after_s_at_that_rate": holds / rate,
    }
    await mongo.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=30, help="return -> email samples")
    parser.add_argument("--holds", type=int, default=10_000, help="holds made ready at once")
    parser.add_argument("--window", type=float, default=90.0, help="seconds to measure the burst's drain rate")
    args = parser.parse_args()
    with temporary_platform() as platform:
        results = asyncio.run(run(platform, platform.stack_env, args.samples, args.holds, args.window))
    print("notify end to end (1 process per service, local stack):")
    for key, value in results.items():
        print(f"  {key}: {value:.1f}")


if __name__ == "__main__":
    main()
