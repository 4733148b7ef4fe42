"""Circulation's use cases on the in-memory fakes: every lending rule, in milliseconds, no server.

The model is cosmicpython's ``test_handlers.py``: drive the service layer through its public entry point and
look at the state and the events it published. The MongoDB implementations are proved against the real server
by the integration tests and the shared repository contract.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lending.domain.holds import HoldState
from lending.domain.licensing import License, LicenseModel, LicenseTerms
from lending.domain.loans import LendableTitle
from lending.domain.network import Library, LibraryKind, Sharing
from lending.domain.patrons import CardStatus, Patron
from lending.domain.policy import LendingPolicy
from lending.errors import (
    AlreadyBorrowed,
    AlreadyOnHold,
    CardCannotBorrow,
    HoldLimitReached,
    HoldNotNeeded,
    IdempotencyKeyReused,
    LoanLimitReached,
    LoanPeriodNotAllowed,
    NoCopyAvailable,
    RenewalRefused,
    TitleNotLendable,
)
from lending.service_layer.checkout import OneAtATime
from lending.service_layer.circulation import Circulation
from lending.service_layer.due_watcher import DueWatcher
from lending.service_layer.unit_of_work import UnitOfWorkFactory
from tests.unit.lending.fakes import FakeTurnaways, FakeUnitOfWork, LendingState

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
LIBRARIES = [
    Library("daklak", "Thư viện tỉnh Đắk Lắk", LibraryKind.PROVINCE),
    Library("buonmathuot", "Thư viện TP Buôn Ma Thuột", LibraryKind.DISTRICT, "daklak"),
    Library("eakar", "Thư viện huyện Ea Kar", LibraryKind.DISTRICT, "daklak"),
]


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class World:
    """The fakes, a clock and the service under test, with builders for what a test needs."""

    def __init__(self, policy: LendingPolicy | None = None) -> None:
        self.state = LendingState(libraries=LIBRARIES)
        if policy is not None:
            self.state.policies = {library.id: policy for library in LIBRARIES}
        self.clock = Clock()
        self.transactions = 0  # units of work run (a read outside any transaction is not one)
        self.circulation = Circulation(self._units(), FakeTurnaways(self.state), self.clock)

    def _units(self) -> UnitOfWorkFactory:
        world = self

        class Counted(FakeUnitOfWork):
            async def _begin(self) -> None:
                world.transactions += 1
                await super()._begin()

        return lambda: Counted(self.state)

    def patron(self, patron_id: str, library_id: str = "daklak", status: CardStatus = CardStatus.ACTIVE) -> str:
        self.state.patrons[patron_id] = Patron(
            patron_id, library_id, f"Bạn đọc {patron_id}", f"{patron_id}@example.vn", "vi", status
        )
        return patron_id

    def title(self, title_id: str = "kieu", *, readable: bool = True) -> str:
        self.state.titles[title_id] = LendableTitle(title_id, f"pub-{title_id}", readable=readable)
        return title_id

    def licence(
        self,
        title_id: str,
        owner: str = "daklak",
        *,
        copies: int | None = 1,
        checkouts: int | None = None,
        expires_at: datetime | None = None,
        licence_id: str | None = None,
        sharing: Sharing = Sharing.SUBTREE,
    ) -> str:
        model = LicenseModel.ONE_COPY_ONE_USER
        if checkouts is not None:
            model = LicenseModel.METERED
        elif expires_at is not None:
            model = LicenseModel.TIME_LIMITED
        elif copies is None:
            model = LicenseModel.SIMULTANEOUS_USE
        licence_id = licence_id or f"{title_id}-{owner}-{len(self.state.licences)}"
        self.state.licences[licence_id] = License(
            licence_id,
            title_id,
            owner,
            sharing,
            LicenseTerms(model, concurrency=copies, checkouts=checkouts, expires_at=expires_at),
            acquired_at=START - timedelta(days=len(self.state.licences) + 1),
            checkouts_left=checkouts,
        )
        return licence_id

    def published(self) -> list[str]:
        return [event.type.rsplit(".", 1)[-1] for event in self.state.published]

    def in_use(self, licence_id: str) -> int:
        return self.state.licences[licence_id].in_use


@pytest.fixture
def world() -> World:
    return World()


# -- checkout and the loan limit ---------------------------------------------------------------------------------


async def test_checkout_lends_a_copy_and_announces_the_loan(world: World) -> None:
    title = world.title()
    licence = world.licence(title)
    loan = await world.circulation.checkout(world.patron("ana"), title)
    assert loan.license_id == licence
    assert loan.due_at == START + LendingPolicy().default_period
    assert world.in_use(licence) == 1
    assert world.published() == ["LoanCreated"]


async def test_never_over_lent(world: World) -> None:
    title = world.title()
    licence = world.licence(title, copies=1)
    await world.circulation.checkout(world.patron("ana"), title)
    with pytest.raises(NoCopyAvailable):
        await world.circulation.checkout(world.patron("binh"), title)
    assert world.in_use(licence) == 1
    assert [t[0] for t in world.state.turnaways] == ["binh"]  # the turn-away is counted for reports
    assert world.published() == ["LoanCreated"]  # the refused checkout left nothing behind


async def test_once_a_title_refused_its_refusals_for_want_of_a_copy_need_no_transaction(world: World) -> None:
    title = world.title()
    world.licence(title, copies=1)
    await world.circulation.checkout(world.patron("ana"), title)
    with pytest.raises(NoCopyAvailable):  # the title's first refusal: its transaction decides
        await world.circulation.checkout(world.patron("binh"), title)
    before = world.transactions
    with pytest.raises(NoCopyAvailable):
        await world.circulation.checkout(world.patron("chi"), title)
    assert world.transactions == before  # read, refused, counted
    assert [t[0] for t in world.state.turnaways] == ["binh", "chi"]


async def test_with_an_idempotency_key_too_a_refusal_needs_no_transaction_and_a_retry_replays(world: World) -> None:
    title = world.title()
    world.licence(title, copies=1)
    first = await world.circulation.checkout_once(world.patron("ana"), title, None, "tap-0000001")
    with pytest.raises(NoCopyAvailable):
        await world.circulation.checkout_once(world.patron("binh"), title, None, "tap-0000002")
    before = world.transactions
    with pytest.raises(NoCopyAvailable):
        await world.circulation.checkout_once("binh", title, None, "tap-0000003")
    assert world.transactions == before
    again = await world.circulation.checkout_once("ana", title, None, "tap-0000001")  # no copy left, yet replayed
    assert (again.loan, again.replayed) == (first.loan, True)


def test_the_titles_that_refused_are_remembered_for_a_minute_and_the_oldest_forgotten_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1_000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])  # a sync test: nothing else reads the clock
    takers = OneAtATime()
    takers.REFUSALS_REMEMBERED = 2
    assert not takers.refused_lately("a")
    takers.refused("a")
    takers.refused("b")
    assert takers.refused_lately("a")
    takers.refused("a")  # again: now the newest
    takers.refused("c")
    assert (takers.refused_lately("a"), takers.refused_lately("b"), takers.refused_lately("c")) == (True, False, True)
    clock[0] += OneAtATime.REFUSALS_REMEMBERED_FOR
    assert not takers.refused_lately("a")


async def test_every_other_rule_answers_before_the_want_of_a_copy_as_in_the_transaction() -> None:
    world = World(LendingPolicy(max_loans=1))
    title, other = world.title(), world.title("other")
    world.licence(title, copies=1)
    world.licence(other, copies=1)
    ana = world.patron("ana")
    await world.circulation.checkout(ana, title)  # the title's only copy
    with pytest.raises(AlreadyBorrowed):
        await world.circulation.checkout(ana, title)
    with pytest.raises(LoanPeriodNotAllowed):
        await world.circulation.checkout(world.patron("binh"), title, timedelta(days=5))
    with pytest.raises(CardCannotBorrow):
        await world.circulation.checkout(world.patron("chi", status=CardStatus.BLOCKED), title)
    await world.circulation.checkout("binh", other)
    with pytest.raises(LoanLimitReached):
        await world.circulation.checkout("binh", title)
    world.state.titles[title] = LendableTitle(title, f"pub-{title}", readable=False)
    with pytest.raises(TitleNotLendable):
        await world.circulation.checkout(world.patron("dung"), title)
    assert world.state.turnaways == []  # none of them was a refusal for want of a copy


async def test_a_ready_hold_gets_its_reserved_copy_and_the_queue_is_owed_a_free_one(world: World) -> None:
    title = world.title()
    licence = world.licence(title, copies=1)
    loan = await world.circulation.checkout(world.patron("ana"), title)
    await world.circulation.place_hold(world.patron("binh"), title)
    world.clock.advance(timedelta(minutes=1))  # chi after binh
    await world.circulation.place_hold(world.patron("chi"), title)
    await world.circulation.return_loan(loan.id, "ana")  # the copy waits for binh, still counted in use
    with pytest.raises(NoCopyAvailable):
        await world.circulation.checkout(world.patron("dung"), title)
    before = world.transactions
    assert (await world.circulation.checkout("binh", title)).license_id == licence
    assert world.transactions == before + 1
    # a copy free while chi waits for one (say, given back by hand) is hers, not a newcomer's: the transaction says so
    world.state.licences[licence] = replace(world.state.licences[licence], in_use=0)
    with pytest.raises(NoCopyAvailable):
        await world.circulation.checkout("dung", title)
    assert (await world.circulation.checkout("chi", title)).license_id == licence


async def test_copy_takers_of_one_title_go_one_at_a_time_and_are_forgotten() -> None:
    takers, order = OneAtATime(), []

    async def take(name: str, found_none_free: bool) -> None:
        async with takers.turn("kieu") as turn:
            order.append(f"{name} in{' after waiting' if turn.waited else ''}")
            order.append(f"{name} knows none is free" if turn.none_free_since_she_came else f"{name} reads")
            await asyncio.sleep(0)
            if found_none_free:
                turn.found_none_free()

    await asyncio.gather(take("a", False), take("b", True), take("c", False))
    assert order == ["a in", "a reads", "b in after waiting", "b reads", "c in after waiting", "c knows none is free"]
    assert takers._queues == {}


async def test_loan_limit_and_one_loan_per_title() -> None:
    world = World(LendingPolicy(max_loans=2))
    ana = world.patron("ana")
    titles = [world.title(f"t{n}") for n in range(3)]
    for title in titles:
        world.licence(title, copies=5)
    await world.circulation.checkout(ana, titles[0])
    with pytest.raises(AlreadyBorrowed):
        await world.circulation.checkout(ana, titles[0])
    await world.circulation.checkout(ana, titles[1])
    with pytest.raises(LoanLimitReached):
        await world.circulation.checkout(ana, titles[2])


async def test_cards_that_may_not_borrow_and_unlendable_titles(world: World) -> None:
    title = world.title()
    world.licence(title)
    with pytest.raises(CardCannotBorrow):
        await world.circulation.checkout(world.patron("blocked", status=CardStatus.BLOCKED), title)
    with pytest.raises(CardCannotBorrow):
        await world.circulation.checkout("nobody", title)
    unreadable = world.title("record-only", readable=False)
    world.licence(unreadable)
    with pytest.raises(TitleNotLendable):
        await world.circulation.checkout(world.patron("ana"), unreadable)


async def test_a_period_the_library_does_not_offer_is_refused(world: World) -> None:
    title = world.title()
    world.licence(title)
    with pytest.raises(LoanPeriodNotAllowed):
        await world.circulation.checkout(world.patron("ana"), title, timedelta(days=5))
    loan = await world.circulation.checkout("ana", title, timedelta(days=7))
    assert loan.due_at == START + timedelta(days=7)


async def test_a_loan_never_outlives_its_licence(world: World) -> None:
    title = world.title()
    world.licence(title, expires_at=START + timedelta(days=3))
    loan = await world.circulation.checkout(world.patron("ana"), title)
    assert loan.due_at == START + timedelta(days=3)


async def test_a_retried_checkout_with_the_same_key_replays_the_loan(world: World) -> None:
    title = world.title()
    world.licence(title, copies=3)
    first = await world.circulation.checkout_once(world.patron("ana"), title, None, "retry-key-0001")
    again = await world.circulation.checkout_once("ana", title, None, "retry-key-0001")
    assert (again.loan, again.replayed, first.replayed) == (first.loan, True, False)
    with pytest.raises(IdempotencyKeyReused):
        await world.circulation.checkout_once("ana", title, timedelta(days=7), "retry-key-0001")


# -- licence choice ----------------------------------------------------------------------------------------------


async def test_the_nearest_pool_lends_first_then_the_soonest_expiring(world: World) -> None:
    title = world.title()
    province = world.licence(title, "daklak", copies=5)
    own_perpetual = world.licence(title, "eakar", copies=1)
    own_expiring = world.licence(title, "eakar", copies=1, expires_at=START + timedelta(days=30))
    ana, binh, chi = world.patron("ana", "eakar"), world.patron("binh", "eakar"), world.patron("chi", "eakar")
    assert (await world.circulation.checkout(ana, title)).license_id == own_expiring
    assert (await world.circulation.checkout(binh, title)).license_id == own_perpetual
    assert (await world.circulation.checkout(chi, title)).license_id == province


async def test_metered_value_is_used_before_unlimited(world: World) -> None:
    title = world.title()
    world.licence(title, copies=1)
    metered = world.licence(title, copies=1, checkouts=10)
    loan = await world.circulation.checkout(world.patron("ana"), title)
    assert loan.license_id == metered
    assert world.state.licences[metered].checkouts_left == 9


async def test_a_library_own_pool_does_not_lend_to_other_libraries(world: World) -> None:
    title = world.title()
    world.licence(title, "eakar", sharing=Sharing.OWN)
    with pytest.raises(NoCopyAvailable):
        await world.circulation.checkout(world.patron("ana", "buonmathuot"), title)


# -- renewal -----------------------------------------------------------------------------------------------------


async def test_renew_only_when_nobody_waits() -> None:
    world = World(LendingPolicy(max_renewals=2))
    title = world.title()
    world.licence(title)
    loan = await world.circulation.checkout(world.patron("ana"), title)
    renewed = await world.circulation.renew(loan.id, "ana")
    assert (renewed.renewals, renewed.due_at) == (1, loan.due_at + LendingPolicy().default_period)
    await world.circulation.place_hold(world.patron("binh"), title)
    with pytest.raises(RenewalRefused, match="waiting"):
        await world.circulation.renew(loan.id, "ana")
    due_at, reason = await world.circulation.renewal_check(loan.id)
    assert (due_at, reason) == (None, "other readers are waiting for this title")


async def test_renewal_limit() -> None:
    world = World(LendingPolicy(max_renewals=1))
    title = world.title()
    world.licence(title)
    loan = await world.circulation.checkout(world.patron("ana"), title)
    await world.circulation.renew(loan.id, "ana")
    with pytest.raises(RenewalRefused, match="renewed 1 times"):
        await world.circulation.renew(loan.id, "ana")


# -- the hold queue ----------------------------------------------------------------------------------------------


async def test_holds_are_served_first_come_first_served(world: World) -> None:
    title = world.title()
    licence = world.licence(title)
    loan = await world.circulation.checkout(world.patron("ana"), title)
    binh = await world.circulation.place_hold(world.patron("binh"), title)
    world.clock.advance(timedelta(minutes=1))
    chi = await world.circulation.place_hold(world.patron("chi"), title)
    assert (binh.position, chi.position) == (1, 2)
    await world.circulation.return_loan(loan.id, "ana")
    holds = {hold.patron_id: hold for hold in world.state.holds.values()}
    assert holds["binh"].state is HoldState.READY
    assert holds["chi"].state is HoldState.WAITING
    assert world.in_use(licence) == 1  # the copy passed straight to binh
    with pytest.raises(NoCopyAvailable):  # nor can anyone else take binh's reserved copy
        await world.circulation.checkout(world.patron("dung"), title)
    assert (await world.circulation.checkout("binh", title)).license_id == licence


async def test_hold_rules(world: World) -> None:
    title = world.title()
    world.licence(title)
    with pytest.raises(HoldNotNeeded):
        await world.circulation.place_hold(world.patron("ana"), title)
    await world.circulation.checkout("ana", title)
    with pytest.raises(AlreadyBorrowed):
        await world.circulation.place_hold("ana", title)
    await world.circulation.place_hold(world.patron("binh"), title)
    with pytest.raises(AlreadyOnHold):
        await world.circulation.place_hold("binh", title)
    nothing = world.title("nothing")
    with pytest.raises(NoCopyAvailable):
        await world.circulation.place_hold("binh", nothing)


async def test_hold_limit() -> None:
    world = World(LendingPolicy(max_holds=1))
    lender = world.patron("lender")
    first, second = world.title("first"), world.title("second")
    for title in (first, second):
        world.licence(title)
        await world.circulation.checkout(lender, title)
    await world.circulation.place_hold(world.patron("ana"), first)
    with pytest.raises(HoldLimitReached):
        await world.circulation.place_hold("ana", second)


async def test_a_suspended_hold_keeps_its_place_but_is_skipped(world: World) -> None:
    title = world.title()
    world.licence(title)
    loan = await world.circulation.checkout(world.patron("ana"), title)
    binh = await world.circulation.place_hold(world.patron("binh"), title)
    world.clock.advance(timedelta(minutes=1))
    await world.circulation.place_hold(world.patron("chi"), title)
    suspended = await world.circulation.suspend_hold(binh.hold.id, "binh", START + timedelta(days=10))
    assert suspended.position == 1  # she keeps her place
    await world.circulation.return_loan(loan.id, "ana")
    holds = {hold.patron_id: hold for hold in world.state.holds.values()}
    assert (holds["binh"].state, holds["chi"].state) == (HoldState.WAITING, HoldState.READY)
    assert world.published()[-2:] == ["LoanReturned", "HoldReady"]


async def test_auto_checkout_lends_the_freed_copy_at_once(world: World) -> None:
    title = world.title()
    world.licence(title)
    loan = await world.circulation.checkout(world.patron("ana"), title)
    await world.circulation.place_hold(world.patron("binh"), title, auto_checkout=True)
    await world.circulation.return_loan(loan.id, "ana")
    [binh_loan] = await world.circulation.loans_of("binh")
    assert binh_loan.title_id == title
    assert world.published()[-3:] == ["LoanReturned", "HoldReady", "LoanCreated"]


async def test_auto_checkout_waits_when_she_is_at_her_loan_limit() -> None:
    world = World(LendingPolicy(max_loans=1))
    title, other = world.title(), world.title("other")
    world.licence(title)
    world.licence(other)
    loan = await world.circulation.checkout(world.patron("ana"), title)
    await world.circulation.place_hold(world.patron("binh"), title, auto_checkout=True)
    await world.circulation.checkout("binh", other)
    await world.circulation.return_loan(loan.id, "ana")
    [hold] = [hold for hold in world.state.holds.values() if hold.patron_id == "binh"]
    assert hold.state is HoldState.READY  # she borrows it herself once she can


# -- expiry ------------------------------------------------------------------------------------------------------


async def test_the_due_watcher_ends_due_loans_and_lapsed_ready_holds(world: World) -> None:
    title = world.title()
    licence = world.licence(title)
    loan = await world.circulation.checkout(world.patron("ana"), title, timedelta(days=7))
    await world.circulation.place_hold(world.patron("binh"), title)
    watcher = DueWatcher(world.circulation)
    assert await watcher.run_once() == 0
    assert await watcher.next_deadline() == loan.due_at
    world.clock.advance(timedelta(days=7))
    assert await watcher.run_once() == 1  # ana's loan ended; the copy is ready for binh
    ready_until = START + timedelta(days=7) + LendingPolicy().hold_window
    assert await watcher.next_deadline() == ready_until
    world.clock.advance(LendingPolicy().hold_window)
    assert await watcher.run_once() == 1  # binh did not borrow it in time
    assert world.in_use(licence) == 0
    assert world.published() == ["LoanCreated", "HoldPlaced", "LoanExpired", "HoldReady", "HoldExpired"]


async def test_a_loan_is_not_expired_before_its_time(world: World) -> None:
    title = world.title()
    world.licence(title)
    loan = await world.circulation.checkout(world.patron("ana"), title)
    assert not await world.circulation.expire_loan(loan.id)


# -- blocked cards -----------------------------------------------------------------------------------------------


async def test_a_blocked_card_returns_its_loans_and_its_waiting_holds_are_skipped(world: World) -> None:
    title, other = world.title(), world.title("other")
    world.licence(title)
    world.licence(other)
    await world.circulation.checkout(world.patron("ana"), title)
    held = await world.circulation.checkout(world.patron("chi"), other)
    await world.circulation.place_hold("ana", other)
    world.state.refresh_tokens |= {
        "t1": ("ana", world.clock()),
        "t2": ("ana", world.clock()),
        "t3": ("chi", world.clock()),
    }
    await world.circulation.block_card("ana")
    assert await world.circulation.loans_of("ana") == []
    assert list(world.state.refresh_tokens) == ["t3"]
    await world.circulation.return_loan(held.id, "chi")
    [hold] = [hold for hold in world.state.holds.values() if hold.patron_id == "ana"]
    assert hold.state is HoldState.WAITING  # skipped while blocked
    await world.circulation.unblock_card("ana")
    assert "PatronBlocked" in world.published()
    assert world.published()[-1] == "PatronUnblocked"


async def test_a_failed_use_case_leaves_nothing_behind(world: World) -> None:
    title = world.title()
    world.licence(title)
    await world.circulation.checkout(world.patron("ana"), title)
    before: dict[str, Any] = world.state.snapshot()
    with pytest.raises(AlreadyBorrowed):
        await world.circulation.checkout("ana", title)
    assert world.state.snapshot() == before
