"""The transactional outbox against the real MongoDB-protocol server and Kafka-protocol broker."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from google.protobuf.wrappers_pb2 import StringValue
from prometheus_client import REGISTRY
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from stack import LocalStack

from sachso.kit import events as ce
from sachso.kit.events import KafkaRecord, OutboundEvent
from sachso.kit.health import DependencyProbe, kafka_check, mongo_check
from sachso.kit.http import create_http_app
from sachso.kit.kafka import create_producer, ensure_topics
from sachso.kit.outbox import Emit, KafkaEventPublisher, Outbox, OutboxRelay
from sachso.kit.topics import TopicSpec, prefixed
from tests.integration.conftest import IntegrationSettings
from tests.integration.kafka_helpers import read_topic, wait_until

pytestmark = pytest.mark.integration

TOPIC = TopicSpec(name="loans", key="title id", partitions=3, retention_ms=3_600_000, description="test")
Document = dict[str, Any]


def loan_event(number: int, title: str = "title-1") -> OutboundEvent:
    return OutboundEvent(topic=TOPIC.name, key=title, payload=StringValue(value=f"loan-{number}"), subject=title)


@pytest.fixture
async def outbox(settings: IntegrationSettings, database: AsyncDatabase[Document], mongo: Any) -> Outbox:
    outbox = Outbox(mongo, database, source="/sachso/itest")
    await outbox.ensure_indexes()
    await ensure_topics(settings, [TOPIC])
    return outbox


async def test_state_and_events_commit_together_or_not_at_all(
    outbox: Outbox, database: AsyncDatabase[Document]
) -> None:
    async def checkout(session: AsyncClientSession, emit: Emit) -> str:
        await database["loans"].insert_one({"_id": "loan-1", "title": "title-1"}, session=session)
        emit(loan_event(1))
        emit(loan_event(2))
        return "loan-1"

    assert await outbox.transaction(checkout) == "loan-1"
    assert await database["loans"].count_documents({}) == 1
    assert [doc["data"] for doc in await outbox.pending(10)] == [
        StringValue(value="loan-1").SerializeToString(),
        StringValue(value="loan-2").SerializeToString(),
    ]

    async def failing_checkout(session: AsyncClientSession, emit: Emit) -> None:
        await database["loans"].insert_one({"_id": "loan-2"}, session=session)
        emit(loan_event(3))
        raise RuntimeError("rule broken after the write")

    with pytest.raises(RuntimeError):
        await outbox.transaction(failing_checkout)
    assert await database["loans"].count_documents({}) == 1
    assert await outbox.count_pending() == 2


async def test_relay_publishes_cloudevents_in_order(
    outbox: Outbox, settings: IntegrationSettings, producer: AIOKafkaProducer
) -> None:
    for start in range(0, 20, 5):

        async def write(session: AsyncClientSession, emit: Emit, start: int = start) -> None:
            for number in range(start, start + 5):
                emit(loan_event(number))

        await outbox.transaction(write)
    relay = OutboxRelay(outbox, KafkaEventPublisher(producer), topic_prefix=settings.kafka_topic_prefix)
    assert await relay.publish_pending() == 20
    assert await outbox.count_pending() == 0

    records = await read_topic(
        settings.kafka_bootstrap_servers, prefixed(settings.kafka_topic_prefix, TOPIC.name), expected=20
    )
    decoded = [ce.decode(KafkaRecord.from_consumer_record(record)) for record in records]
    assert [event.payload.value for event in decoded] == [f"loan-{n}" for n in range(20)]  # type: ignore[attr-defined]
    assert {record.partition for record in records} == {records[0].partition}  # one key, one partition
    headers = dict(records[0].headers)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"google.protobuf.StringValue"
    assert headers["ce_source"] == b"/sachso/itest"
    assert headers["ce_subject"] == b"title-1"
    assert headers["content-type"] == b"application/protobuf"
    assert {"ce_id", "ce_time"} <= set(headers)
    assert records[0].key == b"title-1"
    assert len({event.id for event in decoded}) == 20


async def test_broker_outage_delays_events_but_loses_and_reorders_none(
    outbox: Outbox, settings: IntegrationSettings, local_stack: LocalStack, mongo: AsyncMongoClient[Document]
) -> None:
    """Stop the broker mid-stream: writes keep succeeding and the pod stays ready; after restart every event
    arrives, in order."""
    producer = create_producer(settings)
    await producer.start()
    relay = OutboxRelay(
        outbox,
        KafkaEventPublisher(producer),
        topic_prefix=settings.kafka_topic_prefix,
        poll_seconds=0.1,
        max_backoff_seconds=0.5,
    )
    stop = asyncio.Event()
    relay_task = asyncio.create_task(relay.run(stop))

    async def write(number: int) -> None:
        async def work(session: AsyncClientSession, emit: Emit) -> None:
            await session.client[outbox.collection.database.name]["loans"].insert_one(
                {"_id": f"loan-{number}"}, session=session
            )
            emit(loan_event(number, title=f"title-{number % 4}"))

        await outbox.transaction(work)

    total = 90
    try:
        for number in range(30):
            await write(number)
        await wait_until(lambda: _none_pending(outbox), within=30)
        await asyncio.to_thread(local_stack.stop_kafka)
        for number in range(30, 60):  # the broker is away: state changes still commit
            await write(number)
        assert await outbox.count_pending() >= 30
        # ...and the pod stays ready (it can still take writes); the broker's absence shows in the body and metrics
        probe = DependencyProbe({"kafka": kafka_check(producer)})
        await probe.probe_once()
        app = create_http_app(
            title="t", version="1", readiness={"mongodb": mongo_check(mongo)}, dependencies=probe.snapshot
        )
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pod") as pod:
            ready = await pod.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["dependencies"]["kafka"].startswith("failing")
        assert REGISTRY.get_sample_value("sachso_dependency_up", {"dependency": "kafka"}) == 0
        await asyncio.to_thread(local_stack.start_kafka)
        for number in range(60, total):
            await write(number)
        await wait_until(lambda: _none_pending(outbox), within=90)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(relay_task, 10)
        await producer.stop()

    records = await read_topic(
        settings.kafka_bootstrap_servers, prefixed(settings.kafka_topic_prefix, TOPIC.name), expected=total, within=60
    )
    first_seen: dict[str, int] = {}
    per_key: dict[bytes, list[int]] = {}
    for record in records:
        event = ce.decode(KafkaRecord.from_consumer_record(record))
        if event.id in first_seen:
            continue  # an at-least-once duplicate after the outage; consumers drop it by id
        number = int(event.payload.value.split("-")[1])  # type: ignore[attr-defined]
        first_seen[event.id] = number
        per_key.setdefault(record.key, []).append(number)
    assert sorted(first_seen.values()) == list(range(total))
    for numbers in per_key.values():
        assert numbers == sorted(numbers)
    assert await outbox.collection.database["loans"].count_documents({}) == total


async def _none_pending(outbox: Outbox) -> bool:
    return await outbox.count_pending() == 0
