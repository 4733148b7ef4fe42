"""Libraries' SIP2 addresses and the patrons linked to their ILS cards, on MongoDB."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from lending.adapters.store import LendingStore, patron_from
from lending.domain.patrons import CardStatus, Patron
from lending.service_layer.clock import Clock, new_id, system_clock
from lending.service_layer.ils_sign_in import IlsConnection

Document = dict[str, Any]


class MongoIlsPatrons:
    def __init__(self, store: LendingStore, clock: Clock = system_clock) -> None:
        self.store = store
        self.clock = clock

    async def connection(self, library_id: str) -> IlsConnection | None:
        library = await self.store.libraries.find_one({"_id": library_id}, {"ils": 1})
        if not library or not library.get("ils"):
            return None
        return IlsConnection(library_id=library_id, **library["ils"])

    async def save_connection(self, connection: IlsConnection) -> None:
        settings = {key: value for key, value in connection.__dict__.items() if key != "library_id"}
        await self.store.libraries.update_one({"_id": connection.library_id}, {"$set": {"ils": settings}})

    async def linked(self, library_id: str, card_number: str) -> Patron | None:
        document = await self.store.patrons.find_one({"ils_card": _key(library_id, card_number)})
        return patron_from(document) if document else None

    async def link(self, library_id: str, card_number: str, name: str, email: str) -> Patron:
        now: datetime = self.clock()
        document: Document = {
            "_id": new_id(),
            "library_id": library_id,
            "display_name": name,
            "email": email,
            "preferred_language": "vi",
            "status": CardStatus.ACTIVE.value,
            "ils_card": _key(library_id, card_number),
            "ils_card_number": card_number,
            "applied_at": now,
            "approved_at": now,
        }
        try:
            await self.store.patrons.insert_one(document)
        except DuplicateKeyError:  # a concurrent first sign-in linked it
            existing = await self.linked(library_id, card_number)
            assert existing is not None
            return existing
        return patron_from(document)

    async def refresh(self, patron_id: str, name: str, email: str) -> None:
        await self.store.patrons.update_one({"_id": patron_id}, {"$set": {"display_name": name, "email": email}})

    async def blocked_by_ils(self, patron_id: str) -> bool:
        document = await self.store.patrons.find_one({"_id": patron_id}, {"ils_blocked": 1})
        return bool(document and document.get("ils_blocked"))

    async def mark_blocked_by_ils(self, patron_id: str, blocked: bool) -> None:
        await self.store.patrons.update_one({"_id": patron_id}, {"$set": {"ils_blocked": blocked}})


def _key(library_id: str, card_number: str) -> str:
    return f"{library_id}:{card_number}"
