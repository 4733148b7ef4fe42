"""Notify under load, end to end on the local platform (Tansu + SecantusDB + aiosmtpd), no mocks.

Starts its own local stack and the four services, then measures:

- return -> hold-ready email: a loan is returned over lending's HTTP API; lending makes the next patron's hold
  ready, its outbox relay publishes HoldReady, notify consumes it, writes the delivery and its sender hands the
  email to the SMTP server; the clock stops when the server has written the message to its maildir.
  p50/p99 ms over ``--samples`` returns;
- burst: ``--holds`` HoldReady events for as many patrons are put on Kafka at once (encoded with the kit, as
  lending's relay would); the figure is hold-ready emails accepted by the SMTP server per second while that
  backlog drains, over the first ``--window`` seconds (or until all arrived). Each hold also writes an inbox
  message and a lapse reminder. The patron and title directories notify keeps are seeded straight into its
  database for this part. Three bursts; the median is the figure.

Against two limits measured between the bursts, on the same servers:

- the SMTP server's accept rate: the same messages (composed beforehand) sent with aiosmtplib over as many
  reused connections as notify keeps (``NOTIFY_SMTP_CONNECTIONS``, 4), nothing else;
- the database's rate for the least a notice must write: its handled-event marker, inbox message, delivery and
  reminder (4 documents), written with ``insert_many`` in transactions of 100 notices, plus the sender's claim
  and settle of the deliveries (``update_many`` and a bulk write per 100), raw PyMongo.

No peer (Palace Project sends hold notices every 20 minutes) runs here. The last lines are the figures.
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
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy" / "local"))
sys.path.insert(0, str(ROOT / "bench"))

import aiosmtplib  # noqa: E402
import httpx  # noqa: E402
from _common import Figure, record, send_events  # noqa: E402
from google.protobuf.timestamp_pb2 import Timestamp  # noqa: E402
from local_platform import Platform, temporary_platform  # noqa: E402
from pymongo import AsyncMongoClient, UpdateOne  # noqa: E402
from pymongo.asynchronous.client_session import AsyncClientSession  # noqa: E402

from notify.adapters.email import OutgoingEmail, compose  # noqa: E402
from sachso.events.v1 import lending_events_pb2 as lending  # noqa: E402
from sachso.kit.auth import Role, TokenIssuer  # noqa: E402
from sachso.kit.events import OutboundEvent  # noqa: E402
from sachso.kit.outbox import Emit, Outbox  # noqa: E402
from sachso.kit.topics import LENDING_EVENTS  # noqa: E402

Document = dict[str, Any]
REPETITIONS = 3


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def stamp(moment: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(moment)
    return value


def hold_ready_events(patrons: list[str], titles: list[str], prefix: str) -> Iterator[tuple[str, lending.HoldReady]]:
    """One HoldReady per patron, keyed by title as lending's relay keys it, the titles taken in turn."""
    ready_until = stamp(datetime.now(UTC) + timedelta(hours=72))
    for index, patron in enumerate(patrons):
        title = titles[index % len(titles)]
        yield (
            title,
            lending.HoldReady(hold_id=f"{prefix}{patron}", patron_id=patron, title_id=title, ready_until=ready_until),
        )


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
    before = maildir.count()
    started = await send_events(bootstrap, topic, "/sachso/lending", hold_ready_events(patrons, titles, "h"))
    with contextlib.suppress(RuntimeError):  # the window closes before the backlog is gone: that is the figure

        async def drained() -> bool:
            return maildir.count() - before >= holds

        await until(drained, within=window, what="backlog not drained")
    arrived = maildir.count() - before
    elapsed = time.perf_counter() - started
    if arrived == 0:
        raise RuntimeError("no hold-ready email arrived")
    consumed = await notify_db["deliveries"].count_documents({"patron_id": {"$in": patrons}})
    print(f"    in {elapsed:.0f} s: {consumed} holds consumed (deliveries written), {arrived} emails sent", flush=True)

    async def all_sent() -> bool:  # the next measurement starts on a quiet notify
        return maildir.count() - before >= holds

    await until(all_sent, within=3600, what="backlog not drained")
    return arrived / elapsed, arrived, elapsed


