"""Idempotent Kafka consumers with retries and a dead-letter topic.

A consumer group maps event types (protobuf message classes) to handlers, registered with their type —
``registry.register(LoanCreated, handler)`` where ``handler(event: ReceivedEvent[LoanCreated], session)`` — so
the payload a handler receives is already the right message (checked here, once). For each record it:
1. skips, and counts, records whose ``ce_type`` names a type it has no handler for (a topic carries many types,
   and a newer producer may add types an older consumer does not know: CloudEvents consumers ignore those);
2. sends records it cannot even classify — no ``ce_type`` header at all (no headers, a structured-mode or
   foreign record) — and undecodable records of a type it handles straight to the group's dead-letter topic
   with the reason: every group that reads the topic sees the defect, none drops it silently;
3. runs the handler and records ``(group, event id)`` as handled in the SAME MongoDB transaction, so a
   redelivered event has exactly one effect on the database;
4. retries a failing handler with exponential backoff, and after ``max_attempts`` failures sends the event to
   ``<group>.dlq`` with the error — offsets are committed only once every record was handled or dead-lettered,
   so nothing is lost if the process dies.

``python -m sachso.kit.dead_letters`` lists dead letters and replays them onto ``<group>.retry``, which only
this group reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar, cast

from google.protobuf import symbol_database
from google.protobuf.message import Message
from opentelemetry import context as otel_context
from opentelemetry import trace
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, DuplicateKeyError

from sachso.kit import events as ce
from sachso.kit.errors import DependencyUnavailable
from sachso.kit.events import KafkaRecord, MalformedEvent, ReceivedEvent
from sachso.kit.observability import (
    CONSUMER_LAG,
    EVENT_HANDLING_SECONDS,
    EVENTS_DEAD_LETTERED,
    EVENTS_HANDLED,
    context_from_headers,
)
from sachso.kit.topics import dead_letter_topic, prefixed, retry_topic

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Document = dict[str, Any]
M = TypeVar("M", bound=Message)
Handler = Callable[[ReceivedEvent, AsyncClientSession], Awaitable[None]]
# A handler of one event type: its payload is an ``M``.
TypedHandler = Callable[[ReceivedEvent[M], AsyncClientSession], Awaitable[None]]
# Slow work outside the database (OCR of a page) done before the handler's transaction opens, on every attempt;
# it must be safe to repeat (it writes nothing the handler's transaction does not decide on).
Preparation = Callable[[ReceivedEvent], Awaitable[None]]

# Failures of infrastructure, not of the event: retried until they pass, never dead-lettered.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (ConnectionFailure, DependencyUnavailable)

# Headers added to a dead letter (the original ce_* headers, key and value are kept as they were).
DLQ_ERROR = "sachso_dlq_error"
DLQ_ORIGINAL_TOPIC = "sachso_dlq_original_topic"
DLQ_ORIGINAL_PARTITION = "sachso_dlq_original_partition"
DLQ_ORIGINAL_OFFSET = "sachso_dlq_original_offset"
DLQ_ATTEMPTS = "sachso_dlq_attempts"
DLQ_FAILED_AT = "sachso_dlq_failed_at"
DLQ_HEADERS = (
    DLQ_ERROR,
    DLQ_ORIGINAL_TOPIC,
    DLQ_ORIGINAL_PARTITION,
    DLQ_ORIGINAL_OFFSET,
    DLQ_ATTEMPTS,
    DLQ_FAILED_AT,
)


# Metric labels for records without a type, and for types no contract in proto/ defines (a label per arbitrary
# header value would let one bad producer flood the metrics).
UNTYPED = "(none)"
UNREGISTERED = "(unregistered)"


def _type_label(event_type: str) -> str:
    try:
        symbol_database.Default().GetSymbol(event_type)
    except KeyError:
        return UNREGISTERED
    return event_type


class RawPublisher(Protocol):
    """Sends one record and waits for the broker's acknowledgement."""

    async def send_and_wait(
        self, topic: str, value: bytes | None, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> Any: ...


# How often a consumer reports its lag (sachso_consumer_lag); KEDA reads the lag from Kafka itself.
LAG_REPORT_SECONDS = 5.0

# Longer than the domain topics' retention (14 days) plus the dead-letter topics' (30 days).
MARKER_RETENTION = timedelta(days=45)


class HandlerRegistry:
    """Which handler deals with which event type, for one consumer group. Built explicitly at bootstrap."""

    def __init__(self, group: str, topics: Sequence[str]) -> None:
        self.group = group
        self.topics = tuple(topics)
        self._handlers: dict[str, Handler] = {}
        self._preparations: dict[str, Preparation] = {}

    def register(
        self,
        event_class: type[M],
        handler: TypedHandler[M],
        *,
        prepare: Callable[[ReceivedEvent[M]], Awaitable[None]] | None = None,
    ) -> None:
        """Handle events of ``event_class`` with ``handler``, which runs in the transaction that records the event
        as handled; ``prepare``, if given, runs before it (long work that must not hold a transaction open).

        Both receive the event typed by ``event_class``: its payload is checked here, so handlers need no
        ``isinstance``.
        """
        name = str(event_class.DESCRIPTOR.full_name)
        if name in self._handlers:
            raise ValueError(f"{self.group}: two handlers for {name}")

        async def typed(event: ReceivedEvent, session: AsyncClientSession) -> None:
            await handler(_narrowed(event, event_class), session)

        self._handlers[name] = typed
        if prepare is not None:
            typed_prepare = prepare

            async def prepare_typed(event: ReceivedEvent) -> None:
                await typed_prepare(_narrowed(event, event_class))

            self._preparations[name] = prepare_typed

    def handler_for(self, event_type: str | None) -> Handler | None:
        return self._handlers.get(event_type or "")

    def preparation_for(self, event_type: str | None) -> Preparation | None:
        return self._preparations.get(event_type or "")

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._handlers)


