"""Circulation's entry point for the edges: each use case in its own unit of work, plus what a patron sees.

The use cases live one per module — :mod:`checkout`, :mod:`loan_changes` (renew, return, expire),
:mod:`hold_requests` (place, cancel, suspend, lapse), :mod:`card_blocks` — and the rules they apply in
``lending.domain``. Every use case runs in one unit of work with the events it causes (the MongoDB one is a
transaction with the outbox); the guard against over-lending is the conditional ``licences.take_copy``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from lending.domain import holds as hold_queue
from lending.domain.holds import Hold
from lending.domain.licensing import copies_for
from lending.domain.loans import ACTIVE, Loan
from lending.domain.network import LibraryNetwork
from lending.errors import LoanNotFound
from lending.service_layer import card_blocks, hold_requests, loan_changes
from lending.service_layer.checkout import Checkout, OneAtATime, checkout
from lending.service_layer.clock import Clock, system_clock
from lending.service_layer.unit_of_work import LendingUnitOfWork, Turnaways, UnitOfWorkFactory
from sachso.events.v1 import lending_events_pb2 as events

__all__ = ["ACTIVE", "Checkout", "Circulation", "HoldView", "Loan"]


@dataclass(frozen=True)
class HoldView:
    hold: Hold
    position: int
    estimated_wait: timedelta | None


class Circulation:
    def __init__(self, uow: UnitOfWorkFactory, turnaways: Turnaways, clock: Clock = system_clock) -> None:
        self.uow = uow
        self.turnaways = turnaways
        self.clock = clock
        self.copy_takers = OneAtATime()

    # -- reading -------------------------------------------------------------------------------------------

    async def loans_of(self, patron_id: str, *, active_only: bool = True) -> list[Loan]:
        async def work(uow: LendingUnitOfWork) -> list[Loan]:
            return await uow.loans.of_patron(patron_id, active_only=active_only)

        return await self.uow().run(work)

    async def loan(self, loan_id: str) -> Loan:
        async def work(uow: LendingUnitOfWork) -> Loan | None:
            return await uow.loans.get(loan_id)

        loan = await self.uow().run(work)
        if loan is None:
            raise LoanNotFound(f"no loan {loan_id}")
        return loan

    async def active_loan_for_publication(self, patron_id: str, publication_id: str) -> Loan | None:
        async def work(uow: LendingUnitOfWork) -> Loan | None:
            return await uow.loans.active_for_publication(patron_id, publication_id)

        return await self.uow().run(work)

    async def holds_of(self, patron_id: str) -> list[HoldView]:
        now = self.clock()

        async def work(uow: LendingUnitOfWork) -> list[HoldView]:
            network = await uow.libraries.network()
            return [await _view(uow, hold, network, now) for hold in await uow.holds.open_of(patron_id)]

        return sorted(await self.uow().run(work), key=lambda view: view.hold.placed_at)

    async def _hold_view(self, hold: Hold) -> HoldView:
        async def work(uow: LendingUnitOfWork) -> HoldView:
            return await _view(uow, hold, await uow.libraries.network(), self.clock())

        return await self.uow().run(work)

    # -- loans ---------------------------------------------------------------------------------------------

    async def checkout(self, patron_id: str, title_id: str, period: timedelta | None = None) -> Loan:
        """Lend a copy of ``title_id`` to the patron for ``period`` (within her library's policy)."""
        return (await self.checkout_once(patron_id, title_id, period, None)).loan

    async def checkout_once(
        self, patron_id: str, title_id: str, period: timedelta | None, idempotency_key: str | None
    ) -> Checkout:
        """:meth:`checkout`, at most once per ``idempotency_key`` (a retry replays the first answer)."""
        return await checkout(
            self.uow, self.turnaways, patron_id, title_id, period, idempotency_key, self.clock(), self.copy_takers
        )

    async def renewal_check(self, loan_id: str) -> tuple[datetime | None, str]:
        """The due time a renewal would give, or None and the reason it is refused."""

        async def work(uow: LendingUnitOfWork) -> tuple[datetime | None, str]:
            outcome = await loan_changes.renewal(uow, loan_id, self.clock())
            return outcome.due_at, outcome.refusal

        return await self.uow().run(work)

    async def renew(self, loan_id: str, patron_id: str | None = None) -> Loan:
        """Extend a loan by the library's default period when nobody waits and the renewal limit allows."""
        return await self.uow().run(lambda uow: loan_changes.renew(uow, loan_id, patron_id, self.clock()))

    async def return_loan(
        self,
        loan_id: str,
        patron_id: str | None = None,
        channel: events.ReturnChannel.ValueType = events.RETURN_CHANNEL_PATRON,
    ) -> Loan:
        """End a loan early; the copy goes to the next hold within the same transaction."""

        async def work(uow: LendingUnitOfWork) -> Loan:
            loan = await loan_changes.owned_active_loan(uow, loan_id, patron_id)
            return await loan_changes.return_loan(uow, loan, channel, self.clock())

        return await self.uow().run(work)

    async def expire_loan(self, loan_id: str) -> bool:
        """End a loan that reached its due time; False when it had already ended or is not due."""
        return await self.uow().run(lambda uow: loan_changes.expire_loan(uow, loan_id, self.clock()))

    # -- holds ---------------------------------------------------------------------------------------------

    async def place_hold(self, patron_id: str, title_id: str, *, auto_checkout: bool = False) -> HoldView:
        """Join the title's queue; only when no copy the patron may borrow is free."""
        hold = await self.uow().run(
            lambda uow: hold_requests.place_hold(uow, patron_id, title_id, auto_checkout, self.clock())
        )
        return await self._hold_view(hold)

    async def cancel_hold(self, hold_id: str, patron_id: str | None = None) -> None:
        async def work(uow: LendingUnitOfWork) -> None:
            hold = await hold_requests.owned_open_hold(uow, hold_id, patron_id)
            await hold_requests.cancel_hold(uow, hold, self.clock())

        await self.uow().run(work)

    async def suspend_hold(self, hold_id: str, patron_id: str | None, until: datetime | None) -> HoldView:
        """Keep my place but skip me until ``until`` (None resumes the hold)."""
        hold = await self.uow().run(lambda uow: hold_requests.suspend_hold(uow, hold_id, patron_id, until))
        return await self._hold_view(hold)

    async def expire_ready_hold(self, hold_id: str) -> bool:
        """A ready hold nobody borrowed in time: close it and pass the copy on."""
        return await self.uow().run(lambda uow: hold_requests.expire_ready_hold(uow, hold_id, self.clock()))

    # -- blocked cards -------------------------------------------------------------------------------------

    async def block_card(self, patron_id: str) -> None:
        """Staff block a card: access ends at once (see :func:`card_blocks.block_card`)."""
        await self.uow().run(lambda uow: card_blocks.block_card(uow, patron_id, self.clock()))

    async def unblock_card(self, patron_id: str) -> None:
        """Lift a block: she signs in and borrows again, and her waiting holds are back in line."""
        await self.uow().run(lambda uow: card_blocks.unblock_card(uow, patron_id, self.clock()))


async def _view(uow: LendingUnitOfWork, hold: Hold, network: LibraryNetwork, now: datetime) -> HoldView:
    holds = await uow.holds.open_for_title(hold.title_id)
    licences = await uow.licences.for_title(hold.title_id)
    position = hold_queue.position(holds, hold)
    policy = await uow.libraries.policy(hold.patron_library_id)
    copies = copies_for(network, licences, hold.patron_library_id, now)
    return HoldView(hold, position, hold_queue.estimated_wait(position, copies, policy.default_period))
