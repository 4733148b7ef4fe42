"""Deliveries waiting to be sent, in MongoDB: written in the same transaction as the handled-event marker,
claimed and settled by the sender.

A delivery is ``pending`` (with ``not_before``: now, the end of quiet hours, or a retry time), ``sending``
(claimed by one sender until ``lease_until``; a crashed sender's claims are taken over when the lease runs out),
then ``sent`` or ``failed``. The key is (notice id, channel[, device]), so a notice is delivered to a channel
once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pymongo import ASCENDING, UpdateMany, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from notify.adapters.projections import utc
from notify.domain.deliveries import Delivery, Outcome
from notify.domain.notices import Channel, Language, Notice, RenderedNotice
from notify.domain.planning import PlannedDelivery

Document = dict[str, Any]
SENT_RETENTION = timedelta(days=30)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


def delivery_document(
    planned: PlannedDelivery,
    notice: Notice,
    *,
    recipient_name: str,
    language: Language,
    rendered: RenderedNotice,
    created_at: datetime,
) -> Document:
    push = planned.channel is Channel.PUSH
    return {
        "_id": planned.id,
        "notice_id": notice.id,
        "kind": notice.kind.value,
        "patron_id": notice.patron_id,
        "channel": planned.channel.value,
        "target": planned.target,
        "recipient_name": recipient_name,
        "language": language.value,
        "subject": rendered.subject,
        "summary": rendered.summary,
        # a push message carries only the short text; the email parts are kept for email deliveries
        "text": "" if push else rendered.text,
        "html": "" if push else rendered.html,
        "status": DeliveryStatus.PENDING.value,
        "not_before": planned.not_before,
        "attempts": 0,
        "created_at": created_at,
        "sent_at": None,
        "last_error": None,
    }


def _delivery(document: Document) -> Delivery:
    return Delivery(
        id=document["_id"],
        notice_id=document["notice_id"],
        kind=document["kind"],
        patron_id=document["patron_id"],
        channel=Channel(document["channel"]),
        target=document["target"],
        recipient_name=document.get("recipient_name", ""),
        language=Language(document["language"]),
        subject=document["subject"],
        summary=document["summary"],
        text=document.get("text", ""),
        html=document.get("html", ""),
        attempts=int(document.get("attempts", 0)),
        claim=document.get("claim"),
        due_at=utc(document.get("not_before")),
    )


class MongoDeliveries:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.collection = database["deliveries"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("status", ASCENDING), ("not_before", ASCENDING)])
        await self.collection.create_index("claim", sparse=True)
        await self.collection.create_index("patron_id")
        # sent messages are kept a month for questions ("did you email me?"), then MongoDB removes them
        await self.collection.create_index("sent_at", expireAfterSeconds=int(SENT_RETENTION.total_seconds()))

    async def add(self, documents: Sequence[Document], session: AsyncClientSession) -> None:
        if documents:
            await self.collection.insert_many(list(documents), session=session, ordered=True)

    async def claim_due(
        self, now: datetime, *, limit: int, lease: timedelta, session: AsyncClientSession | None = None
    ) -> list[Delivery]:
        """Claim up to ``limit`` deliveries due now (and any whose sender's lease ran out) for this sender."""
        # Two queries on the (status, not_before) index, not one $or: a server may answer an $or by scanning
        # the whole collection, which keeps a month of sent deliveries (SecantusDB does, for the find and the
        # update alike).
        due = {"status": DeliveryStatus.PENDING.value, "not_before": {"$lte": now}}
        lapsed = {"status": DeliveryStatus.SENDING.value, "lease_until": {"$lt": now}}
        documents: list[Document] = []
        for query in (lapsed, due):  # work a lapsed sender left behind first: it has waited longest
            cursor = self.collection.find(query, session=session).sort("not_before", ASCENDING)
            documents += [document async for document in cursor.limit(limit - len(documents))]
            if len(documents) >= limit:
                break
        if not documents:
            return []
        claim = uuid.uuid4().hex
        taken = {"$set": {"status": DeliveryStatus.SENDING.value, "claim": claim, "lease_until": now + lease}}
        modified = 0
        for query, status in ((due, DeliveryStatus.PENDING), (lapsed, DeliveryStatus.SENDING)):
            ids = [document["_id"] for document in documents if document["status"] == status.value]
            if ids:  # still as found: another sender may have claimed some meanwhile
                result = await self.collection.update_many({"_id": {"$in": ids}, **query}, taken, session=session)
                modified += result.modified_count
        if modified == len(documents):  # all ours (the usual case: no other sender raced us)
            return [_delivery({**document, "claim": claim}) for document in documents]
        return [_delivery(document) async for document in self.collection.find({"claim": claim}, session=session)]

    async def settle(
        self, outcomes: Sequence[Outcome], now: datetime, session: AsyncClientSession | None = None
    ) -> None:
        """Record how each claimed delivery went (only if this sender still holds its claim)."""
        # The sent ones of a claim with one statement (the usual outcome: a statement per document costs the
        # database twice as much); each failure and retry with its own error.
        sent: dict[str | None, list[str]] = {}
        updates: list[UpdateOne | UpdateMany] = []
        for outcome in outcomes:
            delivery = outcome.delivery
            if outcome.sent:
                sent.setdefault(delivery.claim, []).append(delivery.id)
                continue
            attempts = delivery.attempts + 1
            if outcome.failed or outcome.retry_at is None:
                change: Document = {"status": DeliveryStatus.FAILED.value, "failed_at": now, "attempts": attempts}
            else:
                change = {"status": DeliveryStatus.PENDING.value, "not_before": outcome.retry_at, "attempts": attempts}
            if outcome.error:
                change["last_error"] = outcome.error[:1000]
            updates.append(
                UpdateOne({"_id": delivery.id, "claim": delivery.claim}, {"$set": change, "$unset": {"claim": ""}})
            )
        done = {"$set": {"status": DeliveryStatus.SENT.value, "sent_at": now}, "$inc": {"attempts": 1}}
        for claim, ids in sent.items():  # counting attempts up is safe: the claim keeps other senders away
            updates.append(UpdateMany({"_id": {"$in": ids}, "claim": claim}, {**done, "$unset": {"claim": ""}}))
        if updates:
            await self.collection.bulk_write(updates, ordered=False, session=session)

    async def next_due(self) -> datetime | None:
        document = await self.collection.find_one(
            {"status": DeliveryStatus.PENDING.value}, {"not_before": 1}, sort=[("not_before", ASCENDING)]
        )
        return utc(document["not_before"]) if document else None

    async def for_notice(self, notice_id: str) -> list[Document]:
        """Every delivery of one notice (operators and tests look at them)."""
        return [document async for document in self.collection.find({"notice_id": notice_id})]