def _narrowed(event: ReceivedEvent, event_class: type[M]) -> ReceivedEvent[M]:
    """``event`` as an event of ``event_class`` (its ``ce_type`` named that class, so decoding built one)."""
    if not isinstance(event.payload, event_class):
        raise TypeError(f"{event.type} event carries a {type(event.payload).__name__}, not a {event_class.__name__}")
    return cast("ReceivedEvent[M]", event)


class IdempotentConsumer:
    """Handles the records of one consumer group; the Kafka loop is in :meth:`run`."""

    def __init__(
        self,
        registry: HandlerRegistry,
        *,
        client: AsyncMongoClient[Document],
        database: AsyncDatabase[Document],
        dead_letters: RawPublisher,
        topic_prefix: str = "",
        max_attempts: int = 5,
        initial_backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        self.registry = registry
        self.client = client
        self.handled = database["handled_events"]
        self.dead_letters = dead_letters
        self.topic_prefix = topic_prefix
        self.max_attempts = max_attempts
        self.initial_backoff_seconds = initial_backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds

    @property
    def group(self) -> str:
        return prefixed(self.topic_prefix, self.registry.group)

    @property
    def subscribed_topics(self) -> list[str]:
        topics = [*self.registry.topics, retry_topic(self.registry.group).name]
        return [prefixed(self.topic_prefix, topic) for topic in topics]

    async def handle_record(self, record: KafkaRecord) -> str:
        """Handle one record; return the outcome (``handled``, ``duplicate``, ``skipped``, ``dead-lettered``)."""
        event_type = ce.event_type_of(record)
        if not event_type:
            reason = "no ce_type header: not a CloudEvents binary-mode record, no group can classify it"
            await self._dead_letter(record, reason, attempts=0)
            EVENTS_HANDLED.labels(group=self.group, type=UNTYPED, outcome="dead-lettered").inc()
            return "dead-lettered"
        handler = self.registry.handler_for(event_type)
        if handler is None:
            EVENTS_HANDLED.labels(group=self.group, type=_type_label(event_type), outcome="skipped").inc()
            return "skipped"
        try:
            event = ce.decode(record)
        except MalformedEvent as error:
            await self._dead_letter(record, str(error), attempts=0)
            EVENTS_HANDLED.labels(group=self.group, type=event_type, outcome="dead-lettered").inc()
            return "dead-lettered"
        token = otel_context.attach(context_from_headers(event.trace_headers))
        try:
            with tracer.start_as_current_span(f"consume {event.type}", kind=trace.SpanKind.CONSUMER):
                return await self._handle_with_retries(event, record, handler)
        finally:
            otel_context.detach(token)

    async def _handle_with_retries(self, event: ReceivedEvent, record: KafkaRecord, handler: Handler) -> str:
        backoff = self.initial_backoff_seconds
        attempt = 0
        while attempt < self.max_attempts:
            started = time.perf_counter()
            try:
                outcome = await self._handle_once(event, handler)
            except TRANSIENT_ERRORS as error:
                log.warning("dependency unavailable, will retry", extra={"group": self.group, "error": repr(error)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_seconds)
                continue
            except Exception as error:
                attempt += 1
                log.warning(
                    "event handler failed",
                    extra={"group": self.group, "event_id": event.id, "type": event.type, "attempt": attempt},
                    exc_info=True,
                )
                if attempt == self.max_attempts:
                    await self._dead_letter(record, f"{type(error).__name__}: {error}", attempts=attempt)
                    EVENTS_HANDLED.labels(group=self.group, type=event.type, outcome="dead-lettered").inc()
                    return "dead-lettered"
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_seconds)
                continue
            EVENT_HANDLING_SECONDS.labels(group=self.group).observe(time.perf_counter() - started)
            EVENTS_HANDLED.labels(group=self.group, type=event.type, outcome=outcome).inc()
            return outcome
        raise AssertionError("unreachable")

    async def _handle_once(self, event: ReceivedEvent, handler: Handler) -> str:
        marker = {"_id": f"{self.registry.group}:{event.id}"}
        if await self.handled.find_one(marker, projection={"_id": 1}):
            return "duplicate"
        prepare = self.registry.preparation_for(event.type)
        if prepare is not None:
            await prepare(event)
        async with self.client.start_session() as session:

            async def in_transaction(session: AsyncClientSession) -> None:
                # The marker commits with the handler's writes: both happen once, or neither.
                await self.handled.insert_one(
                    {**marker, "type": event.type, "handled_at": datetime.now(UTC)}, session=session
                )
                await handler(event, session)

            try:
                await session.with_transaction(in_transaction)
            except DuplicateKeyError:
                # Another member of the group handled it concurrently (a rebalance); the handler's own
                # duplicate keys are real errors.
                if await self.handled.find_one(marker, projection={"_id": 1}):
                    return "duplicate"
                raise
        return "handled"

    async def _dead_letter(self, record: KafkaRecord, error: str, *, attempts: int) -> None:
        headers = [(name, value) for name, value in record.headers if name not in DLQ_HEADERS]
        headers += [
            (DLQ_ERROR, error[:4000].encode()),
            (DLQ_ORIGINAL_TOPIC, record.topic.encode()),
            (DLQ_ORIGINAL_PARTITION, str(record.partition).encode()),
            (DLQ_ORIGINAL_OFFSET, str(record.offset).encode()),
            (DLQ_ATTEMPTS, str(attempts).encode()),
            (DLQ_FAILED_AT, datetime.now(UTC).isoformat().encode()),
        ]
        topic = prefixed(self.topic_prefix, dead_letter_topic(self.registry.group).name)
        await self.dead_letters.send_and_wait(topic, value=record.value, key=record.key, headers=headers)
        EVENTS_DEAD_LETTERED.labels(group=self.group).inc()
        log.error(
            "event dead-lettered",
            extra={"group": self.group, "topic": record.topic, "offset": record.offset, "error": error},
        )

    async def _report_lag(self, consumer: Any) -> None:
        """Records between this pod's position and the end of each topic it reads (from the last fetches)."""
        lag: dict[str, int] = {}
        for partition in consumer.assignment():
            highwater = consumer.highwater(partition)
            if highwater is None:
                continue
            position = await consumer.position(partition)
            lag[partition.topic] = lag.get(partition.topic, 0) + max(0, highwater - position)
        for topic, records in lag.items():
            CONSUMER_LAG.labels(group=self.group, topic=topic).set(records)

    async def ensure_indexes(self) -> None:
        """Handled-event markers outlive every way an event can come back (topic retention, dead-letter replay)."""
        await self.handled.create_index("handled_at", expireAfterSeconds=int(MARKER_RETENTION.total_seconds()))

    async def run(self, consumer: Any, stop: asyncio.Event) -> None:
        """Consume with ``consumer`` (an aiokafka consumer subscribed to :attr:`subscribed_topics`)."""
        await self.ensure_indexes()
        await consumer.start()
        lag_reported = 0.0
        try:
            while not stop.is_set():
                batches: Mapping[Any, list[Any]] = await consumer.getmany(timeout_ms=200, max_records=200)
                for records in batches.values():
                    for record in records:
                        await self.handle_record(KafkaRecord.from_consumer_record(record))
                if batches:
                    await consumer.commit()
                if time.monotonic() - lag_reported >= LAG_REPORT_SECONDS:
                    await self._report_lag(consumer)
                    lag_reported = time.monotonic()
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
