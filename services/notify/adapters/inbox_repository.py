"""The inbox in MongoDB: one document per message, listed newest first per patron."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from notify.domain.inbox import InboxMessage, Language, MessageKind

Document = dict[str, Any]


class MongoInbox:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.collection = database["inbox"]

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("patron_id", 1), ("created_at", DESCENDING), ("_id", DESCENDING)])

    async def add(self, message: InboxMessage, session: AsyncClientSession | None = None) -> None:
        await self.collection.insert_one(
            {
                "_id": message.id,
                "patron_id": message.patron_id,
                "kind": message.kind.value,
                "language": message.language.value,
                "title": message.title,
                "body": message.body,
                "created_at": message.created_at,
                "read_at": message.read_at,
            },
            session=session,
        )

    async def list_for(self, patron_id: str, *, limit: int, unread_only: bool = False) -> list[InboxMessage]:
        query: Document = {"patron_id": patron_id}
        if unread_only:
            query["read_at"] = None
        cursor = self.collection.find(query).sort([("created_at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return [_message(document) async for document in cursor]

    async def mark_read(self, patron_id: str, message_id: str) -> bool:
        """Mark one of ``patron_id``'s messages read; False if the patron has no such message."""
        result = await self.collection.update_one(
            {"_id": message_id, "patron_id": patron_id},
            [{"$set": {"read_at": {"$ifNull": ["$read_at", datetime.now(UTC)]}}}],
        )
        return result.matched_count == 1


def _message(document: Document) -> InboxMessage:
    return InboxMessage(
        id=document["_id"],
        patron_id=document["patron_id"],
        kind=MessageKind(document["kind"]),
        language=Language(document["language"]),
        title=document["title"],
        body=document["body"],
        created_at=document["created_at"],
        read_at=document.get("read_at"),
    )
