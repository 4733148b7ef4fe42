"""ODL on MongoDB, both sides: the lender's partners, offers and partner loans (in the loans collection, so reports
count them), and the borrower's mirrored licences and the state of each remote checkout."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from lending.adapters.store import TITLE_FIELDS, LendingStore, license_document, utc
from lending.adapters.transactions import RepositoryTransactions
from lending.domain.licensing import License, LicenseModel, LicenseTerms
from lending.domain.network import Sharing
from lending.domain.odl import PARTNER_ACTIVE, Offer, OfferedLicence, PartnerLoan
from lending.service_layer.catalogue import Catalogue, TitleMetadata
from lending.service_layer.clock import Clock, system_clock, timestamp
from lending.service_layer.lending_events import title_event
from lending.service_layer.odl_borrowing import (
    LoanAtLender,
    OdlSource,
    PendingCheckout,
    PendingReturn,
    RemoteCheckout,
)
from lending.service_layer.odl_lending import OdlLendingRepository
from sachso.events.v1 import lending_events_pb2 as events
from sachso.kit.errors import Conflict
from sachso.kit.outbox import Emit, Outbox

T = TypeVar("T")
Document = dict[str, Any]
STATUS = {PARTNER_ACTIVE: "active", "returned": "returned", "expired": "expired"}


def _offer(document: Document) -> Offer:
    return Offer(
        id=document["_id"],
        partner_id=document["partner_id"],
        title_id=document["title_id"],
        license_id=document["license_id"],
        copies=document["copies"],
        max_loan_days=document["max_loan_days"],
        created_at=utc(document["created_at"]),  # type: ignore[arg-type]
        in_use=document.get("in_use", 0),
        ends_at=utc(document.get("ends_at")),
        withdrawn_at=utc(document.get("withdrawn_at")),
    )


def _loan(document: Document) -> PartnerLoan:
    return PartnerLoan(
        id=document["_id"],
        partner_id=document["partner_id"],
        offer_id=document["offer_id"],
        checkout_id=document["checkout_id"],
        title_id=document["title_id"],
        starts_at=utc(document["starts_at"]),  # type: ignore[arg-type]
        due_at=utc(document["due_at"]),  # type: ignore[arg-type]
        status=STATUS[document["status"]],
        ended_at=utc(document.get("ended_at")),
        patron_ref=document.get("patron_id", ""),
        publication_id=document.get("publication_id") or "",
    )


class MongoOdlLendingRepository:
    def __init__(self, store: LendingStore, session: AsyncClientSession, emit: Emit) -> None:
        self.store = store
        self.session = session
        self.emit = emit
        self.partners = store.database["odl_partners"]
        self.offers = store.database["odl_offers"]

    async def partner_secret_hash(self, partner_id: str) -> str | None:
        document = await self.partners.find_one({"_id": partner_id}, session=self.session)
        return document["secret_hash"] if document else None

    async def save_partner(self, partner_id: str, name: str, secret_hash: str) -> None:
        await self.partners.update_one(
            {"_id": partner_id}, {"$set": {"name": name, "secret_hash": secret_hash}}, upsert=True, session=self.session
        )

    async def license(self, license_id: str) -> License | None:
        return await self.store.license(license_id, self.session)

    async def reserve_copies(self, license_: License, copies: int) -> bool:
        query: Document = {"_id": license_.id}
        if license_.terms.concurrency is not None:
            query["in_use"] = {"$lte": license_.terms.concurrency - copies}
        result = await self.store.licenses.update_one(query, {"$inc": {"in_use": copies}}, session=self.session)
        return result.modified_count == 1

    async def consume_checkout(self, license_id: str) -> bool:
        return await self.store.consume_checkout(license_id, self.session)

    async def save_offer(self, offer: Offer) -> None:
        await self.offers.insert_one(
            {
                "_id": offer.id,
                "partner_id": offer.partner_id,
                "title_id": offer.title_id,
                "license_id": offer.license_id,
                "copies": offer.copies,
                "max_loan_days": offer.max_loan_days,
                "created_at": offer.created_at,
                "in_use": offer.in_use,
                "ends_at": offer.ends_at,
            },
            session=self.session,
        )

    async def offer(self, offer_id: str) -> Offer | None:
        document = await self.offers.find_one({"_id": offer_id}, session=self.session)
        return _offer(document) if document else None

    async def offers_for(self, partner_id: str) -> list[Offer]:
        cursor = self.offers.find({"partner_id": partner_id}, session=self.session).sort("_id", 1)
        return [_offer(document) async for document in cursor]

    async def titles(self, title_ids: list[str]) -> dict[str, dict[str, Any]]:
        cursor = self.store.titles.find({"_id": {"$in": title_ids}}, TITLE_FIELDS, session=self.session)
        return {document["_id"]: document async for document in cursor}

    async def take_offer_copy(self, offer_id: str) -> bool:
        offer = await self.offers.find_one({"_id": offer_id}, {"copies": 1}, session=self.session)
        if offer is None:
            return False
        result = await self.offers.update_one(
            {"_id": offer_id, "in_use": {"$lt": offer["copies"]}, "withdrawn_at": None},
            {"$inc": {"in_use": 1}},
            session=self.session,
        )
        return result.modified_count == 1

    async def withdraw_offer(self, offer_id: str, at: datetime) -> bool:
        result = await self.offers.update_one(
            {"_id": offer_id, "withdrawn_at": None}, {"$set": {"withdrawn_at": at}}, session=self.session
        )
        return result.modified_count == 1

    async def release_copies(self, license_id: str, copies: int) -> None:
        if copies > 0:
            await self.store.licenses.update_one(
                {"_id": license_id, "in_use": {"$gte": copies}}, {"$inc": {"in_use": -copies}}, session=self.session
            )

    def loan_returned(self, loan: PartnerLoan, at: datetime) -> None:
        returned = events.LoanReturned(
            loan_id=loan.id,
            patron_id=loan.patron_ref,
            title_id=loan.title_id,
            publication_id=loan.publication_id,
            returned_at=timestamp(at),
            channel=events.RETURN_CHANNEL_LICENSE_STATUS,
        )
        self.emit(title_event(loan.title_id, returned))

    async def give_back_offer_copy(self, offer_id: str) -> None:
        await self.offers.update_one(
            {"_id": offer_id, "in_use": {"$gt": 0}}, {"$inc": {"in_use": -1}}, session=self.session
        )

    async def loan_by_checkout(self, partner_id: str, checkout_id: str) -> PartnerLoan | None:
        document = await self.store.loans.find_one({"odl_key": f"{partner_id}:{checkout_id}"}, session=self.session)
        return _loan(document) if document else None

    async def loan(self, loan_id: str) -> PartnerLoan | None:
        document = await self.store.loans.find_one(
            {"_id": loan_id, "partner_id": {"$exists": True}}, session=self.session
        )
        return _loan(document) if document else None

    async def insert_loan(self, loan: PartnerLoan, library_id: str, license_id: str) -> PartnerLoan:
        title = await self.store.titles.find_one({"_id": loan.title_id}, {"publication_id": 1}, session=self.session)
        loan = PartnerLoan(**{**loan.__dict__, "publication_id": (title or {}).get("publication_id") or ""})
        try:
            await self.store.loans.insert_one(
                {
                    "_id": loan.id,
                    "patron_id": loan.patron_ref,
                    "library_id": library_id,
                    "title_id": loan.title_id,
                    "publication_id": loan.publication_id,
                    "license_id": license_id,
                    "license_owner_id": library_id,
                    "starts_at": loan.starts_at,
                    "due_at": loan.due_at,
                    "renewals": 0,
                    "status": PARTNER_ACTIVE,
                    "partner_id": loan.partner_id,
                    "offer_id": loan.offer_id,
                    "checkout_id": loan.checkout_id,
                    "odl_key": f"{loan.partner_id}:{loan.checkout_id}",
                },
                session=self.session,
            )
        except DuplicateKeyError:
            raise Conflict("this checkout is being made already; ask again") from None
        return loan

    async def end_loan(self, loan_id: str, status: str, at: datetime) -> bool:
        result = await self.store.loans.update_one(
            {"_id": loan_id, "status": PARTNER_ACTIVE},
            {"$set": {"status": status, "ended_at": at}},
            session=self.session,
        )
        return result.modified_count == 1

    async def due_loans(self, now: datetime, limit: int) -> list[str]:
        cursor = self.store.loans.find(
            {"status": PARTNER_ACTIVE, "due_at": {"$lte": now}}, {"_id": 1}, session=self.session
        )
        return [document["_id"] async for document in cursor.limit(limit)]


def odl_lending_transactions(store: LendingStore, outbox: Outbox) -> RepositoryTransactions[OdlLendingRepository]:
    return RepositoryTransactions(outbox, lambda session, emit: MongoOdlLendingRepository(store, session, emit))


MIRRORED = "odl-"  # mirrored licences' ids start so: odl-{source}-{offer}


class MongoOdlBorrowingRepository:
    """The borrower's side: mirrored titles and licences, and where each local loan stands at its lender."""

    def __init__(self, store: LendingStore, outbox: Outbox, catalogue: Catalogue, clock: Clock = system_clock) -> None:
        self.store = store
        self.outbox = outbox
        self.catalogue = catalogue
        self.clock = clock

    async def library_exists(self, library_id: str) -> bool:
        return await self.store.library_document(library_id) is not None

    async def mirror(self, source: OdlSource, offered: OfferedLicence, now: datetime) -> bool:
        metadata = TitleMetadata(
            title=str(offered.title.get("title", "")),
            authors=tuple(str(author.get("name", "")) for author in offered.title.get("author", [])),
            subtitle=str(offered.title.get("subtitle", "")),
            language=str(offered.title.get("language", "und")),
            isbn=str(offered.title.get("isbn", "")),
            publisher=str(offered.title.get("publisher", "")),
            subjects=tuple(str(subject.get("name", "")) for subject in offered.title.get("subject", [])),
            description=str(offered.title.get("description", "")),
        )
        model = LicenseModel.TIME_LIMITED if offered.expires else LicenseModel.ONE_COPY_ONE_USER
        terms = LicenseTerms(model, concurrency=offered.copies, expires_at=offered.expires)
        license_id = f"{MIRRORED}{source.id}-{offered.offer_id}"

        async def work(session: AsyncClientSession, emit: Emit) -> bool:
            publication_id = f"odl:{source.id}:{offered.title.get('identifier') or offered.offer_id}"
            title_id = await self.catalogue.record_publication_in(session, publication_id, metadata)
            document = license_document(License(license_id, title_id, source.library_id, Sharing.SUBTREE, terms, now))
            changing = {key: document[key] for key in ("title_id", "owner_id", "sharing", "terms")}
            result = await self.store.licenses.update_one(
                {"_id": license_id},
                {
                    "$set": {**changing, "odl": {"source": source.id, "offer_id": offered.offer_id,
                                                  "checkout_template": offered.checkout_template}},
                    "$setOnInsert": {"acquired_at": now, "in_use": 0, "checkouts_left": None},
                },
                upsert=True,
                session=session,
            )  # fmt: skip
            await self.store.titles.update_one(
                {"_id": title_id}, {"$addToSet": {"library_ids": source.library_id}}, session=session
            )
            return result.upserted_id is not None

        return await self.outbox.transaction(work)

    async def checkouts_to_make(self, limit: int) -> list[PendingCheckout]:
        query = {"status": "active", "license_id": {"$regex": f"^{MIRRORED}"}, "odl": {"$exists": False}}
        loans = [document async for document in self.store.loans.find(query).limit(limit)]
        licences = await self._mirrored_licences([loan["license_id"] for loan in loans])
        return [_pending(loan, licences[loan["license_id"]]) for loan in loans if loan["license_id"] in licences]

    async def _mirrored_licences(self, license_ids: list[str]) -> dict[str, Document]:
        cursor = self.store.licenses.find({"_id": {"$in": license_ids}}, {"odl": 1})
        return {document["_id"]: document["odl"] async for document in cursor if document.get("odl")}

    async def loan_at_lender(self, loan_id: str) -> LoanAtLender | None:
        loan = await self.store.loans.find_one({"_id": loan_id, "license_id": {"$regex": f"^{MIRRORED}"}})
        licence = (await self._mirrored_licences([loan["license_id"]])).get(loan["license_id"]) if loan else None
        if loan is None or licence is None:
            return None
        remote = loan.get("odl") or {}
        return LoanAtLender(
            loan_id=loan["_id"],
            patron_id=loan["patron_id"],
            active=loan["status"] == "active",
            source_id=licence["source"],
            state=remote.get("state", ""),
            streaming_url=remote.get("streaming_url", ""),
            pending=None if remote else _pending(loan, licence),
        )

    async def retire_missing(self, source_id: str, offer_ids: set[str], now: datetime) -> int:
        """The licence ends now (a time-limited licence ending now): no new loan or ready hold takes it, and the
        loans it made keep their due times."""
        result = await self.store.licenses.update_many(
            {"odl.source": source_id, "odl.offer_id": {"$nin": sorted(offer_ids)}, "odl.withdrawn_at": None},
            {"$set": {"terms.model": "time-limited", "terms.expires_at": now, "odl.withdrawn_at": now}},
        )
        return result.modified_count

    async def returns_to_make(self, limit: int) -> list[PendingReturn]:
        query = {"status": {"$in": ["returned", "expired"]}, "odl.state": "active"}
        return [
            PendingReturn(d["_id"], d["odl"]["source"], d["odl"]["return_url"], d["odl"]["status_url"])
            async for d in self.store.loans.find(query).limit(limit)
        ]

    async def checked_out(self, loan_id: str, remote: RemoteCheckout) -> None:
        loan = await self.store.loans.find_one({"_id": loan_id}, {"license_id": 1})
        licence = await self.store.licenses.find_one({"_id": loan["license_id"]}, {"odl": 1}) if loan else None
        source = licence["odl"]["source"] if licence else ""
        record = {"state": "active", "source": source, **remote.__dict__}
        await self.store.loans.update_one({"_id": loan_id, "odl": {"$exists": False}}, {"$set": {"odl": record}})

    async def refused(self, loan_id: str, reason: str) -> None:
        await self.store.loans.update_one({"_id": loan_id}, {"$set": {"odl": {"state": "refused", "reason": reason}}})

    async def given_back(self, loan_id: str, status: str) -> None:
        await self.store.loans.update_one({"_id": loan_id}, {"$set": {"odl.state": status}})


def _pending(loan: Document, licence: Document) -> PendingCheckout:
    due_at = utc(loan["due_at"])
    assert due_at is not None
    return PendingCheckout(loan["_id"], loan["patron_id"], due_at, licence["source"], licence["checkout_template"])
