"""The reader's repositories on MongoDB: publications, reading positions, annotations, revocations.

Bound to a transaction's session inside a unit of work (:mod:`reader.adapters.mongo_unit_of_work`), or to none
for the streaming path's plain reads (:class:`MongoPublicationReads`, :class:`MongoRevocationReads`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from reader.domain.reading import Annotation, Position
from reader.service_layer.repositories import DuplicateEntry

Document = dict[str, Any]
KEEP_ENDED_LOANS_DAYS = 2  # longer than any streaming token lives


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def ensure_indexes(database: AsyncDatabase[Document]) -> None:
    publications = database["publications"]
    # One publication per file and publisher, enforced by the database (the same file again is an update).
    # An install from before kept a non-unique index of that name: it is replaced.
    indexes = await publications.index_information()
    if "publisher_id_1_sha256_1" in indexes and not indexes["publisher_id_1_sha256_1"].get("unique"):
        await publications.drop_index("publisher_id_1_sha256_1")
    await publications.create_index([("publisher_id", 1), ("sha256", 1)], unique=True)
    await publications.create_index([("publisher_id", 1), ("isbn", 1)])
    await database["positions"].create_index([("patron_id", 1), ("received_at", 1)])
    await database["annotations"].create_index([("patron_id", 1), ("publication_id", 1), ("created_at", 1)])
    await database["ended_loans"].create_index("ended_at", expireAfterSeconds=KEEP_ENDED_LOANS_DAYS * 86400)


class _Bound:
    def __init__(self, database: AsyncDatabase[Document], session: AsyncClientSession | None = None) -> None:
        self.database = database
        self.session = session


class MongoPublicationReads(_Bound):
    async def get(self, publication_id: str) -> Document | None:
        return await self.database["publications"].find_one({"_id": publication_id}, session=self.session)


class MongoPublications(MongoPublicationReads):
    async def owned(self, publisher_id: str, publication_id: str) -> Document | None:
        query = {"_id": publication_id, "publisher_id": publisher_id}
        return await self.database["publications"].find_one(query, session=self.session)

    async def same_file(self, publisher_id: str, sha256: str, other_than: str | None = None) -> Document | None:
        query: Document = {"publisher_id": publisher_id, "sha256": sha256}
        if other_than is not None:
            query["_id"] = {"$ne": other_than}
        return await self.database["publications"].find_one(query, session=self.session)

    async def same_isbn(self, publisher_id: str, isbn: str) -> Document | None:
        query = {"publisher_id": publisher_id, "isbn": isbn}
        return await self.database["publications"].find_one(query, session=self.session)

    async def exists(self, publication_id: str) -> bool:
        found = await self.database["publications"].find_one({"_id": publication_id}, {"_id": 1}, session=self.session)
        return found is not None

    async def add(self, publication_id: str, document: Document) -> None:
        try:
            await self.database["publications"].insert_one({"_id": publication_id, **document}, session=self.session)
        except DuplicateKeyError as error:
            raise DuplicateEntry(str(error)) from error

    async def replace_owned(self, publisher_id: str, publication_id: str, document: Document) -> bool:
        written = await self.database["publications"].update_one(
            {"_id": publication_id, "publisher_id": publisher_id}, {"$set": document}, session=self.session
        )
        return written.matched_count == 1

    async def withdraw(self, publication_id: str, at: datetime) -> None:
        await self.database["publications"].update_one(
            {"_id": publication_id}, {"$set": {"status": "withdrawn", "withdrawn_at": at}}, session=self.session
        )


def _position(document: Document, applied: bool = True) -> Position:
    return Position(
        publication_id=document["publication_id"],
        locator=document["locator"],
        device_id=document["device_id"],
        device_name=document.get("device_name", ""),
        modified=_aware(document["modified"]),
        applied=applied,
    )


class MongoPositions(_Bound):
    async def keep_if_later(self, patron_id: str, position: Position, received_at: datetime) -> Position:
        key = f"{patron_id}:{position.publication_id}"
        current = await self.database["positions"].find_one({"_id": key}, session=self.session)
        if current is not None and _aware(current["modified"]) >= position.modified:
            return _position(current, applied=False)  # a later position is stored: it stays
        document = {
            "patron_id": patron_id,
            "publication_id": position.publication_id,
            "locator": position.locator,
            "device_id": position.device_id,
            "device_name": position.device_name,
            "modified": position.modified,
            "received_at": received_at,
        }
        # two devices at once: the transactions conflict and the later one re-runs, reading the other's position
        await self.database["positions"].update_one({"_id": key}, {"$set": document}, upsert=True, session=self.session)
        return position

    async def get(self, patron_id: str, publication_id: str) -> Position | None:
        found = await self.database["positions"].find_one(
            {"_id": f"{patron_id}:{publication_id}"}, session=self.session
        )
        return _position(found) if found else None

    async def received_since(self, patron_id: str, since: datetime) -> list[Position]:
        query = {"patron_id": patron_id, "received_at": {"$gt": since}}
        cursor = self.database["positions"].find(query, session=self.session).sort("received_at", 1)
        return [_position(document) async for document in cursor]


def _annotation(document: Document) -> Annotation:
    return Annotation(
        id=document["_id"],
        patron_id=document["patron_id"],
        publication_id=document["publication_id"],
        kind=document["kind"],
        locator=document["locator"],
        note=document["note"],
        color=document["color"],
        created_at=_aware(document["created_at"]),
    )


class MongoAnnotations(_Bound):
    async def add(self, annotation: Annotation) -> None:
        document = {
            "_id": annotation.id,
            "patron_id": annotation.patron_id,
            "publication_id": annotation.publication_id,
            "kind": annotation.kind,
            "locator": annotation.locator,
            "note": annotation.note,
            "color": annotation.color,
            "created_at": annotation.created_at,
        }
        await self.database["annotations"].insert_one(document, session=self.session)

    async def of(self, patron_id: str, publication_id: str) -> list[Annotation]:
        query = {"patron_id": patron_id, "publication_id": publication_id}
        cursor = self.database["annotations"].find(query, session=self.session).sort("created_at", DESCENDING)
        return [_annotation(document) async for document in cursor]

    async def delete(self, patron_id: str, annotation_id: str) -> bool:
        query = {"_id": annotation_id, "patron_id": patron_id}
        return (await self.database["annotations"].delete_one(query, session=self.session)).deleted_count == 1


class MongoRevocations(_Bound):
    async def end_loan(self, loan_id: str, at: datetime) -> None:
        await self.database["ended_loans"].update_one(
            {"_id": loan_id}, {"$setOnInsert": {"ended_at": at}}, upsert=True, session=self.session
        )

    async def block_changed_at(self, patron_id: str) -> datetime | None:
        known = await self.database["blocked_patrons"].find_one({"_id": patron_id}, session=self.session)
        changed = known.get("changed_at") if known else None
        return _aware(changed) if isinstance(changed, datetime) else None

    async def set_blocked(self, patron_id: str, blocked: bool, at: datetime) -> None:
        await self.database["blocked_patrons"].update_one(
            {"_id": patron_id}, {"$set": {"blocked": blocked, "changed_at": at}}, upsert=True, session=self.session
        )


class MongoRevocationReads(_Bound):
    async def loan_ended(self, loan_id: str) -> bool:
        return await self.database["ended_loans"].find_one({"_id": loan_id}, {"_id": 1}) is not None

    async def patron_blocked(self, patron_id: str) -> bool:
        return await self.database["blocked_patrons"].find_one({"_id": patron_id, "blocked": True}) is not None
