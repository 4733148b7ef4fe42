"""The borrowing side of ODL: another deployment's offers circulate here like local licences.

:meth:`OdlBorrowing.sync` reads a source's ODL feed and mirrors each offer as a title and a licence of the source's
library here (``copies`` readers at once, shared with the library's subtree), so holds, limits, OPDS and reports
treat it as any other licence. Local circulation never waits on the other deployment: :meth:`OdlBorrowing.relay_once`
checks each new loan of a mirrored licence out at the lender (its loan id is the ODL ``checkout_id``, so a retry is the
same checkout) and gives ended loans back there. A checkout the lender refuses ends the local loan at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from lending.domain.odl import OfferedLicence, offered_licences
from lending.errors import LibraryNotFound
from lending.service_layer.clock import Clock, system_clock
from sachso.kit.errors import DependencyUnavailable, NotFound


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


class OdlLender(Protocol):
    async def feed(self, source: OdlSource) -> Mapping[str, Any]: ...

    async def checkout(
        self, source: OdlSource, template: str, checkout_id: str, patron_ref: str, expires: datetime
    ) -> RemoteCheckout:
        """:class:`OdlRefused` when the lender says no, :class:`OdlUnavailable` when it cannot be asked."""

    async def give_back(self, source: OdlSource, return_url: str, status_url: str) -> str:
        """The loan's status at the lender after the return (returned, or expired if it ended first)."""


@dataclass(frozen=True)
class PendingCheckout:
    loan_id: str
    patron_id: str
    due_at: datetime
    source_id: str
    checkout_template: str


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


@dataclass(frozen=True)
class SyncReport:
    offers: int
    new: int


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
        return SyncReport(len(offered), new)

    async def relay_once(self, limit: int = 50) -> int:
        """Check new loans out at their lenders and give ended ones back; how many were handled."""
        handled = 0
        for pending in await self.repository.checkouts_to_make(limit):
            source = self.sources.get(pending.source_id)
            if source is None:
                continue
            try:
                remote = await self.lender.checkout(
                    source, pending.checkout_template, pending.loan_id, _patron_ref(pending.patron_id), pending.due_at
                )
            except OdlRefused as refusal:
                await self.repository.refused(pending.loan_id, str(refusal))
                await self.end_local_loan(pending.loan_id)
            except OdlUnavailable:
                continue  # asked again on the next pass
            else:
                await self.repository.checked_out(pending.loan_id, remote)
            handled += 1
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


def _patron_ref(patron_id: str) -> str:
    """What the lender learns about our patron: a stable, opaque reference."""
    return hashlib.sha256(f"sachso-patron:{patron_id}".encode()).hexdigest()[:32]
