"""Lending under load, over HTTP against the running service (local stack: Tansu + SecantusDB).

Starts its own local stack and the four services, seeds a library, patrons and titles straight into lending's
database, then measures with real HTTP requests signed by lending's own key:

- contended: 1,000 patrons try to borrow one title with 10 copies (at most 50 requests in flight):
  request p50/p99 ms and requests/s; exactly 10 must succeed;
- spread: 1,000 patrons borrow from 100 titles of 10 copies each (every request lends): p50/p99 ms, loans/s;
- return -> next hold ready: a loan is returned over HTTP and the HoldReady event for the next patron is seen on
  Kafka; p50/p99 ms over 30 samples.

Each checkout figure is set against the database's own rate, measured by this bench in the same run with raw
PyMongo at the same concurrency: transactions of one conditional update (a licence's ``in_use``, spread over 100
documents) and one insert (the loan) — the least a checkout must write. Every figure is the median of three
rounds (fresh patrons and titles each), with the spread, labelled with the load average.

Lending gives each request's database work a deadline (``LENDING_REQUEST_DEADLINE_SECONDS``, 6 s): a request
that queues longer behind the database answers 503, which the bench counts and reports rather than hides.

SecantusDB is a slow stand-in for MongoDB (~1,000 simple operations/s here): the figures include it. No peer
(Palace Project circulation manager) runs on this machine. The last lines are the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy" / "local"))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
from _common import REPETITIONS, Figure, record  # noqa: E402
from aiokafka import AIOKafkaConsumer  # noqa: E402
from local_platform import Platform, temporary_platform  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402
from pymongo.asynchronous.client_session import AsyncClientSession  # noqa: E402

from sachso.events.v1 import lending_events_pb2  # noqa: E402
from sachso.kit.auth import Role, TokenIssuer  # noqa: E402
from sachso.kit.topics import LENDING_EVENTS  # noqa: E402

Document = dict[str, Any]
IN_FLIGHT = 50


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def seed(database: Any, *, patrons: int, titles: int, copies: int) -> tuple[list[str], list[str]]:
    await database["libraries"].update_one(
        {"_id": "daklak"},
        {"$setOnInsert": {"name": "Thư viện tỉnh Đắk Lắk", "kind": "province", "parent_id": None, "code": "DL"}},
        upsert=True,
    )
    batch = uuid.uuid4().hex[:6]
    patron_ids = [f"p{batch}{index:05d}" for index in range(patrons)]
    await database["patrons"].insert_many(
        [
            {"_id": p, "library_id": "daklak", "display_name": p, "email": f"{p}@x.vn", "status": "active"}
            for p in patron_ids
        ]
    )
    title_ids = [f"t{batch}{index:04d}" for index in range(titles)]
    await database["titles"].insert_many(
        [{"_id": t, "title": f"Sách {t}", "publication_id": f"pub-{t}", "search_terms": []} for t in title_ids]
    )
    await database["licenses"].insert_many(
        [
            {
                "_id": f"lic-{t}",
                "title_id": t,
                "owner_id": "daklak",
                "sharing": "subtree",
                "terms": {"model": "one-copy-one-user", "concurrency": copies, "checkouts": None, "expires_at": None},
                "acquired_at": datetime.now(UTC),
                "in_use": 0,
                "checkouts_left": None,
            }
            for t in title_ids
        ]
    )
    return patron_ids, title_ids


async def checkout_round(
    http: httpx.AsyncClient, issuer: TokenIssuer, pairs: list[tuple[str, str]]
) -> tuple[list[float], int, float]:
    limit = asyncio.Semaphore(IN_FLIGHT)
    latencies: list[float] = []
    by_answer: dict[int, list[float]] = collections.defaultdict(list)
    answers: collections.Counter[int] = collections.Counter()
    problems: dict[int, str] = {}

    async def one(patron: str, title: str) -> None:
        headers = {"Authorization": f"Bearer {issuer.issue(patron, audience='sachso', roles=[Role.PATRON])}"}
        async with limit:
            started = time.perf_counter()
            response = await http.post("/v1/loans", json={"title_id": title}, headers=headers)
            latencies.append((time.perf_counter() - started) * 1000)
        by_answer[response.status_code].append(latencies[-1])
        answers[response.status_code] += 1
        if response.status_code not in (201, 409):
            problems.setdefault(response.status_code, response.text[:300])

    started = time.perf_counter()
    await asyncio.gather(*(one(patron, title) for patron, title in pairs))
    elapsed = time.perf_counter() - started
    if problems:
        print(f"    answers {dict(answers)}; first of each unexpected: {problems}", flush=True)
    each = ", ".join(
        f"{status}: {len(values)} at p50/p99 {statistics.median(values):.0f}/{percentile(values, 0.99):.0f} ms"
        for status, values in sorted(by_answer.items())
    )
    print(f"    by answer: {each}", flush=True)
    return latencies, answers[201], elapsed


async def database_transaction_rate(mongo: AsyncMongoClient[Document], database_name: str, count: int) -> float:
    """Transactions/s of one conditional update and one insert, ``IN_FLIGHT`` at a time, raw PyMongo."""
    database = mongo[database_name]
    await database["licenses"].insert_many([{"_id": f"l{i}", "in_use": 0} for i in range(100)])
    limit = asyncio.Semaphore(IN_FLIGHT)

    async def one(number: int) -> None:
        async with limit, mongo.start_session() as session:

            async def work(session: AsyncClientSession) -> None:
                await database["licenses"].update_one(
                    {"_id": f"l{number % 100}", "in_use": {"$lt": 1_000_000}}, {"$inc": {"in_use": 1}}, session=session
                )
                await database["loans"].insert_one(
                    {"patron_id": f"p{number}", "title_id": f"t{number % 100}"}, session=session
                )

            await session.with_transaction(work)

    started = time.perf_counter()
    await asyncio.gather(*(one(number) for number in range(count)))
    elapsed = time.perf_counter() - started
    await mongo.drop_database(database_name)
    return count / elapsed


async def return_to_ready(
    http: httpx.AsyncClient, issuer: TokenIssuer, bootstrap: str, topic: str, pairs: list[tuple[str, str, str]]
) -> list[float]:
    """For each (reader, waiter, title): reader borrows, waiter holds, reader returns; time to HoldReady on Kafka."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="latest", group_id=None,
                                fetch_max_wait_ms=20)  # fmt: skip
    await consumer.start()
    await consumer.seek_to_end()
    latencies: list[float] = []

    def auth(patron: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {issuer.issue(patron, audience='sachso', roles=[Role.PATRON])}"}

    try:
        for reader, waiter, title in pairs:
            loan = (await http.post("/v1/loans", json={"title_id": title}, headers=auth(reader))).json()
            hold = (await http.post("/v1/holds", json={"title_id": title}, headers=auth(waiter))).json()
            started = time.perf_counter()
            returned = await http.post(f"/v1/loans/{loan['id']}/return", headers=auth(reader))
            assert returned.status_code == 200, returned.text
            seen = False
            while not seen:
                batch = await consumer.getmany(timeout_ms=5000)
                if not batch:
                    raise RuntimeError("HoldReady not seen within 5 s")
                for records in batch.values():
                    for record in records:
                        headers = dict(record.headers)
                        if headers.get("ce_type") == b"sachso.events.v1.HoldReady":
                            ready = lending_events_pb2.HoldReady.FromString(record.value)
                            seen = seen or ready.hold_id == hold["id"]
            latencies.append((time.perf_counter() - started) * 1000)
    finally:
        await consumer.stop()
    return latencies


async def run(platform: Platform, env: dict[str, str], samples: int, *, contended_only: bool) -> dict[str, float]:
    mongo: AsyncMongoClient[Document] = AsyncMongoClient(env["SACHSO_MONGO_URI"], retryWrites=False, tz_aware=True)
    database = mongo[f"{platform.namespace}_lending"]
    issuer = TokenIssuer.from_files(
        "sachso-lending", [str(next((platform.state_dir / "keys" / "lending").glob("*.pem")))]
    )
    base_url = platform.endpoints()["lending"].http_url
    results: dict[str, float] = {}
    rounds: dict[str, list[float]] = collections.defaultdict(list)
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        for repetition in range(REPETITIONS):
            patrons, (popular,) = await seed(database, patrons=1000, titles=1, copies=10)
            latencies, lent, elapsed = await checkout_round(http, issuer, [(p, popular) for p in patrons])
            if lent > 10:  # fewer is possible when requests ran past their deadline (503, reported above)
                raise RuntimeError(f"contended checkout lent {lent} copies of 10")
            rounds["contended_p50_ms"].append(statistics.median(latencies))
            rounds["contended_p99_ms"].append(percentile(latencies, 0.99))
            rounds["contended_answers_per_s"].append(len(latencies) / elapsed)
            contended = (
                f"contended p50/p99 {rounds['contended_p50_ms'][-1]:.0f}/{rounds['contended_p99_ms'][-1]:.0f} ms, "
                f"{rounds['contended_answers_per_s'][-1]:.1f} answers/s"
            )
            if not contended_only:
                patrons, titles = await seed(database, patrons=1000, titles=100, copies=10)
                pairs = [(patron, titles[index % 100]) for index, patron in enumerate(patrons)]
                latencies, lent, elapsed = await checkout_round(http, issuer, pairs)
                rounds["spread_p50_ms"].append(statistics.median(latencies))
                rounds["spread_p99_ms"].append(percentile(latencies, 0.99))
                rounds["spread_loans_per_s"].append(lent / elapsed)
                rounds["spread_loans_of_1000"].append(lent)
                contended += f", spread {rounds['spread_loans_per_s'][-1]:.1f} loans/s ({lent} of 1000)"
            limit_rate = await database_transaction_rate(mongo, f"{platform.namespace}_limit{repetition}", 1000)
            rounds["database_transactions_per_s"].append(limit_rate)
            print(
                f"  round {repetition + 1}: {contended}, database {limit_rate:.0f} transactions/s "
                f"(load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
        if contended_only:
            await mongo.close()
            database_rate = Figure.of(rounds["database_transactions_per_s"])
            load = os.getloadavg()[0]
            record(
                "lending", f"checkout, 1,000 patrons for 10 copies, {IN_FLIGHT} in flight (load {load:.1f})",
                "answers/s", Figure.of(rounds["contended_answers_per_s"]), limit=database_rate,
                limit_name="database: update + insert transactions",
            )  # fmt: skip
            return {f"{name}_median": statistics.median(values) for name, values in rounds.items()}
        patrons, titles = await seed(database, patrons=2 * samples, titles=samples, copies=1)
        triples = [(patrons[2 * i], patrons[2 * i + 1], titles[i]) for i in range(samples)]
        topic = f"{platform.namespace}.{LENDING_EVENTS.name}"
        latencies = await return_to_ready(http, issuer, env["SACHSO_KAFKA_BOOTSTRAP_SERVERS"], topic, triples)
    await mongo.close()
    load = os.getloadavg()[0]
    database_rate = Figure.of(rounds["database_transactions_per_s"])
    limit_name = "database: update + insert transactions"
    record(
        "lending", f"checkout, 1,000 loans over 100 titles, {IN_FLIGHT} in flight (load {load:.1f})", "loans/s",
        Figure.of(rounds["spread_loans_per_s"]), limit=database_rate, limit_name=limit_name, goal="≥ 50% of limit",
    )  # fmt: skip
    record(
        "lending", f"checkout, 1,000 patrons for 10 copies, {IN_FLIGHT} in flight (load {load:.1f})", "answers/s",
        Figure.of(rounds["contended_answers_per_s"]), limit=database_rate, limit_name=limit_name,
    )  # fmt: skip
    for name in ("contended_p50_ms", "contended_p99_ms", "spread_p50_ms", "spread_p99_ms"):
        goal = "< 1,000 ms" if name == "contended_p99_ms" else ""
        record("lending", f"{name} (load {load:.1f})", "ms", Figure.of(rounds[name]), lower_is_better=True, goal=goal)
    for name, values in rounds.items():
        results[f"{name}_median"] = statistics.median(values)
    results |= {"return_to_hold_ready_p50_ms": statistics.median(latencies),
                "return_to_hold_ready_p99_ms": percentile(latencies, 0.99), "load_average_1min": load}  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=30, help="return -> hold ready samples")
    parser.add_argument(
        "--contended-only",
        action="store_true",
        help="only the 1,000 patrons for 10 copies figure (and the database's rate)",
    )
    args = parser.parse_args()
    with temporary_platform() as platform:
        results = asyncio.run(run(platform, platform.stack_env, args.samples, contended_only=args.contended_only))
    print("lending over HTTP (1 lending process, local stack):")
    for key, value in results.items():
        print(f"  {key}: {value:.1f}")


if __name__ == "__main__":
    main()
