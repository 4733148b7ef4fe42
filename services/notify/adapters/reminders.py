"""Reminders in MongoDB: written with the event that causes them, fired by the scheduler, survive restarts.

A reminder is ``scheduled`` until the scheduler fires it (a conditional update inside the transaction that
writes its deliveries, so two replicas fire it once) or an event cancels it (the loan returned, the hold
borrowed or cancelled).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from notify.adapters.projections import utc
from notify.domain.notices import NoticeKind
from notify.domain.schedule import Reminder

Document = dict[str, Any]
SCHEDULED = "scheduled"
FIRED = "fired"
CANCELLED = "cancelled"


def _reminder(document: Document) -> Reminder:
    deadline = utc(document["deadline"])
    fire_at = utc(document["fire_at"])
    assert deadline is not None
    assert fire_at is not None
    return Reminder(
        id=document["_id"],
        kind=NoticeKind(document["kind"]),
        patron_id=document["patron_id"],
        subject_id=document["subject_id"],
        title_id=document["title_id"],
        deadline=deadline,
        fire_at=fire_at,
    )


def reminder_document(reminder: Reminder) -> Document:
    """A scheduled reminder's fields (without its ``_id``, which is the reminder's id)."""
    return {
        "kind": reminder.kind.value,
        "patron_id": reminder.patron_id,
        "subject_id": reminder.subject_id,
        "title_id": reminder.title_id,
        "deadline": reminder.deadline,
        "fire_at": reminder.fire_at,
        "status": SCHEDULED,
    }


class MongoReminders:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.collection = database["reminders"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("status", ASCENDING), ("fire_at", ASCENDING)])
        await self.collection.create_index("subject_id")
        await self.collection.create_index([("patron_id", ASCENDING), ("title_id", ASCENDING)])

    async def schedule(self, reminder: Reminder, session: AsyncClientSession) -> None:
        """Schedule ``reminder`` unless it exists (fired or not): one reminder per deadline."""
        await self.collection.update_one(
            {"_id": reminder.id}, {"$setOnInsert": reminder_document(reminder)}, upsert=True, session=session
        )

    async def cancel_for(self, subject_id: str, session: AsyncClientSession) -> None:
        """Cancel what is still scheduled about a loan or a hold."""
        await self.collection.update_many(
            {"subject_id": subject_id, "status": SCHEDULED}, {"$set": {"status": CANCELLED}}, session=session
        )

    async def cancel_hold_reminders(self, patron_id: str, title_id: str, session: AsyncClientSession) -> None:
        """She borrowed the title: whatever hold of hers was ready for it needs no reminder."""
        await self.collection.update_many(
            {"patron_id": patron_id, "title_id": title_id, "kind": NoticeKind.HOLD_LAPSING.value, "status": SCHEDULED},
            {"$set": {"status": CANCELLED}},
            session=session,
        )

    async def due(self, now: datetime, limit: int) -> list[Reminder]:
        cursor = self.collection.find({"status": SCHEDULED, "fire_at": {"$lte": now}}).sort("fire_at", 1).limit(limit)
        return [_reminder(document) async for document in cursor]

    async def fire(self, reminder_id: str, at: datetime, session: AsyncClientSession) -> bool:
        """Mark the reminder fired; False if it was fired or cancelled meanwhile."""
        result = await self.collection.update_one(
            {"_id": reminder_id, "status": SCHEDULED}, {"$set": {"status": FIRED, "fired_at": at}}, session=session
        )
        return result.modified_count == 1

    async def next_fire_at(self) -> datetime | None:
        document = await self.collection.find_one({"status": SCHEDULED}, {"fire_at": 1}, sort=[("fire_at", 1)])
        return utc(document["fire_at"]) if document else None

    async def status_of(self, reminder_id: str) -> str | None:
        document = await self.collection.find_one({"_id": reminder_id}, {"status": 1})
        return str(document["status"]) if document else None
