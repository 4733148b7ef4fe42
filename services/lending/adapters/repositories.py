"""Lending's repositories on MongoDB, bound to one transaction's session, and the unit of work that builds them.

The collections, indexes and document mapping live in :mod:`lending.adapters.store`; this module gives each
use-case question a named method (``licences.take_copy``, ``holds.ready_until_passed``) so the service layer
never writes a query.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from lending.adapters.store import LendingStore, hold_document, hold_from, license_document, patron_from, utc
from lending.domain.holds import OPEN_STATES, Hold, HoldState
from lending.domain.licensing import License
from lending.domain.loans import ACTIVE, LendableTitle, Loan
from lending.domain.network import LibraryNetwork
from lending.domain.patrons import CardStatus, Patron
from lending.domain.policy import LendingPolicy
from lending.service_layer.unit_of_work import DuplicateEntry, LendingUnitOfWork, UnitOfWorkFactory
from sachso.kit.mongo_unit_of_work import MongoUnitOfWork
from sachso.kit.outbox import Outbox

Document = dict[str, Any]


def loan_from(document: Document) -> Loan:
    starts_at, due_at = utc(document["starts_at"]), utc(document["due_at"])
    assert starts_at is not None
    assert due_at is not None
    return Loan(
        id=document["_id"],
        patron_id=document["patron_id"],
        library_id=document["library_id"],
        title_id=document["title_id"],
        publication_id=document.get("publication_id") or "",
        license_id=document["license_id"],
        starts_at=starts_at,
        due_at=due_at,
        renewals=document.get("renewals", 0),
        status=document["status"],
        ended_at=utc(document.get("ended_at")),
        license_owner_id=document.get("license_owner_id") or "",
    )


def loan_document(loan: Loan) -> Document:
    document: Document = {
        "_id": loan.id,
        "patron_id": loan.patron_id,
        "library_id": loan.library_id,
        "title_id": loan.title_id,
        "publication_id": loan.publication_id,
        "license_id": loan.license_id,
        "license_owner_id": loan.license_owner_id,
        "starts_at": loan.starts_at,
        "due_at": loan.due_at,
        "renewals": loan.renewals,
        "status": loan.status,
    }
    if loan.is_active:
        document["active_key"] = f"{loan.patron_id}:{loan.title_id}"  # one active loan per patron and title
    return document


class _Bound:
    def __init__(self, store: LendingStore, session: AsyncClientSession | None) -> None:
        self.store = store
        self.session = session


class MongoLibraries(_Bound):
    async def network(self) -> LibraryNetwork:
        return await self.store.network()

    async def policy(self, library_id: str) -> LendingPolicy:
        return await self.store.policy(library_id)


class MongoPatrons(_Bound):
    async def get(self, patron_id: str) -> Patron | None:
        return await self.store.patron(patron_id, self.session)

    async def change_card_status(self, patron_id: str, expected: CardStatus, status: CardStatus) -> Patron | None:
        document = await self.store.set_card_status(patron_id, expected, status, self.session)
        return patron_from(document) if document else None

    async def forget_refresh_tokens(self, patron_id: str) -> None:
        await self.store.forget_refresh_tokens(patron_id, self.session)


class MongoTitles(_Bound):
    async def lendable(self, title_id: str) -> LendableTitle | None:
        document = await self.store.titles.find_one(
            {"_id": title_id},
            {"publication_id": 1, "readable": 1, "withdrawn": 1, "online_only": 1},
            session=self.session,
        )
        if document is None:
            return None
        return LendableTitle(
            id=document["_id"],
            publication_id=document.get("publication_id") or "",
            readable=document.get("readable"),
            withdrawn=bool(document.get("withdrawn")),
            online_only=bool(document.get("online_only")),
        )


class MongoLicences(_Bound):
    async def for_title(self, title_id: str) -> list[License]:
        return await self.store.licenses_for(title_id, self.session)

    async def get(self, license_id: str) -> License | None:
        return await self.store.license(license_id, self.session)

    async def add(self, license_: License) -> None:
        await self.store.licenses.insert_one(license_document(license_), session=self.session)

    async def take_copy(self, license_: License) -> bool:
        return await self.store.take_copy(license_, self.session)

    async def give_back_copy(self, license_id: str) -> None:
        await self.store.give_back_copy(license_id, self.session)

    async def consume_checkout(self, license_id: str) -> bool:
        return await self.store.consume_checkout(license_id, self.session)

    async def refund_checkout(self, license_id: str) -> None:
        await self.store.refund_checkout(license_id, self.session)


class MongoLoans(_Bound):
    async def get(self, loan_id: str) -> Loan | None:
        document = await self.store.loans.find_one({"_id": loan_id}, session=self.session)
        return loan_from(document) if document else None

    async def of_patron(self, patron_id: str, *, active_only: bool) -> list[Loan]:
        query: Document = {"patron_id": patron_id}
        if active_only:
            query["status"] = ACTIVE
        cursor = self.store.loans.find(query, session=self.session).sort("due_at", 1)
        return [loan_from(document) async for document in cursor]

    async def active_for_publication(self, patron_id: str, publication_id: str) -> Loan | None:
        document = await self.store.loans.find_one(
            {"patron_id": patron_id, "publication_id": publication_id, "status": ACTIVE}, session=self.session
        )
        return loan_from(document) if document else None

    async def has_active(self, patron_id: str, title_id: str) -> bool:
        found = await self.store.loans.find_one(
            {"active_key": f"{patron_id}:{title_id}"}, {"_id": 1}, session=self.session
        )
        return found is not None

    async def add(self, loan: Loan) -> None:
        try:
            await self.store.loans.insert_one(loan_document(loan), session=self.session)
        except DuplicateKeyError as error:
            raise DuplicateEntry(str(error)) from error

    async def end(self, loan_id: str, status: str, now: datetime) -> bool:
        result = await self.store.loans.update_one(
            {"_id": loan_id, "status": ACTIVE},
            {"$set": {"status": status, "ended_at": now}, "$unset": {"active_key": ""}},
            session=self.session,
        )
        return result.modified_count == 1

    async def extend(self, loan_id: str, due_at: datetime) -> bool:
        result = await self.store.loans.update_one(
            {"_id": loan_id, "status": ACTIVE},
            {"$set": {"due_at": due_at}, "$inc": {"renewals": 1}},
            session=self.session,
        )
        return result.modified_count == 1

    async def due(self, now: datetime, limit: int) -> list[str]:
        cursor = self.store.loans.find({"status": ACTIVE, "due_at": {"$lte": now}}, {"_id": 1}, session=self.session)
        return [document["_id"] async for document in cursor.limit(limit)]

    async def earliest_due(self) -> datetime | None:
        loan = await self.store.loans.find_one(
            {"status": ACTIVE}, {"due_at": 1}, sort=[("due_at", 1)], session=self.session
        )
        return utc(loan["due_at"]) if loan else None


_OPEN = [state.value for state in OPEN_STATES]


class MongoHolds(_Bound):
    async def get(self, hold_id: str) -> Hold | None:
        document = await self.store.holds.find_one({"_id": hold_id}, session=self.session)
        return hold_from(document) if document else None

    async def open_for_title(self, title_id: str) -> list[Hold]:
        return await self.store.open_holds(title_id, self.session)

    async def open_of(self, patron_id: str) -> list[Hold]:
        cursor = self.store.holds.find({"patron_id": patron_id, "state": {"$in": _OPEN}}, session=self.session)
        return [hold_from(document) async for document in cursor]

    async def ready_of(self, patron_id: str) -> list[Hold]:
        return await self.store.ready_holds(patron_id, self.session)

    async def has_open(self, patron_id: str, title_id: str) -> bool:
        found = await self.store.holds.find_one(
            {"open_key": f"{patron_id}:{title_id}"}, {"_id": 1}, session=self.session
        )
        return found is not None

    async def add(self, hold: Hold) -> None:
        try:
            await self.store.holds.insert_one(hold_document(hold), session=self.session)
        except DuplicateKeyError as error:
            raise DuplicateEntry(str(error)) from error

    async def make_ready(self, hold_id: str, license_id: str, ready_until: datetime) -> bool:
        changes = {"state": HoldState.READY.value, "ready_until": ready_until, "license_id": license_id}
        return await self.store.update_hold(hold_id, HoldState.WAITING, changes, self.session)

    async def fulfil(self, hold_id: str) -> bool:
        changes = {"state": HoldState.FULFILLED.value}
        return await self.store.update_hold(hold_id, HoldState.READY, changes, self.session)

    async def close(self, hold_id: str, expected: HoldState, state: HoldState, now: datetime) -> bool:
        changes = {"state": state.value, "closed_at": now}
        return await self.store.update_hold(hold_id, expected, changes, self.session)

    async def suspend(self, hold_id: str, until: datetime | None) -> bool:
        return await self.store.update_hold(hold_id, HoldState.WAITING, {"suspended_until": until}, self.session)

    async def set_card_blocked(self, patron_id: str, blocked: bool) -> None:
        await self.store.set_holds_card_blocked(patron_id, blocked, self.session)

    async def ready_until_passed(self, now: datetime, limit: int) -> list[str]:
        cursor = self.store.holds.find(
            {"state": HoldState.READY.value, "ready_until": {"$lte": now}}, {"_id": 1}, session=self.session
        )
        return [document["_id"] async for document in cursor.limit(limit)]

    async def earliest_ready_until(self) -> datetime | None:
        hold = await self.store.holds.find_one(
            {"state": HoldState.READY.value}, {"ready_until": 1}, sort=[("ready_until", 1)], session=self.session
        )
        return utc(hold["ready_until"]) if hold else None


class MongoIdempotentRequests(_Bound):
    async def result(self, key_id: str) -> tuple[str, str] | None:
        document = await self.store.idempotent_result(key_id, self.session)
        return (document["fingerprint"], document["result_id"]) if document else None

    async def record(self, key_id: str, fingerprint: str, result_id: str, expires_at: datetime) -> None:
        try:
            await self.store.record_idempotent_result(key_id, fingerprint, result_id, expires_at, self.session)
        except DuplicateKeyError as error:
            raise DuplicateEntry(str(error)) from error


class MongoTurnaways(_Bound):
    async def record(self, patron_id: str, library_id: str, title_id: str, at: datetime) -> None:
        await self.store.turnaways.insert_one(
            {"patron_id": patron_id, "library_id": library_id, "title_id": title_id, "at": at}, session=self.session
        )


class MongoLendingUnitOfWork(MongoUnitOfWork, LendingUnitOfWork):
    """Lending's repositories on one MongoDB transaction, its events in the outbox."""

    def __init__(self, store: LendingStore, outbox: Outbox, *, session: AsyncClientSession | None = None) -> None:
        super().__init__(outbox, session=session)
        self.store = store

    def _bind(self, session: AsyncClientSession) -> None:
        self.libraries = MongoLibraries(self.store, session)
        self.patrons = MongoPatrons(self.store, session)
        self.titles = MongoTitles(self.store, session)
        self.licences = MongoLicences(self.store, session)
        self.loans = MongoLoans(self.store, session)
        self.holds = MongoHolds(self.store, session)
        self.idempotency = MongoIdempotentRequests(self.store, session)
        self.turnaways = MongoTurnaways(self.store, session)


def mongo_units_of_work(store: LendingStore, outbox: Outbox) -> UnitOfWorkFactory:
    """A fresh MongoDB unit of work per use case."""
    return lambda: MongoLendingUnitOfWork(store, outbox)
