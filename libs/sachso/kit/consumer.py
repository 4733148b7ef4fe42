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

A group that handles many small events (notify: 10,000 holds ready at once) may ask for **batches**
(``HandlerRegistry(..., batch_size=100)``): the events of one fetch are then checked against the handled markers
with one query and handled, in order, in ONE transaction that inserts all their markers — a redelivered event
still has one effect, and a batch either commits whole or not at all. If anything in a batch fails, nothing of
it remains and its events are handled one by one as above (retries, dead letters), so one bad event costs its
neighbours only a second try. A :class:`TransactionScope` may join every transaction the consumer opens, to
read ahead for all its events at once and to write what its handlers buffered just before the commit.

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
from pymongo.errors import DuplicateKeyError

from sachso.kit import events as ce
from sachso.kit.dependencies import dependency_unavailable
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


def is_transient(error: BaseException) -> bool:
    """A failure of infrastructure, not of the event: retried until it passes, never dead-lettered. The same
    judgement as the HTTP and gRPC edges' 503 (:func:`sachso.kit.dependencies.dependency_unavailable`): an
    unreachable or busy database or object store, and a bucket not made yet (the pod makes it in the background,
    and a consumer may meet an event that needs a file first)."""
    return isinstance(error, DependencyUnavailable) or dependency_unavailable(error) is not None


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


class TransactionScope(Protocol):
    """Joins each transaction the consumer opens for handlers (one event, or a batch of them)."""

    async def begin(self, session: AsyncClientSession, events: Sequence[ReceivedEvent]) -> None:
        """The transaction starts (again, when it is re-run) and will handle ``events``, in this order."""

    async def before_commit(self, session: AsyncClientSession) -> None:
        """Every handler ran: write what they left for the end of the transaction."""

    def end(self, session: AsyncClientSession) -> None:
        """The transaction committed or was given up (forget what was kept for it)."""


