"""The lending side of ODL between deployments: partners, offers, and the loans partners' patrons take.

Each use case runs in one transaction. An offer reserves its copies from the licence when it is made (the licence's
conditional update, so it never over-reserves); a partner checkout takes one of the offer's copies the same way, uses
a checkout of a metered licence, and records the loan in this deployment's loans, so this side's reports count it
under the library that lent it. Partner loans end by return or at their due time (:meth:`OdlLending.expire_due`).

The partner's patron reads through the partner loan: :meth:`OdlLending.reading` asks this deployment's DRM for a
streaming token of the loan (DRM learns the loan from lending's ``GetLoan``, as for any loan asked about before its
event), valid on this deployment's reader and never past the loan's end. An early return publishes
``LoanReturned`` so DRM and the reader refuse the loan's tokens at once; no other loan event is published for
partner loans (there is no patron of ours to notify).

Staff withdraw an offer (:meth:`OdlLending.withdraw_offer`): no new checkouts from then on; its copies not on loan go
back to the licence at once, and each one on loan goes back when its loan ends — the running loans end as they would
have.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from lending.domain.licensing import License
from lending.domain.odl import Offer, PartnerLoan, PartnerReading
from lending.errors import NoCopyAvailable
from lending.service_layer.clock import Clock, new_id, system_clock
from sachso.kit.errors import Conflict, DependencyUnavailable, InvalidInput, NotFound, Unauthenticated

T = TypeVar("T")


class OdlLendingRepository(Protocol):
    async def partner_secret_hash(self, partner_id: str) -> str | None: ...

    async def save_partner(self, partner_id: str, name: str, secret_hash: str) -> None: ...

    async def license(self, license_id: str) -> License | None: ...

    async def reserve_copies(self, license_: License, copies: int) -> bool:
        """Count ``copies`` more readers on the licence if its concurrency allows (atomic)."""

    async def consume_checkout(self, license_id: str) -> bool: ...

    async def save_offer(self, offer: Offer) -> None: ...

    async def offer(self, offer_id: str) -> Offer | None: ...

    async def offers_for(self, partner_id: str) -> list[Offer]: ...

    async def titles(self, title_ids: list[str]) -> dict[str, dict[str, Any]]: ...

    async def take_offer_copy(self, offer_id: str) -> bool:
        """One more partner reader on the offer if it has a copy free (atomic)."""

    async def give_back_offer_copy(self, offer_id: str) -> None: ...

    async def withdraw_offer(self, offer_id: str, at: datetime) -> bool:
        """Mark the offer withdrawn; False when it was already."""

    async def release_copies(self, license_id: str, copies: int) -> None:
        """Copies reserved for an offer go back to the licence's own patrons."""

    def loan_returned(self, loan: PartnerLoan, at: datetime) -> None:
        """Emit ``LoanReturned`` for the partner loan (DRM and the reader end its reading)."""

    async def loan_by_checkout(self, partner_id: str, checkout_id: str) -> PartnerLoan | None: ...

    async def loan(self, loan_id: str) -> PartnerLoan | None: ...

    async def insert_loan(self, loan: PartnerLoan, library_id: str, license_id: str) -> PartnerLoan:
        """Record the loan (with the title's publication, which it returns filled in)."""

    async def end_loan(self, loan_id: str, status: str, at: datetime) -> bool:
        """Active → ``status``; False when it had ended already."""

    async def due_loans(self, now: datetime, limit: int) -> list[str]: ...


class StreamingTokens(Protocol):
    """This deployment's DRM: a streaming token for a loan (``sachso.drm.v1.DrmService/IssueStreamingToken``)."""

    async def issue(self, loan_id: str, patron_id: str, publication_id: str) -> tuple[str, datetime]: ...


class OdlLendingTransactions(Protocol):
    async def run(self, work: Callable[[OdlLendingRepository], Awaitable[T]]) -> T: ...


SecretHasher = Callable[[str], Awaitable[str]]
SecretCheck = Callable[[str | None, str], Awaitable[bool]]


