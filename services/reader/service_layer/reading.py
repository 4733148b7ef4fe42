"""Reading state that follows a patron across devices: the position (a Readium Locator), bookmarks, highlights.

Positions: the latest write wins, judged by the time the device says it read there (``modified``), so an old
device coming back online cannot drag the reader back; every write records the device. ``changes_since`` lets a
device catch up on what other devices did.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from sachso.kit.errors import NotFound

Document = dict[str, Any]


@dataclass(frozen=True)
class Position:
    publication_id: str
    locator: dict[str, Any]
    device_id: str
    device_name: str
    modified: datetime
    applied: bool = True


def _position(document: Document, applied: bool = True) -> Position:
    modified = document["modified"]
    return Position(
        publication_id=document["publication_id"],
        locator=document["locator"],
        device_id=document["device_id"],
        device_name=document.get("device_name", ""),
        modified=modified if modified.tzinfo else modified.replace(tzinfo=UTC),
        applied=applied,
    )


class Reading:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.positions = database["positions"]
        self.annotations = database["annotations"]

    async def ensure_indexes(self) -> None:
        await self.positions.create_index([("patron_id", 1), ("received_at", 1)])
        await self.annotations.create_index([("patron_id", 1), ("publication_id", 1), ("created_at", 1)])

    async def save_position(
        self, patron_id: str, publication_id: str, locator: dict[str, Any], device_id: str, device_name: str,
        modified: datetime,
    ) -> Position:  # fmt: skip
        """Keep this position unless a later one (by the device's clock) is already stored."""
        now = datetime.now(UTC)
        modified = min(modified, now)  # a device clock in the future cannot pin the position forever
        key = f"{patron_id}:{publication_id}"
        document = {
            "patron_id": patron_id,
            "publication_id": publication_id,
            "locator": locator,
            "device_id": device_id,
            "device_name": device_name,
            "modified": modified,
            "received_at": now,
        }
        try:
            await self.positions.update_one(
                {"_id": key, "modified": {"$lt": modified}}, {"$set": document}, upsert=True
            )
        except DuplicateKeyError:  # a later position is stored: it stays
            current = await self.positions.find_one({"_id": key})
            assert current is not None
            return _position(current, applied=False)
        return _position(document)

    async def position(self, patron_id: str, publication_id: str) -> Position:
        document = await self.positions.find_one({"_id": f"{patron_id}:{publication_id}"})
        if document is None:
            raise NotFound("no reading position saved for this publication")
        return _position(document)

    async def changes_since(self, patron_id: str, since: datetime) -> list[Position]:
        cursor = self.positions.find({"patron_id": patron_id, "received_at": {"$gt": since}}).sort("received_at", 1)
        return [_position(document) async for document in cursor]

    async def add_annotation(
        self, patron_id: str, publication_id: str, kind: str, locator: dict[str, Any], note: str, color: str
    ) -> Document:
        now = datetime.now(UTC)
        document = {
            "_id": uuid.uuid4().hex,
            "patron_id": patron_id,
            "publication_id": publication_id,
            "kind": kind,
            "locator": locator,
            "note": note,
            "color": color,
            "created_at": now,
        }
        await self.annotations.insert_one(document)
        return document

    async def annotations_of(self, patron_id: str, publication_id: str) -> list[Document]:
        cursor = self.annotations.find({"patron_id": patron_id, "publication_id": publication_id}).sort(
            "created_at", DESCENDING
        )
        return [document async for document in cursor]

    async def delete_annotation(self, patron_id: str, annotation_id: str) -> None:
        result = await self.annotations.delete_one({"_id": annotation_id, "patron_id": patron_id})
        if result.deleted_count == 0:
            raise NotFound(f"you have no annotation {annotation_id}")
