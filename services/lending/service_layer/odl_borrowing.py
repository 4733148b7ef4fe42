"""The borrowing side of ODL: another deployment's offers circulate here like local licences.

:meth:`OdlBorrowing.sync` reads a source's ODL feed and mirrors each offer as a title and a licence of the source's
library here (``copies`` readers at once, shared with the library's subtree), so holds, limits, OPDS and reports
treat it as any other licence. Local circulation never waits on the other deployment: :meth:`OdlBorrowing.relay_once`
checks each new loan of a mirrored licence out at the lender (its loan id is the ODL ``checkout_id``, so a retry is the
same checkout) and gives ended loans back there. A checkout the lender refuses ends the local loan at once.

An offer that has left the lender's feed (withdrawn) stops lending here at the next sync — its licence ends now, so
no new loan or hold takes it — while the loans it made run to their end. A patron reads her loan through the
lender (:meth:`OdlBorrowing.reading`): the lender's streaming link of the loan gives a token of the lender's DRM and
the manifest on the lender's reader; a loan not yet checked out there is checked out first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from lending.domain.odl import OfferedLicence, PartnerReading, offered_licences
from lending.errors import LibraryNotFound
from lending.service_layer.clock import Clock, system_clock
from sachso.kit.errors import Conflict, DependencyUnavailable, NotFound


@dataclass(frozen=True)
class OdlSource:
    """A deployment whose offers this one circulates; ``library_id`` here owns the mirrored licences."""

    id: str
    feed_url: str
    client_id: str
    secret: str
    library_id: str


class OdlUnavailable(DependencyUnavailable):
    problem = "odl-source-unavailable"
    title = "The lending deployment does not answer"


class OdlRefused(Exception):
    """The lender answered and said no (no copy, unknown offer): the local loan must end."""


@dataclass(frozen=True)
class RemoteCheckout:
    remote_loan_id: str
    status: str
    status_url: str
    return_url: str
    ends_at: str
    streaming_url: str = ""


class OdlLender(Protocol):
    async def feed(self, source: OdlSource) -> Mapping[str, Any]: ...

    async def checkout(
        self, source: OdlSource, template: str, checkout_id: str, patron_ref: str, expires: datetime
    ) -> RemoteCheckout:
        """:class:`OdlRefused` when the lender says no, :class:`OdlUnavailable` when it cannot be asked."""

    async def give_back(self, source: OdlSource, return_url: str, status_url: str) -> str:
        """The loan's status at the lender after the return (returned, or expired if it ended first)."""

    async def streaming(self, source: OdlSource, streaming_url: str) -> PartnerReading:
        """A streaming token of the lender for the loan; :class:`OdlRefused` when the loan has ended there."""


@dataclass(frozen=True)
class PendingCheckout:
    loan_id: str
    patron_id: str
    due_at: datetime
    source_id: str
    checkout_template: str


@dataclass(frozen=True)
class LoanAtLender:
    """One of our loans of a mirrored licence, and where it stands at the lender."""

    loan_id: str
    patron_id: str
    active: bool
    source_id: str
    state: str  # "" (not checked out yet), active, refused, returned, expired
    streaming_url: str
    pending: PendingCheckout | None  # what checking it out takes, for a loan not checked out yet


@dataclass(frozen=True)
class PendingReturn:
    loan_id: str
    source_id: str
    return_url: str
    status_url: str


class OdlBorrowingRepository(Protocol):
    async def library_exists(self, library_id: str) -> bool: ...

    async def mirror(self, source: OdlSource, offered: OfferedLicence, now: datetime) -> bool:
        """Upsert the offer's title and licence (one transaction); True when the licence is new."""

    async def checkouts_to_make(self, limit: int) -> list[PendingCheckout]: ...

    async def returns_to_make(self, limit: int) -> list[PendingReturn]: ...

    async def checked_out(self, loan_id: str, remote: RemoteCheckout) -> None: ...

    async def refused(self, loan_id: str, reason: str) -> None: ...

    async def given_back(self, loan_id: str, status: str) -> None: ...

    async def loan_at_lender(self, loan_id: str) -> LoanAtLender | None:
        """None when the loan is not one of a mirrored licence."""

    async def retire_missing(self, source_id: str, offer_ids: set[str], now: datetime) -> int:
        """End, as of ``now``, the mirrored licences of ``source_id`` whose offers are not in ``offer_ids``;
        how many ended."""