class HandlerRegistry:
    """Which handler deals with which event type, for one consumer group. Built explicitly at bootstrap."""

    def __init__(
        self,
        group: str,
        topics: Sequence[str],
        *,
        batch_size: int = 1,
        scope: TransactionScope | None = None,
    ) -> None:
        self.group = group
        self.topics = tuple(topics)
        # Events handled in one transaction (1: each its own); see the module's docstring.
        self.batch_size = batch_size
        self.scope = scope
        self._handlers: dict[str, Handler] = {}
        self._preparations: dict[str, Preparation] = {}
        self._failures: dict[str, Callable[[ReceivedEvent, str], Awaitable[None]]] = {}

    def register(
        self,
        event_class: type[M],
        handler: TypedHandler[M],
        *,
        prepare: Callable[[ReceivedEvent[M]], Awaitable[None]] | None = None,
        dead_lettered: Callable[[ReceivedEvent[M], str], Awaitable[None]] | None = None,
    ) -> None:
        """Handle events of ``event_class`` with ``handler``, which runs in the transaction that records the event
        as handled; ``prepare``, if given, runs before it (long work that must not hold a transaction open).

        ``dead_lettered``, if given, runs after the event went to the dead-letter topic having failed every attempt
        (with the last error), so the service can show the failure where people look (an OCR page marked failed).

        All receive the event typed by ``event_class``: its payload is checked here, so handlers need no
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
        if dead_lettered is not None:
            typed_failure = dead_lettered

            async def failure_typed(event: ReceivedEvent, error: str) -> None:
                await typed_failure(_narrowed(event, event_class), error)

            self._failures[name] = failure_typed

    def handler_for(self, event_type: str | None) -> Handler | None:
        return self._handlers.get(event_type or "")

    def failure_for(self, event_type: str | None) -> Callable[[ReceivedEvent, str], Awaitable[None]] | None:
        return self._failures.get(event_type or "")

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
            except Exception as error:
                if is_transient(error):
                    log.warning("dependency unavailable, will retry", extra={"group": self.group, "error": repr(error)})
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.max_backoff_seconds)
                    continue
                attempt += 1
                log.warning(
                    "event handler failed",
                    extra={"group": self.group, "event_id": event.id, "type": event.type, "attempt": attempt},
                    exc_info=True,
                )
                if attempt == self.max_attempts:
                    reason = f"{type(error).__name__}: {error}"
                    await self._dead_letter(record, reason, attempts=attempt)
                    EVENTS_HANDLED.labels(group=self.group, type=event.type, outcome="dead-lettered").inc()
                    await self._report_failure(event, reason)
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
        try:
            await self._in_transaction([(event, handler)])
        except DuplicateKeyError:
            # Another member of the group handled it concurrently (a rebalance); the handler's own
            # duplicate keys are real errors.
            if await self.handled.find_one(marker, projection={"_id": 1}):
                return "duplicate"
            raise
        return "handled"

    async def _in_transaction(self, work: Sequence[tuple[ReceivedEvent, Handler]]) -> None:
        """Record ``work``'s events as handled and run their handlers, in order, in one transaction."""
        scope = self.registry.scope
        now = datetime.now(UTC)
        markers = [
            {"_id": f"{self.registry.group}:{event.id}", "type": event.type, "handled_at": now} for event, _ in work
        ]
        async with self.client.start_session() as session:

            async def in_transaction(session: AsyncClientSession) -> None:
                # The markers commit with the handlers' writes: all happen once, or none.
                if scope is not None:
                    await scope.begin(session, [event for event, _ in work])
                if len(markers) == 1:
                    await self.handled.insert_one(markers[0], session=session)
                else:
                    await self.handled.insert_many(markers, session=session, ordered=True)
                for event, handler in work:
                    await handler(event, session)
                if scope is not None:
                    await scope.before_commit(session)

            try:
                await session.with_transaction(in_transaction)
            finally:
                if scope is not None:
                    scope.end(session)

    async def handle_batch(self, records: Sequence[KafkaRecord]) -> list[str]:
        """Handle ``records`` in order, ``registry.batch_size`` events per transaction where they allow it;
        return each record's outcome."""
        if self.registry.batch_size <= 1:
            return [await self.handle_record(record) for record in records]
        outcomes: list[str] = []
        run: list[tuple[KafkaRecord, ReceivedEvent, Handler]] = []

        async def flush() -> None:
            for start in range(0, len(run), self.registry.batch_size):
                outcomes.extend(await self._handle_together(run[start : start + self.registry.batch_size]))
            run.clear()

        for record in records:
            event_type = ce.event_type_of(record)
            handler = self.registry.handler_for(event_type)
            batchable = handler is not None and self.registry.preparation_for(event_type) is None
            event = None
            if batchable:
                try:
                    event = ce.decode(record)
                except MalformedEvent:
                    batchable = False
            if batchable and event is not None and handler is not None:
                run.append((record, event, handler))
                continue
            await flush()  # what came before, in order, then this record on its own
            outcomes.append(await self.handle_record(record))
        await flush()
        return outcomes

    async def _handle_together(self, run: Sequence[tuple[KafkaRecord, ReceivedEvent, Handler]]) -> list[str]:
        """One transaction for the events of ``run`` not handled before; one by one if it fails."""
        ids = [f"{self.registry.group}:{event.id}" for _, event, _ in run]
        seen = {document["_id"] async for document in self.handled.find({"_id": {"$in": ids}}, {"_id": 1})}
        fresh: list[tuple[KafkaRecord, ReceivedEvent, Handler]] = []
        firsts: set[str] = set()
        for marker, item in zip(ids, run, strict=True):
            if marker not in seen and marker not in firsts:  # a duplicate inside the batch counts once too
                firsts.add(marker)
                fresh.append(item)
        started = time.perf_counter()
        try:
            if fresh:
                await self._in_transaction([(event, handler) for _, event, handler in fresh])
        except Exception as error:
            log.info(
                "batch failed, handling its events one by one",
                extra={"group": self.group, "events": len(fresh), "error": repr(error)},
            )
            return [await self.handle_record(record) for record, _, _ in run]
        if fresh:
            EVENT_HANDLING_SECONDS.labels(group=self.group).observe((time.perf_counter() - started) / len(fresh))
        outcomes = []
        fresh_ids = {id(item) for item in fresh}
        for item in run:
            outcome = "handled" if id(item) in fresh_ids else "duplicate"
            EVENTS_HANDLED.labels(group=self.group, type=item[1].type, outcome=outcome).inc()
            outcomes.append(outcome)
        return outcomes

    async def _report_failure(self, event: ReceivedEvent, reason: str) -> None:
        failed = self.registry.failure_for(event.type)
        if failed is None:
            return
        try:
            await failed(event, reason)
        except Exception:  # the dead letter is kept either way; replaying it is the remedy
            log.exception("recording a dead-lettered event's failure failed", extra={"group": self.group})

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
                batches: Mapping[Any, list[Any]] = await consumer.getmany(
                    timeout_ms=200, max_records=max(200, self.registry.batch_size)
                )
                # every partition's records in their order (the order between partitions means nothing)
                await self.handle_batch(
                    [KafkaRecord.from_consumer_record(record) for records in batches.values() for record in records]
                )
                if batches:
                    await consumer.commit()
                if time.monotonic() - lag_reported >= LAG_REPORT_SECONDS:
                    await self._report_lag(consumer)
                    lag_reported = time.monotonic()
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
