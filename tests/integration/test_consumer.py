"""Idempotent consumers, retries, dead letters and replay, against the real servers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from google.protobuf.wrappers_pb2 import Int64Value, StringValue
from prometheus_client import REGISTRY
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from sachso.kit import events as ce
from sachso.kit.consumer import (
    DLQ_ERROR,
    DLQ_ORIGINAL_TOPIC,
    UNREGISTERED,
    UNTYPED,
    HandlerRegistry,
    IdempotentConsumer,
)
from sachso.kit.dead_letters import list_dead_letters, replay_dead_letters
from sachso.kit.events import KafkaRecord, ReceivedEvent
from sachso.kit.kafka import create_consumer, ensure_topics
from sachso.kit.s3 import create_s3_client, ensure_bucket
from sachso.kit.topics import TopicSpec, dead_letter_topic, prefixed, retry_topic
from tests.integration.conftest import IntegrationSettings
from tests.integration.kafka_helpers import read_topic, wait_until
from tests.integration.s3_helpers import remove_bucket, s3_settings

pytestmark = pytest.mark.integration

GROUP = "test-notify"
TOPIC = TopicSpec(name="holds", key="title id", partitions=2, retention_ms=3_600_000, description="test")
Document = dict[str, Any]


class Effects:
    """A handler whose effect is a document per event; it can be told to fail for some payloads."""

    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.collection = database["effects"]
        self.failing: set[str] = set()
        self.calls = 0

    async def handle(self, event: ReceivedEvent, session: AsyncClientSession) -> None:
        self.calls += 1
        value = event.payload.value  # type: ignore[attr-defined]
        await self.collection.insert_one({"event_id": event.id, "value": value}, session=session)
        if value in self.failing:
            raise ValueError(f"cannot handle {value}")


async def send(producer: AIOKafkaProducer, topic: str, value: str, event_id: str | None = None) -> str:
    event_id = event_id or f"evt-{value}"
    message = ce.encode(
        event_id=event_id,
        event_type="google.protobuf.StringValue",
        source="/sachso/lending",
        key="title-1",
        data=StringValue(value=value).SerializeToString(),
        time=datetime.now(UTC),
    )
    await producer.send_and_wait(topic, value=message.value, key=b"title-1", headers=list(message.headers.items()))
    return event_id


@contextlib.asynccontextmanager
async def consuming(
    settings: IntegrationSettings,
    handler: Any,
    database: AsyncDatabase[Document],
    mongo: Any,
    producer: AIOKafkaProducer,
) -> AsyncIterator[IdempotentConsumer]:
    """``handler`` handling StringValue events of ``TOPIC`` as group ``GROUP``, three attempts, quick backoff."""
    registry = HandlerRegistry(GROUP, [TOPIC.name])
    registry.register(StringValue, handler)
    await ensure_topics(settings, [TOPIC, retry_topic(GROUP), dead_letter_topic(GROUP)])
    consumer = IdempotentConsumer(
        registry,
        client=mongo,
        database=database,
        dead_letters=producer,
        topic_prefix=settings.kafka_topic_prefix,
        max_attempts=3,
        initial_backoff_seconds=0.01,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(
        consumer.run(create_consumer(settings, consumer.group, consumer.subscribed_topics), stop)
    )
    try:
        yield consumer
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)


@pytest.fixture
async def running(
    settings: IntegrationSettings, database: AsyncDatabase[Document], mongo: Any, producer: AIOKafkaProducer
) -> AsyncIterator[tuple[IdempotentConsumer, Effects]]:
    effects = Effects(database)
    async with consuming(settings, effects.handle, database, mongo, producer) as consumer:
        yield consumer, effects


async def test_redelivered_event_has_one_effect(
    running: tuple[IdempotentConsumer, Effects], settings: IntegrationSettings, producer: AIOKafkaProducer
) -> None:
    consumer, effects = running
    topic = prefixed(settings.kafka_topic_prefix, TOPIC.name)
    await send(producer, topic, "a", event_id="same-id")
    await send(producer, topic, "a", event_id="same-id")  # Kafka redelivery, or a duplicate from the relay
    await send(producer, topic, "b")
    # one key, one partition, in order: once "b" had its effect, both copies of "a" have been consumed
    await wait_until(lambda: _count(effects.collection, {"value": "b"}), within=30)
    assert await _handled(consumer, 2)
    assert await effects.collection.count_documents({"event_id": "same-id"}) == 1
    assert await effects.collection.count_documents({}) == 2


async def test_failing_event_is_retried_then_dead_lettered_and_replayed(
    running: tuple[IdempotentConsumer, Effects], settings: IntegrationSettings, producer: AIOKafkaProducer
) -> None:
    _consumer, effects = running
    topic = prefixed(settings.kafka_topic_prefix, TOPIC.name)
    effects.failing.add("poison")
    await send(producer, topic, "poison")
    await send(producer, topic, "after")  # the consumer is not stuck behind the poison event
    await wait_until(lambda: _count(effects.collection, {"value": "after"}), within=30)
    assert effects.calls == 4  # three attempts at the poison event, one at the next
    assert await effects.collection.count_documents({"value": "poison"}) == 0  # failed attempts left nothing

    letters = await list_dead_letters(settings, GROUP)
    assert [(letter.event_id, letter.event_type) for letter in letters] == [
        ("evt-poison", "google.protobuf.StringValue")
    ]
    assert "ValueError: cannot handle poison" in letters[0].error
    assert letters[0].original_topic == topic

    effects.failing.clear()  # the bug is fixed; replay
    assert await replay_dead_letters(settings, GROUP) == 1
    await wait_until(lambda: _count(effects.collection, {"value": "poison"}), within=30)
    assert await replay_dead_letters(settings, GROUP) == 0  # each letter is replayed once


async def test_an_event_that_meets_a_bucket_not_made_yet_waits_for_it_and_is_never_dead_lettered(
    settings: IntegrationSettings,
    stack_env: dict[str, str],
    database: AsyncDatabase[Document],
    mongo: Any,
    producer: AIOKafkaProducer,
    namespace: str,
) -> None:
    """A pod makes its bucket in the background; a consumer that begins first and reads a file meets NoSuchBucket
    from the real object store, more times than it has attempts: that is the store not ready, not the event bad."""
    async with create_s3_client(s3_settings(stack_env, namespace)) as s3:
        attempts: list[str] = []

        async def read_the_file(event: ReceivedEvent, session: AsyncClientSession) -> None:
            attempts.append(event.id)
            body = await (await s3.get_object(Bucket=namespace, Key="book"))["Body"].read()
            await database["effects"].insert_one({"event_id": event.id, "body": body}, session=session)

        try:
            async with consuming(settings, read_the_file, database, mongo, producer):
                await send(producer, prefixed(settings.kafka_topic_prefix, TOPIC.name), "ingested")
                await wait_until(lambda: _at_least(attempts, 5), within=30)  # more than its attempts, still trying
                # the pod's background set-up gets there, and the file is stored (a read between the two would meet
                # NoSuchKey: one counted attempt of three, where the backoff has grown past the few ms between them)
                await ensure_bucket(s3, namespace)
                await s3.put_object(Bucket=namespace, Key="book", Body=b"chapter")
                await wait_until(lambda: _count(database["effects"], {"body": b"chapter"}), within=60)
        finally:
            with contextlib.suppress(Exception):
                await remove_bucket(s3, namespace)
    assert await database["effects"].count_documents({}) == 1
    assert await list_dead_letters(settings, GROUP) == []


async def _at_least(items: Sequence[object], count: int) -> bool:
    return len(items) >= count


async def test_malformed_records_are_dead_lettered_with_the_reason(
    running: tuple[IdempotentConsumer, Effects], settings: IntegrationSettings, producer: AIOKafkaProducer
) -> None:
    _, effects = running
    topic = prefixed(settings.kafka_topic_prefix, TOPIC.name)
    headers = [("ce_type", b"google.protobuf.StringValue"), ("ce_id", b"x")]  # no source, no specversion
    await producer.send_and_wait(topic, value=b"\xff\xfe", key=b"k", headers=headers)
    wrong_payload = ce.encode(
        event_id="bad-payload",
        event_type="google.protobuf.StringValue",
        source="/test",
        key="k",
        data=b"\xff\xff\xff",
        time=datetime.now(UTC),
    )
    await producer.send_and_wait(
        topic, value=wrong_payload.value, key=b"k", headers=list(wrong_payload.headers.items())
    )
    other_type = ce.encode(
        event_id="other",
        event_type="google.protobuf.Int64Value",
        source="/test",
        key="k",
        data=Int64Value(value=1).SerializeToString(),
        time=datetime.now(UTC),
    )
    await producer.send_and_wait(topic, value=other_type.value, key=b"k", headers=list(other_type.headers.items()))
    await send(producer, topic, "good")
    await wait_until(lambda: _count(effects.collection, {"value": "good"}), within=30)

    dead = await read_topic(
        settings.kafka_bootstrap_servers,
        prefixed(settings.kafka_topic_prefix, dead_letter_topic(GROUP).name),
        expected=2,
    )
    errors = [dict(record.headers)[DLQ_ERROR].decode() for record in dead]
    assert len(errors) == 2
    assert "not a CloudEvents 1.0 binary-mode record" in errors[0]
    assert "payload is not a valid google.protobuf.StringValue" in errors[1]
    assert effects.calls == 1  # the event type without a handler was skipped, not dead-lettered


async def test_records_no_group_can_classify_are_dead_lettered_and_counted(
    running: tuple[IdempotentConsumer, Effects], settings: IntegrationSettings, producer: AIOKafkaProducer
) -> None:
    """No ``ce_type`` at all (no headers; other headers only; a structured-mode CloudEvent): dead-lettered with
    the reason and counted. A type that is named but not handled here is skipped — and counted."""
    consumer, effects = running
    topic = prefixed(settings.kafka_topic_prefix, TOPIC.name)

    def counted(type_label: str, outcome: str) -> float:
        value = REGISTRY.get_sample_value(
            "sachso_events_handled_total", {"group": consumer.group, "type": type_label, "outcome": outcome}
        )
        return value or 0.0

    await producer.send_and_wait(topic, value=b"no headers at all", key=b"k")
    await producer.send_and_wait(topic, value=b"{}", key=b"k", headers=[("traceparent", b"00-abc")])
    structured = b'{"specversion":"1.0","type":"google.protobuf.StringValue","id":"s","source":"/x"}'
    await producer.send_and_wait(
        topic, value=structured, key=b"k", headers=[("content-type", b"application/cloudevents+json")]
    )
    unknown = ce.encode(
        event_id="future",
        event_type="sachso.events.v9.SomethingNew",
        source="/test",
        key="k",
        data=b"",
        time=datetime.now(UTC),
    )
    await producer.send_and_wait(topic, value=unknown.value, key=b"k", headers=list(unknown.headers.items()))
    await send(producer, topic, "after")
    await wait_until(lambda: _count(effects.collection, {"value": "after"}), within=30)

    dead = await read_topic(
        settings.kafka_bootstrap_servers,
        prefixed(settings.kafka_topic_prefix, dead_letter_topic(GROUP).name),
        expected=3,
    )
    assert [record.value for record in dead] == [b"no headers at all", b"{}", structured]
    for record in dead:
        headers = dict(record.headers)
        assert "no ce_type header" in headers[DLQ_ERROR].decode()
        assert headers[DLQ_ORIGINAL_TOPIC].decode() == topic
    assert counted(UNTYPED, "dead-lettered") == 3
    assert counted(UNREGISTERED, "skipped") == 1
    assert effects.calls == 1  # only "after"
    letters = await list_dead_letters(settings, GROUP)
    assert [letter.error.split(":")[0] for letter in letters] == ["no ce_type header"] * 3


async def _count(collection: AsyncCollection[Document], query: Document) -> bool:
    return await collection.count_documents(query) > 0


async def _handled(consumer: IdempotentConsumer, expected: int) -> bool:
    return await consumer.handled.count_documents({}) >= expected


class CountingScope:
    """A transaction scope that records what the consumer tells it."""

    def __init__(self) -> None:
        self.begun: list[list[str]] = []
        self.flushed = 0
        self.ended = 0

    async def begin(self, session: AsyncClientSession, events: Sequence[ReceivedEvent]) -> None:
        self.begun.append([event.id for event in events])

    async def before_commit(self, session: AsyncClientSession) -> None:
        self.flushed += 1

    def end(self, session: AsyncClientSession) -> None:
        self.ended += 1


def record(value: str, offset: int, event_id: str | None = None) -> KafkaRecord:
    message = ce.encode(
        event_id=event_id or f"evt-{value}",
        event_type="google.protobuf.StringValue",
        source="/sachso/lending",
        key="title-1",
        data=StringValue(value=value).SerializeToString(),
        time=datetime.now(UTC),
    )
    return KafkaRecord("holds", 0, offset, b"title-1", message.value, tuple(message.headers.items()))


async def test_a_batch_is_one_transaction_with_one_effect_per_event_and_a_bad_event_costs_only_a_retry(
    settings: IntegrationSettings, database: AsyncDatabase[Document], mongo: Any, producer: AIOKafkaProducer
) -> None:
    effects, scope = Effects(database), CountingScope()
    registry = HandlerRegistry(GROUP, [TOPIC.name], batch_size=50, scope=scope)
    registry.register(StringValue, effects.handle)
    await ensure_topics(settings, [TOPIC, retry_topic(GROUP), dead_letter_topic(GROUP)])
    consumer = IdempotentConsumer(
        registry, client=mongo, database=database, dead_letters=producer,
        topic_prefix=settings.kafka_topic_prefix, max_attempts=2, initial_backoff_seconds=0.01,
    )  # fmt: skip

    # a whole batch, with an event delivered twice inside it, commits once: one transaction, one effect each
    outcomes = await consumer.handle_batch([record("a", 0), record("a", 1), record("b", 2), record("c", 3)])
    assert outcomes == ["handled", "duplicate", "handled", "handled"]
    assert scope.begun == [["evt-a", "evt-b", "evt-c"]]
    assert (scope.flushed, scope.ended) == (1, 1)
    assert sorted([d["value"] async for d in effects.collection.find({})]) == ["a", "b", "c"]

    # redelivered after a crash: nothing happens again
    assert await consumer.handle_batch([record("b", 2), record("c", 3)]) == ["duplicate", "duplicate"]
    assert effects.calls == 3

    # a failing event: the batch leaves nothing, then each event is handled alone (the bad one dead-lettered)
    effects.failing.add("poison")
    outcomes = await consumer.handle_batch([record("d", 4), record("poison", 5), record("e", 6)])
    assert outcomes == ["handled", "dead-lettered", "handled"]
    assert sorted([d["value"] async for d in effects.collection.find({})]) == ["a", "b", "c", "d", "e"]
    assert await consumer.handled.count_documents({}) == 5
    assert scope.ended == len(scope.begun)  # every transaction's scope was closed, committed or not