@dataclass(frozen=True)
class SyncReport:
    offers: int
    new: int
    withdrawn: int = 0


EndLoan = Callable[[str], Awaitable[object]]


class OdlBorrowing:
    def __init__(
        self,
        sources: Mapping[str, OdlSource],
        repository: OdlBorrowingRepository,
        lender: OdlLender,
        end_local_loan: EndLoan,
        clock: Clock = system_clock,
    ) -> None:
        self.sources = sources
        self.repository = repository
        self.lender = lender
        self.end_local_loan = end_local_loan
        self.clock = clock

    def source(self, source_id: str) -> OdlSource:
        try:
            return self.sources[source_id]
        except KeyError:
            raise NotFound(f"no ODL source {source_id}") from None

    async def sync(self, source_id: str) -> SyncReport:
        source = self.source(source_id)
        if not await self.repository.library_exists(source.library_id):
            raise LibraryNotFound(f"ODL source {source_id} names library {source.library_id}, which is not here")
        offered = offered_licences(await self.lender.feed(source))
        now = self.clock()
        new = 0
        for licence in offered:
            new += await self.repository.mirror(source, licence, now)
        withdrawn = await self.repository.retire_missing(source.id, {licence.offer_id for licence in offered}, now)
        return SyncReport(len(offered), new, withdrawn)

    async def relay_once(self, limit: int = 50) -> int:
        """Check new loans out at their lenders and give ended ones back; how many were handled."""
        handled = 0
        for pending in await self.repository.checkouts_to_make(limit):
            try:
                handled += await self._check_out(pending) is not None
            except OdlUnavailable:
                continue  # asked again on the next pass
        for ended in await self.repository.returns_to_make(limit):
            source = self.sources.get(ended.source_id)
            if source is None:
                continue
            try:
                status = await self.lender.give_back(source, ended.return_url, ended.status_url)
            except OdlUnavailable:
                continue
            await self.repository.given_back(ended.loan_id, status)
            handled += 1
        return handled

    async def _check_out(self, pending: PendingCheckout) -> RemoteCheckout | None:
        """Check one loan out at its lender; None when the lender refused (the local loan then ends)."""
        source = self.sources.get(pending.source_id)
        if source is None:
            raise OdlUnavailable(f"ODL source {pending.source_id} is no longer configured")
        try:
            remote = await self.lender.checkout(
                source, pending.checkout_template, pending.loan_id, _patron_ref(pending.patron_id), pending.due_at
            )
        except OdlRefused as refusal:
            await self.repository.refused(pending.loan_id, str(refusal))
            await self.end_local_loan(pending.loan_id)
            return None
        await self.repository.checked_out(pending.loan_id, remote)
        return remote

    async def reading(self, patron_id: str, loan_id: str) -> PartnerReading:
        """Let the patron read her loan of another deployment's title: the lender's streaming token for it."""
        loan = await self.repository.loan_at_lender(loan_id)
        if loan is None or loan.patron_id != patron_id:
            raise NotFound(f"no loan {loan_id} of another deployment's title")
        if not loan.active:
            raise Conflict("the loan has ended")
        streaming_url = loan.streaming_url
        if not loan.state and loan.pending is not None:  # borrowed a moment ago: check it out now, not at the relay
            remote = await self._check_out(loan.pending)
            if remote is None:
                raise Conflict("the lending library no longer lends this copy; the loan has ended")
            streaming_url = remote.streaming_url
        elif loan.state != "active":
            raise Conflict(f"the loan is {loan.state or 'not checked out'} at the lending library")
        source = self.source(loan.source_id)
        if not streaming_url:
            raise OdlUnavailable(f"ODL source {source.id} gives no streaming link for this loan")
        try:
            return await self.lender.streaming(source, streaming_url)
        except OdlRefused as refusal:
            raise Conflict(f"the lending library refuses: {refusal}") from None


def _patron_ref(patron_id: str) -> str:
    """What the lender learns about our patron: a stable, opaque reference."""
    return hashlib.sha256(f"sachso-patron:{patron_id}".encode()).hexdigest()[:32]
