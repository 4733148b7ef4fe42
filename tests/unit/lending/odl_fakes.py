"""An in-memory fake of the ODL lender's repository (:class:`lending.service_layer.odl_lending.OdlLendingRepository`),
its transactions (all or nothing), and the lender's DRM streaming tokens."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from lending.domain.licensing import License
from lending.domain.odl import Offer, OfferedLicence, PartnerLoan, PartnerReading
from lending.service_layer.odl_borrowing import (
    LoanAtLender,
    OdlRefused,
    OdlSource,
    PendingCheckout,
    PendingReturn,
    RemoteCheckout,
)
from lending.service_layer.odl_lending import OdlLendingRepository

T = TypeVar("T")


class FakeOdlLending:
    def __init__(self, licences: list[License], titles: dict[str, dict[str, Any]]) -> None:
        self.partners: dict[str, str] = {}
        self.licences = {licence.id: licence for licence in licences}
        self.titles_by_id = titles
        self.offers: dict[str, Offer] = {}
        self.loans: dict[str, PartnerLoan] = {}
        self.returned_events: list[str] = []

    async def partner_secret_hash(self, partner_id: str) -> str | None:
        return self.partners.get(partner_id)

    async def save_partner(self, partner_id: str, name: str, secret_hash: str) -> None:
        self.partners[partner_id] = secret_hash

    async def license(self, license_id: str) -> License | None:
        return self.licences.get(license_id)

    async def reserve_copies(self, license_: License, copies: int) -> bool:
        current = self.licences[license_.id]
        if current.terms.concurrency is not None and current.in_use + copies > current.terms.concurrency:
            return False
        self.licences[license_.id] = replace(current, in_use=current.in_use + copies)
        return True

    async def consume_checkout(self, license_id: str) -> bool:
        current = self.licences[license_id]
        if current.checkouts_left is not None and current.checkouts_left <= 0:
            return False
        left = None if current.checkouts_left is None else current.checkouts_left - 1
        self.licences[license_id] = replace(current, checkouts_left=left)
        return True

    async def save_offer(self, offer: Offer) -> None:
        self.offers[offer.id] = offer

    async def offer(self, offer_id: str) -> Offer | None:
        return self.offers.get(offer_id)

    async def offers_for(self, partner_id: str) -> list[Offer]:
        return [offer for offer in self.offers.values() if offer.partner_id == partner_id]

    async def titles(self, title_ids: list[str]) -> dict[str, dict[str, Any]]:
        return {title_id: self.titles_by_id[title_id] for title_id in title_ids if title_id in self.titles_by_id}

    async def take_offer_copy(self, offer_id: str) -> bool:
        offer = self.offers[offer_id]
        if offer.withdrawn_at is not None or offer.in_use >= offer.copies:
            return False
        self.offers[offer_id] = replace(offer, in_use=offer.in_use + 1)
        return True

    async def give_back_offer_copy(self, offer_id: str) -> None:
        offer = self.offers[offer_id]
        self.offers[offer_id] = replace(offer, in_use=max(0, offer.in_use - 1))

    async def withdraw_offer(self, offer_id: str, at: datetime) -> bool:
        offer = self.offers[offer_id]
        if offer.withdrawn_at is not None:
            return False
        self.offers[offer_id] = replace(offer, withdrawn_at=at)
        return True

    async def release_copies(self, license_id: str, copies: int) -> None:
        current = self.licences[license_id]
        if copies > 0 and current.in_use >= copies:
            self.licences[license_id] = replace(current, in_use=current.in_use - copies)

    def loan_returned(self, loan: PartnerLoan, at: datetime) -> None:
        self.returned_events.append(loan.id)

    async def loan_by_checkout(self, partner_id: str, checkout_id: str) -> PartnerLoan | None:
        found = [
            loan for loan in self.loans.values() if (loan.partner_id, loan.checkout_id) == (partner_id, checkout_id)
        ]
        return found[0] if found else None

    async def loan(self, loan_id: str) -> PartnerLoan | None:
        return self.loans.get(loan_id)

    async def insert_loan(self, loan: PartnerLoan, library_id: str, license_id: str) -> PartnerLoan:
        title = self.titles_by_id.get(loan.title_id, {})
        stored = replace(loan, publication_id=str(title.get("publication_id", "")))
        self.loans[loan.id] = stored
        return stored

    async def end_loan(self, loan_id: str, status: str, at: datetime) -> bool:
        loan = self.loans[loan_id]
        if loan.status != "active":
            return False
        self.loans[loan_id] = replace(loan, status=status, ended_at=at)
        return True

    async def due_loans(self, now: datetime, limit: int) -> list[str]:
        return [loan.id for loan in self.loans.values() if loan.status == "active" and loan.due_at <= now][:limit]


class FakeOdlTransactions:
    """Runs work on a copy and keeps it only when the work succeeds."""

    def __init__(self, repository: FakeOdlLending) -> None:
        self.repository = repository

    async def run(self, work: Callable[[OdlLendingRepository], Awaitable[T]]) -> T:
        attempt = copy.deepcopy(self.repository)
        result = await work(attempt)
        self.repository.__dict__.update(attempt.__dict__)
        return result


class FakeStreamingTokens:
    """The lender's DRM: a token naming the loan, patron and publication, valid five minutes."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.issued: list[tuple[str, str, str]] = []

    async def issue(self, loan_id: str, patron_id: str, publication_id: str) -> tuple[str, datetime]:
        self.issued.append((loan_id, patron_id, publication_id))
        return f"token-{loan_id}", self.now + timedelta(minutes=5)


