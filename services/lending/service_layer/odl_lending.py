"""The lending side of ODL between deployments: partners, offers, and the loans partners' patrons take.

Each use case runs in one transaction. An offer reserves its copies from the licence when it is made (the licence's
conditional update, so it never over-reserves); a partner checkout takes one of the offer's copies the same way, uses
a checkout of a metered licence, and records the loan in this deployment's loans, so this side's reports count it
under the library that lent it. Partner loans end by return or at their due time (:meth:`OdlLending.expire_due`).
No loan event is published for them: there is no patron of ours to notify or to give an LCP licence to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from lending.domain.licensing import License
from lending.domain.odl import Offer, PartnerLoan
from lending.errors import NoCopyAvailable
from lending.service_layer.clock import Clock, new_id, system_clock
from sachso.kit.errors import Conflict, InvalidInput, NotFound, Unauthenticated

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

    async def loan_by_checkout(self, partner_id: str, checkout_id: str) -> PartnerLoan | None: ...

    async def loan(self, loan_id: str) -> PartnerLoan | None: ...

    async def insert_loan(self, loan: PartnerLoan, patron_ref: str, library_id: str, license_id: str) -> None: ...

    async def end_loan(self, loan_id: str, status: str, at: datetime) -> bool:
        """Active → ``status``; False when it had ended already."""

    async def due_loans(self, now: datetime, limit: int) -> list[str]: ...


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
    ) -> None:
        self.transactions = transactions
        self.hash_secret = hash_secret
        self.check_secret = check_secret
        self.clock = clock

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

    async def offers(self, partner_id: str) -> tuple[list[Offer], dict[str, dict[str, Any]]]:
        async def work(repository: OdlLendingRepository) -> tuple[list[Offer], dict[str, dict[str, Any]]]:
            offers = await repository.offers_for(partner_id)
            return offers, await repository.titles([offer.title_id for offer in offers])

        return await self.transactions.run(work)

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
            )
            await repository.insert_loan(loan, _patron_ref(partner_id, patron_id), license_.owner_id, license_.id)
            return loan

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
            if await repository.end_loan(loan.id, "returned", now):
                await repository.give_back_offer_copy(loan.offer_id)
            return PartnerLoan(**{**loan.__dict__, "status": "returned", "ended_at": now})

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
                await repository.give_back_offer_copy(loan.offer_id)
                return True

            ended += await self.transactions.run(work)
        return ended


def _patron_ref(partner_id: str, patron_id: str) -> str:
    """The partner's patron as this side records her: an opaque reference, never her identity."""
    return "odl:" + hashlib.sha256(f"{partner_id}:{patron_id}".encode()).hexdigest()[:32]