async def smtp_accept_rate(host: str, port: int, messages: int, connections: int = 4) -> float:
    """Messages/s the SMTP server accepts from aiosmtplib over ``connections`` reused connections."""
    text = "Cuốn sách bạn đặt trước đã sẵn sàng. " * 20
    prepared = [
        (
            f"raw{i}@x.vn",
            compose(
                OutgoingEmail(f"raw{i}", f"raw{i}@x.vn", "Bạn đọc", "vi", "Sách đã sẵn sàng", text, f"<p>{text}</p>"),
                sender="Sách Số <no-reply@sachso.local>",
            ),
        )
        for i in range(messages)
    ]
    clients = [aiosmtplib.SMTP(hostname=host, port=port) for _ in range(connections)]
    for client in clients:
        await client.connect()

    async def send_all(client: aiosmtplib.SMTP, share: list[tuple[str, bytes]]) -> None:
        for recipient, message in share:
            await client.sendmail("no-reply@sachso.local", [recipient], message)

    started = time.perf_counter()
    await asyncio.gather(*(send_all(client, prepared[i::connections]) for i, client in enumerate(clients)))
    elapsed = time.perf_counter() - started
    for client in clients:
        await client.quit()
    return messages / elapsed


async def database_notice_rate(mongo: AsyncMongoClient[Document], database_name: str, notices: int) -> float:
    """Notices/s the database stores and settles when each writes its least (see the module docstring)."""
    database = mongo[database_name]
    batch = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)
    started = time.perf_counter()
    for start in range(0, notices, 100):
        ids = [f"{batch}-{i}" for i in range(start, min(notices, start + 100))]
        async with mongo.start_session() as session:

            async def write(session: AsyncClientSession, ids: list[str] = ids) -> None:
                await database["handled_events"].insert_many(
                    [{"_id": i, "handled_at": now} for i in ids], session=session
                )
                await database["inbox"].insert_many(
                    [{"_id": i, "patron_id": i, "title": "Sách đã sẵn sàng", "body": "x" * 200} for i in ids],
                    session=session,
                )
                await database["deliveries"].insert_many(
                    [{"_id": i, "status": "pending", "not_before": now, "text": "x" * 1500} for i in ids],
                    session=session,
                )
                await database["reminders"].insert_many([{"_id": i, "fire_at": now} for i in ids], session=session)

            await session.with_transaction(write)
        await database["deliveries"].update_many({"_id": {"$in": ids}}, {"$set": {"status": "sending"}})
        await database["deliveries"].bulk_write([UpdateOne({"_id": i}, {"$set": {"status": "sent"}}) for i in ids])
    return notices / (time.perf_counter() - started)


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
    rates, smtp_rates, database_rates = [], [], []
    for repetition in range(REPETITIONS):
        # the limits first, on quiet servers (each burst drains completely before the next step)
        smtp_rates.append(await smtp_accept_rate(env["SACHSO_SMTP_HOST"], int(env["SACHSO_SMTP_PORT"]), 1000))
        database_rates.append(await database_notice_rate(mongo, f"{platform.namespace}_limit", 2000))
        print(
            f"  limits: SMTP {smtp_rates[-1]:.0f} messages/s, database {database_rates[-1]:.0f} notices/s", flush=True
        )
        rate, arrived, elapsed = await burst(
            notify_db, env["SACHSO_KAFKA_BOOTSTRAP_SERVERS"], topic, maildir, holds, window
        )
        rates.append(rate)
        print(f"  burst {repetition + 1}: {arrived} emails in {elapsed:.1f} s, {rate:.1f}/s", flush=True)
    load = os.getloadavg()[0]
    figure = f"{holds:,} holds ready at once -> emails (load {load:.1f})"
    for limits, limit_name, goal in (
        (smtp_rates, "SMTP server accept rate", "≥ 10× 11.9/s"),
        (database_rates, "database, least writes per notice", ""),
    ):
        record(
            "notify", figure, "emails/s", Figure.of(rates), limit=Figure.of(limits), limit_name=limit_name, goal=goal
        )
    results |= {
        f"burst_{holds}_hold_ready_emails_per_s_median": statistics.median(rates),
        f"burst_{holds}_all_sent_after_s_at_that_rate": holds / statistics.median(rates),
        "smtp_accept_rate_per_s_median": statistics.median(smtp_rates),
        "database_least_writes_notices_per_s_median": statistics.median(database_rates),
        "load_average_1min": load,
    }
    await mongo.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=30, help="return -> email samples")
    parser.add_argument("--holds", type=int, default=10_000, help="holds made ready at once (each of 3 bursts)")
    parser.add_argument("--window", type=float, default=60.0, help="seconds to measure a burst's drain rate")
    args = parser.parse_args()
    with temporary_platform() as platform:
        results = asyncio.run(run(platform, platform.stack_env, args.samples, args.holds, args.window))
    print("notify end to end (1 process per service, local stack):")
    for key, value in results.items():
        print(f"  {key}: {value:.1f}")


if __name__ == "__main__":
    main()