class FakeBorrowing:
    """The borrower's repository (:class:`lending.service_layer.odl_borrowing.OdlBorrowingRepository`): mirrored
    offers by id, and where each local loan stands at the lender."""

    def __init__(self, libraries: set[str]) -> None:
        self.libraries = libraries
        self.mirrored: dict[str, OfferedLicence] = {}
        self.retired: set[str] = set()
        self.loans: dict[str, LoanAtLender] = {}
        self.remote: dict[str, RemoteCheckout] = {}
        self.refusals: dict[str, str] = {}

    async def library_exists(self, library_id: str) -> bool:
        return library_id in self.libraries

    async def mirror(self, source: OdlSource, offered: OfferedLicence, now: datetime) -> bool:
        new = offered.offer_id not in self.mirrored
        self.mirrored[offered.offer_id] = offered
        return new

    async def retire_missing(self, source_id: str, offer_ids: set[str], now: datetime) -> int:
        missing = set(self.mirrored) - offer_ids - self.retired
        self.retired |= missing
        return len(missing)

    async def checkouts_to_make(self, limit: int) -> list[PendingCheckout]:
        return [loan.pending for loan in self.loans.values() if loan.pending and not loan.state][:limit]

    async def returns_to_make(self, limit: int) -> list[PendingReturn]:
        return []

    async def checked_out(self, loan_id: str, remote: RemoteCheckout) -> None:
        self.remote[loan_id] = remote
        self.loans[loan_id] = replace(self.loans[loan_id], state="active", streaming_url=remote.streaming_url)

    async def refused(self, loan_id: str, reason: str) -> None:
        self.refusals[loan_id] = reason
        self.loans[loan_id] = replace(self.loans[loan_id], state="refused")

    async def given_back(self, loan_id: str, status: str) -> None:
        self.loans[loan_id] = replace(self.loans[loan_id], state=status)

    async def loan_at_lender(self, loan_id: str) -> LoanAtLender | None:
        return self.loans.get(loan_id)


class FakeLender:
    """The lending deployment as the borrower's HTTP client sees it."""

    def __init__(self, feed: dict[str, Any], now: datetime) -> None:
        self.feed_document = feed
        self.now = now
        self.refuse = ""
        self.checkouts: list[str] = []

    async def feed(self, source: OdlSource) -> dict[str, Any]:
        return self.feed_document

    async def checkout(
        self, source: OdlSource, template: str, checkout_id: str, patron_ref: str, expires: datetime
    ) -> RemoteCheckout:
        if self.refuse:
            raise OdlRefused(self.refuse)
        self.checkouts.append(checkout_id)
        base = f"https://daklak.test/odl/loans/r-{checkout_id}"
        return RemoteCheckout(f"r-{checkout_id}", "active", f"{base}/status", f"{base}/return", "", f"{base}/streaming")

    async def give_back(self, source: OdlSource, return_url: str, status_url: str) -> str:
        return "returned"

    async def streaming(self, source: OdlSource, streaming_url: str) -> PartnerReading:
        loan_id = streaming_url.split("/")[-2]
        return PartnerReading(loan_id, f"token-{loan_id}", self.now, f"https://reader.daklak.test/v1/read/t/{loan_id}")
