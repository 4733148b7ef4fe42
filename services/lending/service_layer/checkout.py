"""Checkout: lend a copy of a title to a patron — the copy reserved for her ready hold, or the best free one.

The guard against over-lending is the conditional ``licences.take_copy``; the rules (card, limit, period, which
licence) are the domain's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from lending.domain import holds as hold_queue
from lending.domain import idempotency
from lending.domain import loans as loan_rules
from lending.domain.holds import Hold, HoldState
from lending.domain.licensing import License, copies_to_try
from lending.domain.loans import Loan
from lending.domain.patrons import Patron
from lending.errors import AlreadyBorrowed, NoCopyAvailable
from lending.service_layer.copies import lend
from lending.service_layer.unit_of_work import DuplicateEntry, LendingUnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True)
class Checkout:
    loan: Loan
    replayed: bool  # the answer to an earlier attempt with the same Idempotency-Key


async def checkout(
    uow_factory: UnitOfWorkFactory,
    patron_id: str,
    title_id: str,
    period: timedelta | None,
    idempotency_key: str | None,
    now: datetime,
) -> Checkout:
    """Lend at most once per ``idempotency_key``: a retry with the same key and request gets the loan the first
    attempt made (``replayed``), recorded in the loan's own transaction so the key never names a loan that does
    not exist; a different request under the same key is refused. A refusal for want of a copy is counted."""
    key = idempotency.key_id(patron_id, "checkout", idempotency_key) if idempotency_key else None
    request = idempotency.fingerprint(title_id=title_id, period=period.total_seconds() if period else None)

    async def work(uow: LendingUnitOfWork) -> Checkout:
        if key is not None:
            done = await uow.idempotency.result(key)
            if done is not None:
                fingerprint, loan_id = done
                idempotency.ensure_same_request(fingerprint, request)
                loan = await uow.loans.get(loan_id)
                assert loan is not None  # recorded in the loan's transaction
                return Checkout(loan, replayed=True)
        loan = await lend_a_copy(uow, patron_id, title_id, period, now)
        if key is not None:
            await uow.idempotency.record(key, request, loan.id, now + idempotency.KEEP_FOR)
        return Checkout(loan, replayed=False)

    try:
        try:
            return await uow_factory().run(work)
        except DuplicateEntry as error:
            if key is None:  # a concurrent checkout of the same title by her won
                raise AlreadyBorrowed("you already have this title on loan") from error
            return await uow_factory().run(work)  # a concurrent attempt with the same key won: replay it
    except NoCopyAvailable:
        await _record_turnaway(uow_factory, patron_id, title_id, now)
        raise


async def lend_a_copy(
    uow: LendingUnitOfWork, patron_id: str, title_id: str, period: timedelta | None, now: datetime
) -> Loan:
    patron = loan_rules.ensure_has_card(await uow.patrons.get(patron_id))
    title = loan_rules.ensure_lendable(await uow.titles.lendable(title_id), title_id)
    patron.ensure_can_borrow(now)
    policy = await uow.libraries.policy(patron.library_id)
    policy.period(period)  # refuse a period outside policy before anything else
    borrowed = [loan.title_id for loan in await uow.loans.of_patron(patron.id, active_only=True)]
    loan_rules.ensure_may_borrow(borrowed, title_id, policy.max_loans)
    holds = await uow.holds.open_for_title(title_id)
    ready = next((h for h in holds if h.patron_id == patron_id and h.state is HoldState.READY), None)
    reserved = await uow.licences.get(ready.license_id) if ready and ready.license_id else None
    if ready is not None and reserved is not None:  # the copy reserved for her ready hold
        await uow.holds.fulfil(ready.id)
        license_ = reserved
    else:
        license_ = await _take_any_copy(uow, patron, title_id, holds, now)
    return await lend(uow, patron, title, license_, loan_rules.due_at(policy, license_, now, period), now)


async def _take_any_copy(
    uow: LendingUnitOfWork, patron: Patron, title_id: str, holds: list[Hold], now: datetime
) -> License:
    network = await uow.libraries.network()
    licences = await uow.licences.for_title(title_id)
    waiting = hold_queue.waiting_for_a_copy(holds, now, besides=patron.id)
    for license_ in copies_to_try(network, licences, patron.library_id, waiting, now):
        if await uow.licences.take_copy(license_):
            return license_
    raise NoCopyAvailable("every copy you may borrow is on loan; place a hold to join the queue")


async def _record_turnaway(uow_factory: UnitOfWorkFactory, patron_id: str, title_id: str, now: datetime) -> None:
    async def work(uow: LendingUnitOfWork) -> None:
        patron = await uow.patrons.get(patron_id)
        if patron is not None:
            await uow.turnaways.record(patron_id, patron.library_id, title_id, now)

    await uow_factory().run(work)
