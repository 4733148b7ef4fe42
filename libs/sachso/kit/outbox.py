"""Transactional outbox: state changes and the events they cause commit together; a relay publishes them.

A service runs its write inside :meth:`Outbox.transaction`; the events it emits are inserted into the
``outbox`` collection in the same MongoDB transaction, so either both the state change and its events exist or
neither does. :class:`OutboxRelay` publishes pending events in insertion order and marks them sent only after
the broker acknowledged them, so a broker outage delays events but never loses or reorders them (a retry may
publish an event twice; consumers are idempotent). One relay per service is active at a time (a lease in
MongoDB), so several replicas never interleave their publishing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from bson import ObjectId
from bson.binary import Binary
from pymongo import ASCENDING, AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from sachso.kit import events as ce
from sachso.kit.events import KafkaMessage, OutboundEvent
from sachso.kit.observability import EVENTS_PUBLISHED, OUTBOX_OLDEST_AGE, OUTBOX_PENDING, current_trace_headers
from sachso.kit.topics import prefixed
from sachso.kit.workers import run_until_stopped, wait

log = logging.getLogger(__name__)

T = TypeVar("T")
Document = dict[str, Any]
Emit = Callable[[OutboundEvent], None]
TransactionWork = Callable[[AsyncClientSession, Emit], Awaitable[T]]

SENT_RETENTION = timedelta(days=7)


class EventPublisher(Protocol):
    """Publishes encoded events in the order given; raises if any was not acknowledged."""

    async def publish(self, messages: Sequence[tuple[str, KafkaMessage]]) -> None: ...


class KafkaEventPublisher:
    """:class:`EventPublisher` over an aiokafka producer (order per partition is kept by the producer)."""

    def __init__(self, producer: Any) -> None:
        self._producer = producer

    async def publish(self, messages: Sequence[tuple[str, KafkaMessage]]) -> None:
        futures = [
            await self._producer.send(
                topic,
                value=message.value,
                key=message.key.encode() if isinstance(message.key, str) else message.key,
                headers=list(message.headers.items()),
            )
            for topic, message in messages
        ]
        for (topic, _), future in zip(messages, futures, strict=True):
            await future
            EVENTS_PUBLISHED.labels(topic=topic).inc()


class Outbox:
    """The outbox collection of one service's database."""

    def __init__(
        self,
        client: AsyncMongoClient[Document],
        database: AsyncDatabase[Document],
        *,
        source: str,
        collection: str = "outbox",
    ) -> None:
        self.client = client
        self.source = source
        self.collection = database[collection]
        self.leases = database[f"{collection}_leases"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("sent_at", ASCENDING), ("_id", ASCENDING)])
        # Sent events are kept a week for inspection, then MongoDB removes them.
        await self.collection.create_index("sent_at", expireAfterSeconds=int(SENT_RETENTION.total_seconds()))
        await self.collection.create_index("event_id")  # after a restore: which events the restored moment holds

    def _document(self, event: OutboundEvent, trace_headers: dict[str, str]) -> Document:
        return {
            "_id": ObjectId(),
            "event_id": event.id,
            "type": event.type,
            "topic": event.topic,
            "key": event.key,
            "subject": event.subject,
            "time": event.time,
            "data": Binary(event.payload.SerializeToString(deterministic=True)),
            "trace": trace_headers,
            "sent_at": None,
        }

    async def add(self, events: Sequence[OutboundEvent], session: AsyncClientSession) -> None:
        """Insert ``events`` as part of ``session``'s transaction."""
        if events:
            trace_headers = current_trace_headers()
            await self.collection.insert_many(
                [self._document(event, trace_headers) for event in events], session=session, ordered=True
            )

    async def transaction(self, work: TransactionWork[T]) -> T:
        """Run ``work(session, emit)`` in a transaction and store what it emitted in the same transaction.

        Transient errors (write conflicts, failover) re-run ``work`` from the start, as PyMongo's
        ``with_transaction`` prescribes, so ``work`` must do nothing outside the database.
        """
        async with self.client.start_session() as session:

            async def attempt(session: AsyncClientSession) -> T:
                emitted: list[OutboundEvent] = []
                result = await work(session, emitted.append)
                await self.add(emitted, session)
                return result

            return await session.with_transaction(attempt)

    async def pending(self, limit: int) -> list[Document]:
        cursor = self.collection.find({"sent_at": None}).sort("_id", ASCENDING).limit(limit)
        return [document async for document in cursor]

    async def mark_sent(self, ids: Sequence[ObjectId]) -> None:
        await self.collection.update_many({"_id": {"$in": list(ids)}}, {"$set": {"sent_at": datetime.now(UTC)}})

    async def count_pending(self) -> int:
        return await self.collection.count_documents({"sent_at": None})

    async def oldest_pending_age_seconds(self) -> float:
        """How long the oldest unpublished event has waited (0 when none waits): the relay's delay."""
        oldest = await self.collection.find_one({"sent_at": None}, {"_id": 1}, sort=[("_id", ASCENDING)])
        if oldest is None:
            return 0.0
        created: datetime = oldest["_id"].generation_time
        return max(0.0, (datetime.now(UTC) - created).total_seconds())


