"""Lending's repositories on MongoDB, bound to one transaction's session, and the unit of work that builds them.

The collections, indexes and document mapping live in :mod:`lending.adapters.store`; this module gives each
use-case question a named method (``licences.take_copy``, ``holds.ready_until_passed``) so the service layer
never writes a query.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Self, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from lending.adapters.catalogue_reads import MongoCatalogueReads
from lending.adapters.store import (
    LendingStore,
    hold_document,
    hold_from,
    library_from,
    license_document,
    license_from,
    patron_from,
    utc,
    verification_from,
)
from lending.domain.holds import OPEN_STATES, Hold, HoldState
from lending.domain.licensing import License
from lending.domain.loans import ACTIVE, LendableTitle, Loan
from lending.domain.network import Library, LibraryNetwork
from lending.domain.patrons import CardStatus, Patron, Verification
from lending.domain.policy import LendingPolicy
from lending.service_layer.catalogue import Catalogue
from lending.service_layer.catalogue_search import CatalogueSearch
from lending.service_layer.clock import Clock, system_clock
from lending.service_layer.unit_of_work import (
    AccessMarks,
    DuplicateEntry,
    LendingUnitOfWork,
    MonthKey,
    TitleCirculation,
    UnitOfWorkFactory,
)
from sachso.kit.mongo_unit_of_work import MongoUnitOfWork
from sachso.kit.outbox import Outbox

Document = dict[str, Any]
T = TypeVar("T")


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


_OPEN = [state.value for state in OPEN_STATES]


class _Bound:
    def __init__(self, store: LendingStore, session: AsyncClientSession | None) -> None:
        self.store = store
        self.session = session


class MongoLibraries(_Bound):
    async def network(self) -> LibraryNetwork:
        return await self.store.network()

    async def policy(self, library_id: str) -> LendingPolicy:
        return await self.store.policy(library_id)

    async def get(self, library_id: str) -> Library | None:
        document = await self.store.library_document(library_id, self.session)
        return library_from(document) if document else None

    async def all(self) -> list[Library]:
        cursor = self.store.libraries.find({}, session=self.session).sort("_id", 1)
        return [library_from(document) async for document in cursor]

    async def add(self, library: Library, code: str, policy: LendingPolicy) -> None:
        try:
            await self.store.add_library(library, code, policy, self.session)
        except DuplicateKeyError as error:
            raise DuplicateEntry(str(error)) from error

    async def names(self) -> dict[str, str]:
        cursor = self.store.libraries.find({}, {"name": 1}, session=self.session)
        return {document["_id"]: document["name"] async for document in cursor}

    async def next_card_sequence(self, library_id: str) -> int:
        return await self.store.next_card_sequence(library_id, self.session)


class MongoPatrons(_Bound):
    async def get(self, patron_id: str) -> Patron | None:
        return await self.store.patron(patron_id, self.session)

    async def recent(self, patron_id: str) -> Patron | None:
        return await self.store.recent_patron(patron_id, self.session)

    async def change_card_status(self, patron_id: str, expected: CardStatus, status: CardStatus) -> Patron | None:
        document = await self.store.set_card_status(patron_id, expected, status, self.session)
        return patron_from(document) if document else None

    async def forget_refresh_tokens(self, patron_id: str) -> None:
        await self.store.forget_refresh_tokens(patron_id, self.session)

    async def of_library(self, library_id: str, status: CardStatus) -> list[Patron]:
        query = {"library_id": library_id, "status": status.value}
        cursor = self.store.patrons.find(query, session=self.session).sort("applied_at", 1)
        return [patron_from(document) async for document in cursor]

    async def by_ids(self, patron_ids: list[str]) -> dict[str, Patron]:
        cursor = self.store.patrons.find({"_id": {"$in": sorted(set(patron_ids))}}, session=self.session)
        return {document["_id"]: patron_from(document) async for document in cursor}


class MongoCardRecords(_Bound):
    async def add_application(
        self, patron: Patron, pin_hash: str, verification: Verification, applied_at: datetime
    ) -> None:
        try:
            await self.store.patrons.insert_one(
                {
                    "_id": patron.id,
                    "library_id": patron.library_id,
                    "display_name": patron.display_name,
                    "email": patron.email,
                    "email_key": f"{patron.library_id}:{patron.email}",  # unique: one live card per email
                    "preferred_language": patron.preferred_language,
                    "status": patron.status.value,
                    "pin_hash": pin_hash,
                    "verification": {"code_hash": verification.code_hash, "expires_at": verification.expires_at},
                    "applied_at": applied_at,
                },
                session=self.session,
            )
        except DuplicateKeyError as error:
            raise DuplicateEntry(str(error)) from error

    async def verification(self, patron_id: str) -> Verification | None:
        document = await self.store.patrons.find_one({"_id": patron_id}, {"verification": 1}, session=self.session)
        return verification_from(document) if document else None

    async def count_wrong_code(self, patron_id: str) -> None:
        await self.store.patrons.update_one(
            {"_id": patron_id}, {"$inc": {"verification.attempts": 1}}, session=self.session
        )

    async def mark_verified(self, patron_id: str, status: CardStatus, at: datetime) -> None:
        await self.store.patrons.update_one(
            {"_id": patron_id},
            {"$set": {"status": status.value, "email_verified_at": at}, "$unset": {"verification": ""}},
            session=self.session,
        )

    async def reject(self, patron_id: str, reason: str) -> None:
        await self.store.patrons.update_one(
            {"_id": patron_id},
            {"$set": {"status": CardStatus.REJECTED.value, "rejected_reason": reason}, "$unset": {"email_key": ""}},
            session=self.session,
        )

    async def issue(self, patron_id: str, card_number: str, expires_at: datetime, at: datetime) -> None:
        changes = {
            "status": CardStatus.ACTIVE.value,
            "card_number": card_number,
            "card_expires_at": expires_at,
            "approved_at": at,
        }
        await self.store.patrons.update_one({"_id": patron_id}, {"$set": changes}, session=self.session)

    async def extend(self, patron_id: str, expires_at: datetime) -> None:
        await self.store.patrons.update_one(
            {"_id": patron_id}, {"$set": {"card_expires_at": expires_at}}, session=self.session
        )

    async def by_card_number(self, card_number: str) -> tuple[Patron, str | None] | None:
        document = await self.store.patrons.find_one({"card_number": card_number}, session=self.session)
        return (patron_from(document), document.get("pin_hash")) if document else None

    async def pin_hash(self, patron_id: str) -> tuple[Patron, str | None] | None:
        document = await self.store.patron_document(patron_id, self.session)
        return (patron_from(document), document.get("pin_hash")) if document else None

    async def set_pin_hash(self, patron_id: str, pin_hash: str) -> None:
        await self.store.set_pin_hash(patron_id, pin_hash, self.session)


class MongoRefreshTokens(_Bound):
    async def add(self, digest: str, patron_id: str, expires_at: datetime) -> None:
        await self.store.refresh_tokens.insert_one(
            {"_id": digest, "patron_id": patron_id, "expires_at": expires_at}, session=self.session
        )

    async def take(self, digest: str) -> tuple[str, datetime] | None:
        token = await self.store.refresh_tokens.find_one_and_delete({"_id": digest}, session=self.session)
        if token is None:
            return None
        expires_at = utc(token["expires_at"])
        assert expires_at is not None
        return token["patron_id"], expires_at

    async def revoke_all(self, patron_id: str) -> int:
        deleted = await self.store.refresh_tokens.delete_many({"patron_id": patron_id}, session=self.session)
        return deleted.deleted_count


_LENDABLE_FIELDS = {"publication_id": 1, "readable": 1, "withdrawn": 1, "online_only": 1, "local_document": 1}


def _lendable_from(document: Document) -> LendableTitle:
    return LendableTitle(
        id=document["_id"],
        publication_id=document.get("publication_id") or "",
        readable=document.get("readable"),
        withdrawn=bool(document.get("withdrawn")),
        online_only=bool(document.get("online_only")),
        local_document=bool(document.get("local_document")),
    )


class MongoTitles(_Bound):
    async def lendable(self, title_id: str) -> LendableTitle | None:
        document = await self.store.titles.find_one({"_id": title_id}, _LENDABLE_FIELDS, session=self.session)
        return _lendable_from(document) if document else None

    async def circulation(self, title_id: str, patron_id: str) -> TitleCirculation | None:
        """One aggregation from the title: each other read is a ``$lookup`` on an indexed equality
        (``localField``/``foreignField``, so the index serves it; the further condition in its pipeline, which
        needs MongoDB 5.0) — the licences before the holds, as a checkout reads them. Allowed in a transaction,
        unlike ``$unionWith``."""

        def joined(collection: str, field: str, on: str, as_: str, *pipeline: Document) -> Document:
            lookup: Document = {"from": collection, "localField": field, "foreignField": on, "as": as_}
            return {"$lookup": lookup | ({"pipeline": list(pipeline)} if pipeline else {})}

        store = self.store
        her_active_loans = ({"$match": {"status": ACTIVE}}, {"$project": {"title_id": 1}})
        cursor = await store.titles.aggregate(
            [
                {"$match": {"_id": title_id}},
                {"$project": {**_LENDABLE_FIELDS, "borrower": {"$literal": patron_id}}},
                joined(store.licenses.name, "_id", "title_id", "licences"),
                joined(store.holds.name, "_id", "title_id", "holds", {"$match": {"state": {"$in": _OPEN}}}),
                joined(store.loans.name, "borrower", "patron_id", "loans", *her_active_loans),
            ],
            session=self.session,
        )
        found = [document async for document in cursor]
        if not found:
            return None
        document = found[0]
        return TitleCirculation(
            title=_lendable_from(document),
            licences=[license_from(licence) for licence in document["licences"]],
            holds=[hold_from(hold) for hold in document["holds"]],
            borrowed=[loan["title_id"] for loan in document["loans"]],
        )

    async def names(self, title_ids: list[str]) -> dict[str, str]:
        cursor = self.store.titles.find({"_id": {"$in": sorted(set(title_ids))}}, {"title": 1}, session=self.session)
        return {document["_id"]: document.get("title", "") async for document in cursor}


class MongoCatalogueTitles(_Bound):
    async def by_publication(self, publication_id: str) -> Document | None:
        return await self.store.titles.find_one({"publication_id": publication_id}, session=self.session)

    async def unreadable_with_isbn(self, isbn: str) -> Document | None:
        return await self.store.unreadable_title_with_isbn(isbn, self.session)

    async def publication_of(self, title_id: str) -> str | None:
        found = await self.store.titles.find_one({"_id": title_id}, {"publication_id": 1}, session=self.session)
        return None if found is None else str(found.get("publication_id") or "")

    async def save(self, title_id: str, fields: Document, added_at: datetime) -> None:
        await self.store.titles.update_one(
            {"_id": title_id},
            {"$set": fields, "$setOnInsert": {"added_at": added_at}},
            upsert=True,
            session=self.session,
        )

    async def set_added_by(self, title_id: str, library_id: str) -> None:
        await self.store.set_title_added_by(title_id, library_id, self.session)

    async def withdraw(self, publication_id: str, at: datetime) -> None:
        await self.store.titles.update_one(
            {"publication_id": publication_id},
            {"$set": {"withdrawn": True, "withdrawn_at": at, "changed_at": at}},
            session=self.session,
        )

    async def access_marks(self, title_id: str) -> AccessMarks:
        projection = {"open_access": 1, "local_document": 1}
        found = await self.store.titles.find_one({"_id": title_id}, projection, session=self.session) or {}
        return AccessMarks(bool(found.get("open_access")), bool(found.get("local_document")))

    async def set_online_only(self, title_id: str, online_only: bool, at: datetime) -> bool:
        result = await self.store.titles.update_one(
            {"_id": title_id}, {"$set": {"online_only": online_only, "changed_at": at}}, session=self.session
        )
        return result.matched_count == 1

    async def add_owner(self, title_id: str, library_id: str, at: datetime) -> None:
        await self.store.titles.update_one(
            {"_id": title_id},
            {"$addToSet": {"library_ids": library_id}, "$set": {"changed_at": at}},
            session=self.session,
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

    async def latest_of_library(self, library_id: str, status: str, limit: int) -> list[Loan]:
        cursor = self.store.loans.find({"library_id": library_id, "status": status}, session=self.session)
        return [loan_from(document) async for document in cursor.sort("starts_at", -1).limit(limit)]


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


VIETNAM_TIME = "+07:00"


class MongoCirculationFigures(_Bound):
    async def _counts(
        self,
        collection: Any,
        query: tuple[list[str], datetime, datetime],
        *,
        time_field: str,
        library_field: str = "library_id",
        by_title: bool,
        distinct: str | None = None,
    ) -> dict[MonthKey, int]:
        """Counts (or distinct ``distinct`` values) per month, library and optionally title."""
        library_ids, start, end = query
        month = {"$dateToString": {"format": "%Y-%m", "date": f"${time_field}", "timezone": VIETNAM_TIME}}
        group: Document = {
            "_id": {"month": month, "library": f"${library_field}", "title": "$title_id" if by_title else ""},
            "count": {"$sum": 1},
        }
        if distinct:
            group["distinct"] = {"$addToSet": f"${distinct}"}
        match = {library_field: {"$in": library_ids}, time_field: {"$gte": start, "$lt": end}}
        cursor = await collection.aggregate([{"$match": match}, {"$group": group}], session=self.session)
        counts: dict[MonthKey, int] = {}
        async for row in cursor:
            key = (row["_id"]["month"], row["_id"]["library"], row["_id"]["title"])
            counts[key] = len(row["distinct"]) if distinct else row["count"]
        return counts

    async def loans_started(
        self, library_ids: list[str], start: datetime, end: datetime, *, by_title: bool
    ) -> dict[MonthKey, int]:
        query = (library_ids, start, end)
        return await self._counts(self.store.loans, query, time_field="starts_at", by_title=by_title)

    async def borrowers(
        self, library_ids: list[str], start: datetime, end: datetime, *, by_title: bool
    ) -> dict[MonthKey, int]:
        query = (library_ids, start, end)
        return await self._counts(
            self.store.loans, query, time_field="starts_at", by_title=by_title, distinct="patron_id"
        )

    async def holds_placed(
        self, library_ids: list[str], start: datetime, end: datetime, *, by_title: bool
    ) -> dict[MonthKey, int]:
        query = (library_ids, start, end)
        return await self._counts(
            self.store.holds, query, time_field="placed_at", library_field="patron_library_id", by_title=by_title
        )

    async def turnaways(
        self, library_ids: list[str], start: datetime, end: datetime, *, by_title: bool
    ) -> dict[MonthKey, int]:
        query = (library_ids, start, end)
        return await self._counts(self.store.turnaways, query, time_field="at", by_title=by_title)


class MongoTurnaways:
    def __init__(self, store: LendingStore) -> None:
        self.store = store

    async def record(self, patron_id: str, title_id: str, at: datetime, *, library_id: str | None = None) -> None:
        if library_id is None:
            patron = await self.store.patron(patron_id)
            if patron is None:
                return
            library_id = patron.library_id
        await self.store.turnaways.insert_one(
            {"patron_id": patron_id, "library_id": library_id, "title_id": title_id, "at": at}
        )


class MongoLendingUnitOfWork(MongoUnitOfWork, LendingUnitOfWork):
    """Lending's repositories on one MongoDB transaction, its events in the outbox."""

    def __init__(self, store: LendingStore, outbox: Outbox, *, session: AsyncClientSession | None = None) -> None:
        super().__init__(outbox, session=session)
        self.store = store

    async def read_committed(self, work: Callable[[Self], Awaitable[T]]) -> T:
        self._bind(None)  # no session: plain reads, each its own round trip, no transaction to start or end
        return await work(self)

    def _bind(self, session: AsyncClientSession | None) -> None:
        self.libraries = MongoLibraries(self.store, session)
        self.patrons = MongoPatrons(self.store, session)
        self.cards = MongoCardRecords(self.store, session)
        self.refresh_tokens = MongoRefreshTokens(self.store, session)
        self.titles = MongoTitles(self.store, session)
        self.catalogue = MongoCatalogueTitles(self.store, session)
        self.licences = MongoLicences(self.store, session)
        self.loans = MongoLoans(self.store, session)
        self.holds = MongoHolds(self.store, session)
        self.idempotency = MongoIdempotentRequests(self.store, session)
        self.figures = MongoCirculationFigures(self.store, session)


def mongo_units_of_work(store: LendingStore, outbox: Outbox) -> UnitOfWorkFactory:
    """A fresh MongoDB unit of work per use case."""
    return lambda: MongoLendingUnitOfWork(store, outbox)


def mongo_catalogue(store: LendingStore, outbox: Outbox, clock: Clock = system_clock) -> Catalogue:
    """The catalogue's use cases on MongoDB: their own transactions, or the caller's (a consumer's session)."""
    return Catalogue(
        mongo_units_of_work(store, outbox),
        lambda session: MongoLendingUnitOfWork(store, outbox, session=session),
        CatalogueSearch(MongoCatalogueReads(store), clock),
        clock,
    )