class OdlLending:
    def __init__(
        self,
        transactions: OdlLendingTransactions,
        hash_secret: SecretHasher,
        check_secret: SecretCheck,
        clock: Clock = system_clock,
        *,
        streaming: StreamingTokens | None = None,
        reader_url: str = "",
    ) -> None:
        self.transactions = transactions
        self.hash_secret = hash_secret
        self.check_secret = check_secret
        self.clock = clock
        self.streaming = streaming
        self.reader_url = reader_url.rstrip("/")

    async def register_partner(self, partner_id: str, name: str, secret: str) -> None:
        if len(secret) < 24:
            raise InvalidInput("partner secrets need at least 24 characters")
        secret_hash = await self.hash_secret(secret)
        await self.transactions.run(lambda repository: repository.save_partner(partner_id, name, secret_hash))

    async def authenticate(self, partner_id: str, secret: str) -> str:
        stored = await self.transactions.run(lambda repository: repository.partner_secret_hash(partner_id))
        if not await self.check_secret(stored, secret):
            raise Unauthenticated("partner id or secret is wrong")
        return partner_id

    async def license(self, license_id: str) -> License:
        found = await self.transactions.run(lambda repository: repository.license(license_id))
        if found is None:
            raise NotFound(f"no licence {license_id}")
        return found

    async def make_offer(self, partner_id: str, license_id: str, copies: int, max_loan_days: int) -> Offer:
        """Reserve ``copies`` of the licence for the partner's patrons."""
        now = self.clock()

        async def work(repository: OdlLendingRepository) -> Offer:
            if await repository.partner_secret_hash(partner_id) is None:
                raise NotFound(f"no partner {partner_id}")
            license_ = await repository.license(license_id)
            if license_ is None:
                raise NotFound(f"no licence {license_id}")
            if license_.is_exhausted(now):
                raise NoCopyAvailable("this licence can lend no more")
            offer = Offer(
                id=new_id(),
                partner_id=partner_id,
                title_id=license_.title_id,
                license_id=license_id,
                copies=copies,
                max_loan_days=max_loan_days,
                created_at=now,
                ends_at=license_.terms.expires_at,
            )
            if not await repository.reserve_copies(license_, copies):
                raise NoCopyAvailable(f"the licence has fewer than {copies} copies free to offer")
            await repository.save_offer(offer)
            return offer

        return await self.transactions.run(work)

    async def withdraw_offer(self, offer_id: str) -> Offer:
        """No new checkouts from the offer; the copies not on loan go back to the licence now, the others as their
        loans end. Withdrawing twice changes nothing."""
        now = self.clock()

        async def work(repository: OdlLendingRepository) -> Offer:
            offer = await repository.offer(offer_id)
            if offer is None:
                raise NotFound(f"no offer {offer_id}")
            if offer.withdrawn_at is not None:
                return offer
            release = offer.copies_to_release()
            if await repository.withdraw_offer(offer.id, now):
                await repository.release_copies(offer.license_id, release)
            return Offer(**{**offer.__dict__, "withdrawn_at": now})

        return await self.transactions.run(work)

    async def offers(self, partner_id: str) -> tuple[list[Offer], dict[str, dict[str, Any]]]:
        """The partner's offers still open (a withdrawn offer leaves the feed; its loans keep their documents)."""

        async def work(repository: OdlLendingRepository) -> tuple[list[Offer], dict[str, dict[str, Any]]]:
            offers = [offer for offer in await repository.offers_for(partner_id) if offer.withdrawn_at is None]
            return offers, await repository.titles([offer.title_id for offer in offers])

        return await self.transactions.run(work)

    async def offer_to_manage(self, offer_id: str) -> tuple[Offer, License]:
        """An offer and the licence it reserves from (staff may manage it if they manage the licence's library)."""

        async def work(repository: OdlLendingRepository) -> tuple[Offer, License | None]:
            offer = await repository.offer(offer_id)
            if offer is None:
                raise NotFound(f"no offer {offer_id}")
            return offer, await repository.license(offer.license_id)

        offer, license_ = await self.transactions.run(work)
        if license_ is None:
            raise NotFound(f"no licence {offer.license_id}")
        return offer, license_

    async def offer(self, partner_id: str, offer_id: str) -> Offer:
        found = await self.transactions.run(lambda repository: repository.offer(offer_id))
        if found is None or found.partner_id != partner_id:
            raise NotFound(f"no offer {offer_id}")  # another partner's offer does not exist for this one
        return found

    async def checkout(
        self, partner_id: str, offer_id: str, checkout_id: str, patron_id: str, expires: datetime | None
    ) -> PartnerLoan:
        """Lend one of the offer's copies to the partner's patron; the same ``checkout_id`` gives the same loan."""
        if not checkout_id or not patron_id:
            raise InvalidInput("a checkout needs checkout_id and patron_id")
        now = self.clock()

        async def work(repository: OdlLendingRepository) -> PartnerLoan:
            existing = await repository.loan_by_checkout(partner_id, checkout_id)
            if existing is not None:
                return existing
            offer = await repository.offer(offer_id)
            if offer is None or offer.partner_id != partner_id:
                raise NotFound(f"no offer {offer_id}")
            if offer.withdrawn_at is not None:
                raise NoCopyAvailable("the lender withdrew this offer")
            license_ = await repository.license(offer.license_id)
            if license_ is None or offer.available(now) == 0 or not await repository.take_offer_copy(offer.id):
                raise NoCopyAvailable("every copy offered to you is on loan")
            if license_.checkouts_left is not None and not await repository.consume_checkout(license_.id):
                raise NoCopyAvailable("the licence has no checkouts left")
            loan = PartnerLoan(
                id=new_id(),
                partner_id=partner_id,
                offer_id=offer.id,
                checkout_id=checkout_id,
                title_id=offer.title_id,
                starts_at=now,
                due_at=offer.due(now, expires),
                status="active",
                patron_ref=_patron_ref(partner_id, patron_id),
            )
            return await repository.insert_loan(loan, license_.owner_id, license_.id)

        return await self.transactions.run(work)

    async def loan(self, partner_id: str, loan_id: str) -> PartnerLoan:
        found = await self.transactions.run(lambda repository: repository.loan(loan_id))
        if found is None or found.partner_id != partner_id:
            raise NotFound(f"no loan {loan_id}")
        return found

    async def return_loan(self, partner_id: str, loan_id: str) -> PartnerLoan:
        """Early return: the copy goes back to the offer at once."""
        now = self.clock()

        async def work(repository: OdlLendingRepository) -> PartnerLoan:
            loan = await repository.loan(loan_id)
            if loan is None or loan.partner_id != partner_id:
                raise NotFound(f"no loan {loan_id}")
            if loan.status != "active":
                raise Conflict(f"the loan has ended ({loan.status})")
            returned = PartnerLoan(**{**loan.__dict__, "status": "returned", "ended_at": now})
            if await repository.end_loan(loan.id, "returned", now):
                await _copy_back(repository, loan.offer_id)
                repository.loan_returned(returned, now)
            return returned

        return await self.transactions.run(work)

    async def expire_due(self, limit: int = 100) -> int:
        """End partner loans past their due time; their copies go back to the offers."""
        now = self.clock()
        due = await self.transactions.run(lambda repository: repository.due_loans(now, limit))
        ended = 0
        for loan_id in due:

            async def work(repository: OdlLendingRepository, loan_id: str = loan_id) -> bool:
                loan = await repository.loan(loan_id)
                if loan is None or not await repository.end_loan(loan_id, "expired", now):
                    return False
                await _copy_back(repository, loan.offer_id)
                return True

            ended += await self.transactions.run(work)
        return ended

    async def reading(self, partner_id: str, loan_id: str) -> PartnerReading:
        """A streaming token for the partner's patron to read her loan on this deployment's reader."""
        if self.streaming is None or not self.reader_url:
            raise DependencyUnavailable("partners' patrons cannot read here: DRM or the reader is not configured")
        loan = await self.loan(partner_id, loan_id)
        if loan.status != "active":
            raise Conflict(f"the loan has ended ({loan.status})")
        token, expires_at = await self.streaming.issue(loan.id, loan.patron_ref, loan.publication_id)
        return PartnerReading(loan.id, token, expires_at, f"{self.reader_url}/v1/read/{token}/manifest.json")


async def _copy_back(repository: OdlLendingRepository, offer_id: str) -> None:
    """A partner loan ended: its copy goes back to the offer, or to the licence if the offer was withdrawn."""
    offer = await repository.offer(offer_id)
    await repository.give_back_offer_copy(offer_id)
    if offer is not None and offer.withdrawn_at is not None:
        await repository.release_copies(offer.license_id, 1)


def _patron_ref(partner_id: str, patron_id: str) -> str:
    """The partner's patron as this side records her: an opaque reference, never her identity."""
    return "odl:" + hashlib.sha256(f"{partner_id}:{patron_id}".encode()).hexdigest()[:32]
