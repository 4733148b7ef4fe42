"""Holds: join a title's queue, leave it, pause in it ("deliver later"), and ready holds that lapse unborrowed."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from lending.domain import holds as hold_queue
from lending.domain import loans as loan_rules
from lending.domain.holds import Hold, HoldState
from lending.domain.licensing import lending_order, serves
from lending.errors import HoldNotFound, HoldNotNeeded
from lending.service_layer.clock import new_id, timestamp
from lending.service_layer.copies import pass_on_reserved_copy
from lending.service_layer.lending_events import title_event
from lending.service_layer.unit_of_work import LendingUnitOfWork
from sachso.events.v1 import lending_events_pb2 as events


async def place_hold(uow: LendingUnitOfWork, patron_id: str, title_id: str, auto_checkout: bool, now: datetime) -> Hold:
    """Join the title's queue; only when no copy the patron may borrow is free."""
    patron = loan_rules.ensure_has_card(await uow.patrons.get(patron_id))
    loan_rules.ensure_lendable(await uow.titles.lendable(title_id), title_id)
    patron.ensure_can_borrow(now)
    policy = await uow.libraries.policy(patron.library_id)
    network = await uow.libraries.network()
    licences = await uow.licences.for_title(title_id)
    queue = await uow.holds.open_for_title(title_id)
    hold_queue.ensure_may_place(
        already_borrowed=await uow.loans.has_active(patron_id, title_id),
        already_on_hold=await uow.holds.has_open(patron_id, title_id),
        open_holds=len(await uow.holds.open_of(patron_id)),
        max_holds=policy.max_holds,
        any_copy_serves=any(serves(network, lic, patron.library_id) and not lic.is_exhausted(now) for lic in licences),
        queue_is_empty=not hold_queue.waiting_for_a_copy(queue, now),
        copy_free_now=bool(lending_order(network, licences, patron.library_id, now)),
    )
    hold = Hold(
        id=new_id(),
        patron_id=patron_id,
        patron_library_id=patron.library_id,
        title_id=title_id,
        placed_at=now,
        auto_checkout=auto_checkout,
    )
    await uow.holds.add(hold)
    uow.emit(
        title_event(
            title_id,
            events.HoldPlaced(
                hold_id=hold.id,
                patron_id=patron_id,
                title_id=title_id,
                position=hold_queue.position([*queue, hold], hold),
            ),
        )
    )
    return hold


async def owned_open_hold(uow: LendingUnitOfWork, hold_id: str, patron_id: str | None) -> Hold:
    hold = await uow.holds.get(hold_id)
    if hold is None or (patron_id is not None and hold.patron_id != patron_id):
        raise HoldNotFound(f"you have no hold {hold_id}")
    if hold.state not in hold_queue.OPEN_STATES:
        raise HoldNotFound(f"hold {hold_id} is {hold.state}")
    return hold


async def cancel_hold(uow: LendingUnitOfWork, hold: Hold, now: datetime) -> None:
    """Leave the queue; a copy reserved for a ready hold passes to the next in line."""
    if not await uow.holds.close(hold.id, hold.state, HoldState.CANCELLED, now):
        raise HoldNotFound(f"hold {hold.id} changed meanwhile")
    uow.emit(
        title_event(
            hold.title_id, events.HoldCancelled(hold_id=hold.id, patron_id=hold.patron_id, title_id=hold.title_id)
        )
    )
    if hold.state is HoldState.READY and hold.license_id:
        await pass_on_reserved_copy(uow, hold.license_id, now)


async def suspend_hold(uow: LendingUnitOfWork, hold_id: str, patron_id: str | None, until: datetime | None) -> Hold:
    """Keep my place but skip me until ``until`` (None resumes the hold)."""
    hold = await owned_open_hold(uow, hold_id, patron_id)
    if hold.state is not HoldState.WAITING:
        raise HoldNotNeeded("this hold is ready: borrow the copy or cancel the hold")
    await uow.holds.suspend(hold.id, until)
    if until is not None:
        uow.emit(
            title_event(
                hold.title_id,
                events.HoldSuspended(
                    hold_id=hold.id,
                    patron_id=hold.patron_id,
                    title_id=hold.title_id,
                    suspended_until=timestamp(until),
                ),
            )
        )
    return replace(hold, suspended_until=until)


async def expire_ready_hold(uow: LendingUnitOfWork, hold_id: str, now: datetime) -> bool:
    """A ready hold nobody borrowed in time: close it and pass the copy on."""
    hold = await uow.holds.get(hold_id)
    if hold is None or hold.state is not HoldState.READY or hold.ready_until is None or hold.ready_until > now:
        return False
    await uow.holds.close(hold.id, HoldState.READY, HoldState.EXPIRED, now)
    uow.emit(
        title_event(
            hold.title_id, events.HoldExpired(hold_id=hold.id, patron_id=hold.patron_id, title_id=hold.title_id)
        )
    )
    if hold.license_id:
        await pass_on_reserved_copy(uow, hold.license_id, now)
    return True
