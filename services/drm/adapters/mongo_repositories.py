"""DRM's repositories on MongoDB: one class per collection, every call in the unit of work's session."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from drm.domain.documents import Passphrase, ProtectedPublication
from drm.domain.licences import BlockChange, DeviceEvent, Licence, LoanFacts, aware
from drm.domain.status import LIVE, Status

Document = dict[str, Any]


def _event(event: DeviceEvent) -> Document:
    return {"type": event.type, "name": event.name, "id": event.id, "timestamp": event.timestamp}


def _licence(document: Document) -> Licence:
    def moment(name: str) -> datetime | None:
        value = document.get(name)
        return aware(value) if value is not None else None

    return Licence(
        id=document["_id"],
        loan_id=document["loan_id"],
        status=Status(document["status"]),
        issued=aware(document["issued"]),
        status_updated=aware(document["status_updated"]),
        patron_id=document.get("patron_id"),
        publication_id=document.get("publication_id"),
        start=moment("start"),
        end=moment("end"),
        updated=moment("updated"),
        online_only=bool(document.get("online_only")),
        local_document=bool(document.get("local_document")),
        delivered=bool(document.get("delivered")),
        devices=tuple(document.get("devices", [])),
        events=tuple(
            DeviceEvent(e.get("type", ""), e.get("name", ""), e.get("id", ""), aware(e["timestamp"]))
            for e in document.get("events", [])
        ),
    )


class MongoLicences:
    def __init__(self, collection: AsyncCollection[Document], session: AsyncClientSession | None = None) -> None:
        self.collection = collection
        self.session = session

    async def ensure_indexes(self) -> None:
        await self.collection.create_index("loan_id", unique=True)
        await self.collection.create_index("patron_id")

    async def by_id(self, licence_id: str) -> Licence | None:
        document = await self.collection.find_one({"_id": licence_id}, session=self.session)
        return _licence(document) if document else None

    async def by_loan(self, loan_id: str) -> Licence | None:
        document = await self.collection.find_one({"loan_id": loan_id}, session=self.session)
        return _licence(document) if document else None

    async def follow_loan(self, loan: LoanFacts, now: datetime) -> None:
        await self.collection.update_one(
            {"loan_id": loan.loan_id},
            {
                "$setOnInsert": {
                    "_id": str(uuid.uuid4()),
                    "loan_id": loan.loan_id,
                    "status": Status.READY.value,
                    "devices": [],
                    "events": [],
                    "issued": aware(loan.starts_at),
                },
                "$set": {
                    "patron_id": loan.patron_id,
                    "publication_id": loan.publication_id,
                    "start": aware(loan.starts_at),
                    "end": aware(loan.due_at),
                    "online_only": loan.online_only,
                    "local_document": loan.local_document,
                    "status_updated": now,
                },
            },
            upsert=True,
            session=self.session,
        )

    async def add(self, licence: Licence) -> None:
        document: Document = {
            "_id": licence.id,
            "loan_id": licence.loan_id,
            "status": licence.status.value,
            "devices": list(licence.devices),
            "events": [_event(event) for event in licence.events],
            "issued": licence.issued,
            "status_updated": licence.status_updated,
        }
        optional = {
            "patron_id": licence.patron_id, "publication_id": licence.publication_id, "start": licence.start,
            "end": licence.end, "updated": licence.updated,
        }  # fmt: skip
        document.update({name: value for name, value in optional.items() if value is not None})
        if licence.online_only:
            document["online_only"] = True
        if licence.local_document:
            document["local_document"] = True
        if licence.delivered:
            document["delivered"] = True
        await self.collection.insert_one(document, session=self.session)

    async def extend(self, loan_id: str, end: datetime, now: datetime) -> None:
        await self.collection.update_one(
            {"loan_id": loan_id, "status": {"$in": [s.value for s in LIVE]}},
            {"$set": {"end": aware(end), "updated": now}},
            session=self.session,
        )

    async def change_status(
        self, licence_id: str, status: Status, now: datetime, event: DeviceEvent | None = None
    ) -> None:
        update: Document = {"$set": {"status": status.value, "status_updated": now}}
        if event is not None:
            update["$push"] = {"events": _event(event)}
        await self.collection.update_one({"_id": licence_id}, update, session=self.session)

    async def add_device(self, licence_id: str, device_id: str) -> None:
        await self.collection.update_one(
            {"_id": licence_id}, {"$addToSet": {"devices": device_id}}, session=self.session
        )

    async def renewed(self, licence_id: str, end: datetime, event: DeviceEvent) -> None:
        await self.collection.update_one(
            {"_id": licence_id},
            {"$set": {"end": end, "updated": event.timestamp}, "$push": {"events": _event(event)}},
            session=self.session,
        )

    async def mark_delivered(self, licence_id: str) -> None:
        await self.collection.update_one({"_id": licence_id}, {"$set": {"delivered": True}}, session=self.session)


class MongoPassphrases:
    def __init__(self, collection: AsyncCollection[Document], session: AsyncClientSession | None = None) -> None:
        self.collection = collection
        self.session = session

    async def get(self, patron_id: str) -> Passphrase | None:
        document = await self.collection.find_one({"_id": patron_id}, session=self.session)
        return Passphrase(bytes(document["user_key"]), document["hint"]) if document else None

    async def put(self, patron_id: str, passphrase: Passphrase, now: datetime) -> None:
        await self.collection.update_one(
            {"_id": patron_id},
            {"$set": {"user_key": passphrase.user_key, "hint": passphrase.hint, "updated": now}},
            upsert=True,
            session=self.session,
        )


class MongoPublications:
    def __init__(self, collection: AsyncCollection[Document], session: AsyncClientSession | None = None) -> None:
        self.collection = collection
        self.session = session

    async def get(self, publication_id: str) -> ProtectedPublication | None:
        document = await self.collection.find_one({"_id": publication_id}, session=self.session)
        if document is None:
            return None
        protected_at = document.get("protected_at")
        return ProtectedPublication(
            id=document["_id"],
            key=document["key"],
            media_type=document["media_type"],
            length=document["length"],
            sha256=document["sha256"],
            title=document.get("title", ""),
            source_sha256=document.get("source_sha256", ""),
            content_key_id=document.get("content_key_id", ""),
            protected_at=aware(protected_at) if protected_at is not None else None,
        )

    async def save(self, publication: ProtectedPublication) -> None:
        await self.collection.update_one(
            {"_id": publication.id},
            {"$set": {"title": publication.title, "key": publication.key, "media_type": publication.media_type,
                      "length": publication.length, "sha256": publication.sha256,
                      "source_sha256": publication.source_sha256, "content_key_id": publication.content_key_id,
                      "protected_at": publication.protected_at}},
            upsert=True,
            session=self.session,
        )  # fmt: skip


class MongoBlockedPatrons:
    def __init__(self, collection: AsyncCollection[Document], session: AsyncClientSession | None = None) -> None:
        self.collection = collection
        self.session = session

    async def last_change(self, patron_id: str) -> BlockChange | None:
        document = await self.collection.find_one({"_id": patron_id}, session=self.session)
        return BlockChange(bool(document["blocked"]), aware(document["changed_at"])) if document else None

    async def record(self, patron_id: str, change: BlockChange) -> None:
        await self.collection.update_one(
            {"_id": patron_id},
            {"$set": {"blocked": change.blocked, "changed_at": aware(change.at)}},
            upsert=True,
            session=self.session,
        )

    async def is_blocked(self, patron_id: str) -> bool:
        found = await self.collection.find_one({"_id": patron_id, "blocked": True}, {"_id": 1}, session=self.session)
        return found is not None


class MongoLocalDocuments:
    def __init__(self, collection: AsyncCollection[Document], session: AsyncClientSession | None = None) -> None:
        self.collection = collection
        self.session = session

    async def record(self, document_id: str, library_id: str, at: datetime) -> None:
        await self.collection.update_one(
            {"_id": document_id},
            {"$set": {"library_id": library_id, "published_at": at}},
            upsert=True,
            session=self.session,
        )

    async def is_local_document(self, publication_id: str) -> bool:
        return await self.collection.find_one({"_id": publication_id}, {"_id": 1}, session=self.session) is not None


class MongoRepositories:
    """The collections DRM owns, bound to one session (or none)."""

    def __init__(self, database: AsyncDatabase[Document], session: AsyncClientSession | None = None) -> None:
        self.licences = MongoLicences(database["licences"], session)
        self.passphrases = MongoPassphrases(database["passphrases"], session)
        self.publications = MongoPublications(database["publications"], session)
        self.blocked_patrons = MongoBlockedPatrons(database["blocked_patrons"], session)  # from lending's events
        self.local_documents = MongoLocalDocuments(database["local_documents"], session)  # from the reader's events
