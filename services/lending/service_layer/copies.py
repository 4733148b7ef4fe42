"""What happens to a copy: lent to a reader, freed and passed to the next hold, or given back to the pool.

Shared by the use cases that start and end loans and holds; every function runs inside the caller's unit of work.
"""

from __future__ import annotations

from datetime import datetime

from lending.domain import holds as hold_queue
from lending.domain import loans as loan_rules
from lending.domain.holds import Hold
from lending.domain.licensing import License, serves
from lending.domain.loans import LendableTitle, Loan
from lending.domain.patrons import Patron
from lending.service_layer.clock import new_id, timestamp
from lending.service_layer.lending_events import title_event
from lending.service_layer.unit_of_work import LendingUnitOfWork
from sachso.events.v1 import lending_events_pb2 as events


async def lend(
    uow: LendingUnitOfWork, patron: Patron, title: LendableTitle, license_: License, due_at: datetime, now: datetime
) -> Loan:
    """Record the loan of a copy already taken from ``license_`` and announce it."""
    loan = loan_rules.new_loan(new_id(), patron, title, license_, due_at, now)
    await uow.loans.add(loan)
    uow.emit(
        title_event(
            loan.title_id,
            events.LoanCreated(
                loan_id=loan.id,
                patron_id=patron.id,
                title_id=loan.title_id,
                publication_id=loan.publication_id,
                library_id=patron.library_id,
                license_pool_id=license_.id,
                starts_at=timestamp(now),
                due_at=timestamp(loan.due_at),
                online_only=title.online_only,
                local_document=title.local_document,
            ),
        )
    )
    return loan


async def release_copy(uow: LendingUnitOfWork, license_id: str, now: datetime) -> None:
    """A copy of ``license_id`` is free: reserve it for the next hold it may serve, or give it back."""
    license_ = await uow.licences.get(license_id)
    if license_ is None:
        return
    network = await uow.libraries.network()
    if not license_.is_exhausted(now):
        holds = await uow.holds.open_for_title(license_.title_id)
        chosen = hold_queue.next_in_line(holds, now, lambda hold: serves(network, license_, hold.patron_library_id))
        # the copy stays counted in use: it passes straight to the next reader
        if chosen is not None and (license_.checkouts_left is None or await uow.licences.consume_checkout(license_.id)):
            await make_ready(uow, chosen, license_, now)
            return
    await uow.licences.give_back_copy(license_id)


async def make_ready(uow: LendingUnitOfWork, hold: Hold, license_: License, now: datetime) -> None:
    """Reserve the copy for ``hold`` for the library's hold window; with auto-checkout, lend it at once."""
    policy = await uow.libraries.policy(hold.patron_library_id)
    ready_until = now + policy.hold_window
    await uow.holds.make_ready(hold.id, license_.id, ready_until)
    uow.emit(
        title_event(
            hold.title_id,
            events.HoldReady(
                hold_id=hold.id, patron_id=hold.patron_id, title_id=hold.title_id, ready_until=timestamp(ready_until)
            ),
        )
    )
    if not hold.auto_checkout:
        return
    patron = await uow.patrons.get(hold.patron_id)
    title = await uow.titles.lendable(hold.title_id)
    open_loans = len(await uow.loans.of_patron(hold.patron_id, active_only=True))
    if patron is None or title is None or not loan_rules.may_auto_checkout(patron, open_loans, policy, now):
        return  # she borrows it herself within the window, if she can
    await uow.holds.fulfil(hold.id)
    await lend(uow, patron, title, license_, policy.due_at(now, None), now)


async def pass_on_reserved_copy(uow: LendingUnitOfWork, license_id: str, now: datetime) -> None:
    """A reserved copy was never borrowed: refund its checkout, then free it for the queue."""
    await uow.licences.refund_checkout(license_id)
    await release_copy(uow, license_id, now)
