"""A loan after checkout: renewed (only when nobody waits), returned early, or ended at its due time."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from lending.domain import loans as loan_rules
from lending.domain.holds import HoldState
from lending.domain.licensing import serves
from lending.domain.loans import Loan
from lending.errors import LoanNotActive, LoanNotFound, RenewalRefused
from lending.service_layer.clock import timestamp
from lending.service_layer.copies import release_copy
from lending.service_layer.lending_events import title_event
from lending.service_layer.unit_of_work import LendingUnitOfWork
from sachso.events.v1 import lending_events_pb2 as events


async def owned_active_loan(uow: LendingUnitOfWork, loan_id: str, patron_id: str | None) -> Loan:
    loan = await uow.loans.get(loan_id)
    if loan is None or (patron_id is not None and loan.patron_id != patron_id):
        raise LoanNotFound(f"you have no loan {loan_id}")  # another patron's loan does not exist for you
    if not loan.is_active:
        raise LoanNotActive(f"the loan ended ({loan.status})")
    return loan


async def renewal(uow: LendingUnitOfWork, loan_id: str, now: datetime) -> loan_rules.Renewal:
    """What a renewal would give now (the rule is the domain's; this gathers what it needs)."""
    loan = await uow.loans.get(loan_id)
    if loan is None:
        raise LoanNotFound(f"no loan {loan_id}")
    if not loan.is_active:
        return loan_rules.Renewal(None, "the loan has ended")
    patron = await uow.patrons.get(loan.patron_id)
    policy = await uow.libraries.policy(loan.library_id)
    license_ = await uow.licences.get(loan.license_id)
    others_waiting = False
    if license_ is not None:
        network = await uow.libraries.network()
        others_waiting = any(
            hold.state is HoldState.WAITING and serves(network, license_, hold.patron_library_id)
            for hold in await uow.holds.open_for_title(loan.title_id)
        )
    return loan_rules.renewal(
        loan, patron=patron, policy=policy, license_=license_, others_waiting=others_waiting, now=now
    )


async def renew(uow: LendingUnitOfWork, loan_id: str, patron_id: str | None, now: datetime) -> Loan:
    """Extend a loan by the library's default period when nobody waits and the renewal limit allows."""
    loan = await owned_active_loan(uow, loan_id, patron_id)
    outcome = await renewal(uow, loan_id, now)
    if outcome.due_at is None:
        raise RenewalRefused(outcome.refusal)
    await uow.loans.extend(loan.id, outcome.due_at)
    uow.emit(
        title_event(
            loan.title_id,
            events.LoanRenewed(
                loan_id=loan.id, patron_id=loan.patron_id, title_id=loan.title_id, due_at=timestamp(outcome.due_at)
            ),
        )
    )
    return replace(loan, due_at=outcome.due_at, renewals=loan.renewals + 1)


async def return_loan(
    uow: LendingUnitOfWork, loan: Loan, channel: events.ReturnChannel.ValueType, now: datetime
) -> Loan:
    """End a loan early; the copy goes to the next hold within the same unit of work."""
    await uow.loans.end(loan.id, loan_rules.RETURNED, now)
    uow.emit(
        title_event(
            loan.title_id,
            events.LoanReturned(
                loan_id=loan.id,
                patron_id=loan.patron_id,
                title_id=loan.title_id,
                publication_id=loan.publication_id,
                returned_at=timestamp(now),
                channel=channel,
            ),
        )
    )
    await release_copy(uow, loan.license_id, now)
    return replace(loan, status=loan_rules.RETURNED, ended_at=now)


async def expire_loan(uow: LendingUnitOfWork, loan_id: str, now: datetime) -> bool:
    """End a loan that reached its due time; False when it had already ended or is not due."""
    loan = await uow.loans.get(loan_id)
    if loan is None or not loan_rules.is_due(loan, now):
        return False
    await uow.loans.end(loan.id, loan_rules.EXPIRED, now)
    uow.emit(
        title_event(
            loan.title_id,
            events.LoanExpired(
                loan_id=loan.id,
                patron_id=loan.patron_id,
                title_id=loan.title_id,
                publication_id=loan.publication_id,
                expired_at=timestamp(now),
            ),
        )
    )
    await release_copy(uow, loan.license_id, now)
    return True
