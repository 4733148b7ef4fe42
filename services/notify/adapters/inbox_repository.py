"""The inbox in MongoDB: one document per message, listed newest first per patron.

``stored_at`` is when the message was written (``created_at`` is when its cause happened): the live stream's
polling fallback reads by it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from notify.adapters.projections import utc
from notify.domain.inbox import InboxMessage
from notify.domain.notices import Language, NoticeKind
from notify.service_layer.repositories import InboxChangesUnavailable, InboxStoreUnavailable
from sachso.kit.workers import wait

Document = dict[str, Any]


class MongoInbox:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.collection = database["inbox"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("patron_id", 1), ("created_at", DESCENDING), ("_id", DESCENDING)])
        await self.collection.create_index([("patron_id", 1), ("read_at", 1)])
        await self.collection.create_index("stored_at")

    async def add(self, message: InboxMessage, session: AsyncClientSession | None = None) -> None:
        await self.collection.insert_one(inbox_document(message, stored_at=datetime.now(UTC)), session=session)

    async def list_for(self, patron_id: str, *, limit: int, unread_only: bool = False) -> list[InboxMessage]:
        query: Document = {"patron_id": patron_id}
        if unread_only:
            query["read_at"] = None
        cursor = self.collection.find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return [message_from(document) async for document in cursor]

    async def newer_than(self, patron_id: str, message_id: str, *, limit: int = 100) -> list[InboxMessage]:
        """``patron_id``'s messages stored after her message ``message_id``, oldest first (stream resumption)."""
        anchor = await self.collection.find_one({"_id": message_id, "patron_id": patron_id}, {"stored_at": 1})
        if anchor is None:
            return []
        cursor = (
            self.collection.find({"patron_id": patron_id, "stored_at": {"$gte": anchor["stored_at"]}})
            .sort([("stored_at", ASCENDING), ("_id", ASCENDING)])
            .limit(limit + 1)
        )
        return [message_from(document) async for document in cursor if document["_id"] != message_id][:limit]

    async def stored_since(self, patron_ids: Iterable[str], since: datetime) -> list[InboxMessage]:
        """Messages of ``patron_ids`` stored at or after ``since``, oldest first (the stream's polling)."""
        cursor = self.collection.find({"patron_id": {"$in": sorted(set(patron_ids))}, "stored_at": {"$gte": since}})
        try:
            return [message_from(document) async for document in cursor.sort("stored_at", ASCENDING)]
        except PyMongoError as error:
            raise InboxStoreUnavailable(str(error)) from error

    async def follow(
        self, stop: asyncio.Event, publish: Callable[[InboxMessage], None], opened: Callable[[], None]
    ) -> None:
        """Every message inserted from now on, to ``publish`` (a change stream), until ``stop``."""
        try:
            async with await self.collection.watch([{"$match": {"operationType": "insert"}}]) as stream:
                opened()
                while not stop.is_set():
                    change = await stream.try_next()
                    if change is None:
                        await wait(stop, 0.05)  # try_next returned at the end of a batch; look again soon
                        continue
                    publish(message_from(change["fullDocument"]))
        except PyMongoError as error:
            raise InboxChangesUnavailable(str(error)) from error

    async def mark_read(self, patron_id: str, message_id: str) -> bool:
        """Mark one of ``patron_id``'s messages read; False if the patron has no such message."""
        result = await self.collection.update_one(
            {"_id": message_id, "patron_id": patron_id},
            [{"$set": {"read_at": {"$ifNull": ["$read_at", datetime.now(UTC)]}}}],
        )
        return result.matched_count == 1

    async def unread(self, patron_id: str) -> tuple[int, datetime | None]:
        """How many unread messages ``patron_id`` has, and when her newest message was created."""
        count = await self.collection.count_documents({"patron_id": patron_id, "read_at": None})
        newest = await self.collection.find_one(
            {"patron_id": patron_id}, {"created_at": 1}, sort=[("created_at", DESCENDING)]
        )
        return count, utc(newest["created_at"]) if newest else None


def inbox_document(message: InboxMessage, *, stored_at: datetime) -> Document:
    return {
        "_id": message.id,
        "patron_id": message.patron_id,
        "kind": message.kind.value,
        "language": message.language.value,
        "title": message.title,
        "body": message.body,
        "created_at": message.created_at,
        "read_at": message.read_at,
        "stored_at": stored_at,
    }


def message_from(document: Document) -> InboxMessage:
    created_at = utc(document["created_at"])
    assert created_at is not None
    return InboxMessage(
        id=document["_id"],
        patron_id=document["patron_id"],
        kind=NoticeKind(document["kind"]),
        language=Language(document["language"]),
        title=document["title"],
        body=document["body"],
        created_at=created_at,
        read_at=utc(document.get("read_at")),
    )