def _aware(moment: datetime) -> datetime:
    """MongoDB stores UTC; a client opened without ``tz_aware`` hands back naive datetimes."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class OutboxRelay:
    """Publishes an outbox's pending events to Kafka, in order, marking them sent after acknowledgement."""

    def __init__(
        self,
        outbox: Outbox,
        publisher: EventPublisher,
        *,
        topic_prefix: str = "",
        poll_seconds: float = 0.5,
        batch_size: int = 500,
        lease_seconds: float = 10.0,
        max_backoff_seconds: float = 5.0,
    ) -> None:
        self.outbox = outbox
        self.publisher = publisher
        self.topic_prefix = topic_prefix
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.owner = uuid.uuid4().hex
        self._wakeup = asyncio.Event()
        self._lease_until: datetime | None = None

    def _message(self, document: Document) -> tuple[str, KafkaMessage]:
        message = ce.encode(
            event_id=document["event_id"],
            event_type=document["type"],
            source=self.outbox.source,
            key=document["key"],
            data=bytes(document["data"]),
            time=_aware(document["time"]),
            subject=document.get("subject"),
            trace_headers=document.get("trace") or {},
        )
        return prefixed(self.topic_prefix, document["topic"]), message

    async def publish_pending(self) -> int:
        """Publish one batch of pending events; return how many were published."""
        documents = await self.outbox.pending(self.batch_size)
        if not documents:
            return 0
        await self.publisher.publish([self._message(document) for document in documents])
        await self.outbox.mark_sent([document["_id"] for document in documents])
        return len(documents)

    async def _hold_lease(self) -> bool:
        """Take or renew this relay's lease; only the holder publishes."""
        now = datetime.now(UTC)
        if self._lease_until and now < self._lease_until - timedelta(seconds=self.lease_seconds / 2):
            return True
        try:
            await self.outbox.leases.find_one_and_update(
                {"_id": "relay", "$or": [{"owner": self.owner}, {"expires_at": {"$lt": now}}]},
                {"$set": {"owner": self.owner, "expires_at": now + timedelta(seconds=self.lease_seconds)}},
                upsert=True,
            )
        except DuplicateKeyError:
            self._lease_until = None
            return False
        self._lease_until = now + timedelta(seconds=self.lease_seconds)
        return True

    async def _watch_inserts(self, stop: asyncio.Event) -> None:
        """Wake the relay as soon as an event is written (polling remains the fallback)."""
        while not stop.is_set():
            try:
                async with await self.outbox.collection.watch([{"$match": {"operationType": "insert"}}]) as stream:
                    async for _ in stream:
                        self._wakeup.set()
            except PyMongoError as error:
                log.debug("outbox change stream unavailable, polling", extra={"error": str(error)})
                await wait(stop, self.poll_seconds)

    async def _report_backlog(self) -> None:
        with contextlib.suppress(PyMongoError):
            OUTBOX_PENDING.labels(service=self.outbox.source).set(await self.outbox.count_pending())
            OUTBOX_OLDEST_AGE.labels(service=self.outbox.source).set(await self.outbox.oldest_pending_age_seconds())

    async def _one_pass(self) -> float | None:
        """Publish a batch if this relay holds the lease; 0 when more is pending, else the poll interval."""
        published = await self.publish_pending() if await self._hold_lease() else 0
        if published >= self.batch_size:
            return 0.0  # more is pending
        await self._report_backlog()  # caught up: report the backlog and wait for new events
        return self.poll_seconds

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set. Database and broker failures are retried with backoff; the events stay in
        the outbox meanwhile (the backlog, which the alerts need, is reported after each failure)."""
        watcher = asyncio.create_task(self._watch_inserts(stop))
        try:
            await run_until_stopped(
                "outbox relay",
                self._one_pass,
                stop,
                max_sleep=self.poll_seconds,
                wakeup=self._wakeup,
                initial_backoff=0.1,
                max_backoff=self.max_backoff_seconds,
                on_failure=self._report_backlog,
            )
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
