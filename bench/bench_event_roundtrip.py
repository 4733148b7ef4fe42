"""Event round trip: outbox write in one service → relay → Kafka → idempotent consumer in another service.

Starts its own local stack (deploy/local), then:
- latency: one event at a time, from the writer's committed transaction to the consumer's handler (p50/p99 ms);
- throughput: a burst of events written in transactions of 50, until the consumer handled them all (events/s).
Both ends run the platform's own code (sachso.kit Outbox, OutboxRelay, IdempotentConsumer) against the real
Kafka-protocol broker (Tansu) and MongoDB-protocol server (SecantusDB, a slow stand-in: figures include it).
The last lines are the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy" / "local"))

from _common import Figure, record  # noqa: E402
from google.protobuf.timestamp_pb2 import Timestamp  # noqa: E402
from local_platform import read_env_file  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402
from pymongo.asynchronous.client_session import AsyncClientSession  # noqa: E402
from stack import LocalStack  # noqa: E402

from sachso.events.v1 import lending_events_pb2  # noqa: E402
from sachso.kit.consumer import HandlerRegistry, IdempotentConsumer  # noqa: E402
from sachso.kit.events import OutboundEvent, ReceivedEvent  # noqa: E402
from sachso.kit.kafka import create_consumer, create_producer, ensure_topics  # noqa: E402
from sachso.kit.outbox import Emit, KafkaEventPublisher, Outbox, OutboxRelay  # noqa: E402
from sachso.kit.settings import PlatformSettings  # noqa: E402
from sachso.kit.topics import LENDING_EVENTS, dead_letter_topic, retry_topic  # noqa: E402


class BenchSettings(PlatformSettings):
    pass


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def run(env: dict[str, str], samples: int, burst: int) -> dict[str, float]:
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    common: dict[str, Any] = {
        "mongo_uri": env["SACHSO_MONGO_URI"],
        "mongo_retry_writes": False,
        "kafka_bootstrap_servers": env["SACHSO_KAFKA_BOOTSTRAP_SERVERS"],
        "kafka_topic_prefix": f"{namespace}.",
        "kafka_session_timeout_ms": 2000,
        "kafka_heartbeat_interval_ms": 400,
        "kafka_fetch_max_wait_ms": 50,
        "outbox_poll_seconds": 0.5,
        "jwks_urls": "http://127.0.0.1:9/unused",
    }
    lending = BenchSettings(service_name="lending", mongo_database=f"{namespace}_lending", **common)
    notify = BenchSettings(service_name="notify", mongo_database=f"{namespace}_notify", **common)
    await ensure_topics(lending, [LENDING_EVENTS, retry_topic("notify"), dead_letter_topic("notify")])

    writer_client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(lending.mongo_uri, retryWrites=False)
    reader_client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(notify.mongo_uri, retryWrites=False)
    outbox = Outbox(writer_client, writer_client[lending.mongo_database], source="/sachso/lending")
    await outbox.ensure_indexes()
    producer = create_producer(lending)
    await producer.start()
    relay = OutboxRelay(outbox, KafkaEventPublisher(producer), topic_prefix=lending.kafka_topic_prefix)

    committed_at: dict[str, float] = {}
    latencies: list[float] = []
    handled = asyncio.Event()
    count = {"n": 0, "target": 0}

    async def on_loan_returned(event: ReceivedEvent, session: AsyncClientSession) -> None:
        started = committed_at.get(event.id)
        if started is not None and count["target"] == 1:
            latencies.append((time.perf_counter() - started) * 1000)
        count["n"] += 1
        if count["n"] >= count["target"]:
            handled.set()

    registry = HandlerRegistry("notify", [LENDING_EVENTS.name])
    registry.register(lending_events_pb2.LoanReturned, on_loan_returned)
    dlq_producer = create_producer(notify)
    await dlq_producer.start()
    consumer = IdempotentConsumer(
        registry,
        client=reader_client,
        database=reader_client[notify.mongo_database],
        dead_letters=dlq_producer,
        topic_prefix=notify.kafka_topic_prefix,
    )
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(relay.run(stop)),
        asyncio.create_task(consumer.run(create_consumer(notify, consumer.group, consumer.subscribed_topics), stop)),
    ]

    async def write(events: int) -> None:
        ids: list[str] = []

        async def work(session: AsyncClientSession, emit: Emit) -> None:
            ids.clear()  # a retried transaction starts again
            for _ in range(events):
                loan_id = uuid.uuid4().hex
                returned = Timestamp()
                returned.GetCurrentTime()
                event = OutboundEvent(
                    topic=LENDING_EVENTS.name,
                    key=f"title-{loan_id[:2]}",
                    payload=lending_events_pb2.LoanReturned(loan_id=loan_id, returned_at=returned),
                )
                ids.append(event.id)
                emit(event)

        await outbox.transaction(work)
        now = time.perf_counter()
        for event_id in ids:
            committed_at[event_id] = now

    try:
        # Warm up: the consumer joins its group and the first metadata requests are made.
        count.update(n=0, target=1)
        await write(1)
        await asyncio.wait_for(handled.wait(), 60)
        latencies.clear()
        for _ in range(samples):
            handled.clear()
            count.update(n=0, target=1)
            await write(1)
            await asyncio.wait_for(handled.wait(), 30)
        handled.clear()
        count.update(n=0, target=burst)
        started = time.perf_counter()
        for _ in range(burst // 50):
            await write(50)
        await asyncio.wait_for(handled.wait(), 600)
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await producer.stop()
        await dlq_producer.stop()
        for client, name in ((writer_client, lending.mongo_database), (reader_client, notify.mongo_database)):
            await client.drop_database(name)
            await client.close()
    return {
        "p50_ms": statistics.median(latencies),
        "p99_ms": percentile(latencies, 0.99),
        "events_per_second": burst / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3, help="report the median of this many runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sachso-bench-") as state:
        stack = LocalStack(Path(state))
        stack.start()
        try:
            env = read_env_file(Path(state) / "stack.env")
            results = [asyncio.run(run(env, args.samples, args.burst)) for _ in range(args.runs)]
        finally:
            stack.stop()
    for index, result in enumerate(results, 1):
        print(f"run {index}: " + ", ".join(f"{key}={value:.1f}" for key, value in result.items()))
    print(f"event round trip (outbox -> Kafka -> consumer), median of {args.runs} runs with the spread:")
    for key, figure, unit, lower in (
        ("p50_ms", "event round trip outbox -> Kafka -> consumer, p50", "ms", True),
        ("p99_ms", "event round trip, p99", "ms", True),
        ("events_per_second", "events/s sustained (transactions of 50)", "/s", False),
    ):
        record("events", figure, unit, Figure.of([result[key] for result in results]), lower_is_better=lower)


if __name__ == "__main__":
    main()
