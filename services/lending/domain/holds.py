"""The hold queue of one title: first come, first served, with suspension and a reservation window.

A hold is *waiting* until a copy frees for it, then *ready*: a copy is reserved for the patron until
``ready_until`` (or borrowed at once if she chose auto-checkout). A suspended hold ("deliver later") keeps its
place but is skipped until ``suspended_until``. Position counts every waiting hold placed earlier, suspended or
not, because a suspended patron keeps her place.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from lending.errors import AlreadyBorrowed, AlreadyOnHold, HoldLimitReached, HoldNotNeeded, NoCopyAvailable


class HoldState(StrEnum):
    WAITING = "waiting"
    READY = "ready"
    FULFILLED = "fulfilled"  # borrowed
    EXPIRED = "expired"  # ready but not borrowed in time
    CANCELLED = "cancelled"


OPEN_STATES = frozenset({HoldState.WAITING, HoldState.READY})


@dataclass(frozen=True)
class Hold:
    id: str
    patron_id: str
    patron_library_id: str
    title_id: str
    placed_at: datetime
    state: HoldState = HoldState.WAITING
    auto_checkout: bool = False
    suspended_until: datetime | None = None
    ready_until: datetime | None = None
    license_id: str | None = None
    # the patron's card is blocked: she keeps her place but is skipped until the block is lifted
    card_blocked: bool = False

    def queue_key(self) -> tuple[datetime, str]:
        return (self.placed_at, self.id)

    def is_suspended(self, now: datetime) -> bool:
        return self.card_blocked or (self.suspended_until is not None and self.suspended_until > now)


def queue(holds: Iterable[Hold]) -> list[Hold]:
    """The waiting holds in queue order."""
    return sorted((hold for hold in holds if hold.state is HoldState.WAITING), key=Hold.queue_key)


def position(holds: Iterable[Hold], hold: Hold) -> int:
    """1 for the head of the queue; 0 when the hold is not waiting (it is ready or closed)."""
    if hold.state is not HoldState.WAITING:
        return 0
    return 1 + sum(1 for other in queue(holds) if other.queue_key() < hold.queue_key())


def next_in_line(holds: Iterable[Hold], now: datetime, eligible: Callable[[Hold], bool]) -> Hold | None:
    """The hold a freed copy goes to: the earliest waiting, not suspended, that the copy may serve."""
    for hold in queue(holds):
        if not hold.is_suspended(now) and eligible(hold):
            return hold
    return None


def estimated_wait(position: int, copies: int | None, average_loan: timedelta) -> timedelta | None:
    """Roughly when a copy reaches this place: whole loan rounds of ``copies`` readers ahead of it.

    None when the title has no copies that could serve (nothing to wait for) and zero when copies are unlimited.
    """
    if copies is None:
        return timedelta(0)
    if copies <= 0 or position <= 0:
        return None if copies <= 0 else timedelta(0)
    return average_loan * math.ceil(position / copies)


def waiting_for_a_copy(holds: Iterable[Hold], now: datetime, *, besides: str | None = None) -> list[Hold]:
    """The holds a freed copy could go to now: waiting, not suspended (and not ``besides``'s own)."""
    return [
        hold
        for hold in holds
        if hold.state is HoldState.WAITING and not hold.is_suspended(now) and hold.patron_id != besides
    ]


def ensure_may_place(
    *,
    already_borrowed: bool,
    already_on_hold: bool,
    open_holds: int,
    max_holds: int,
    any_copy_serves: bool,
    queue_is_empty: bool,
    copy_free_now: bool,
) -> None:
    """Join a title's queue only when she neither has it nor waits for it, is under the hold limit, some library
    she may borrow from has it, and no copy is free for her now (nobody ahead would take it)."""
    if already_borrowed:
        raise AlreadyBorrowed("you already have this title on loan")
    if already_on_hold:
        raise AlreadyOnHold("you are already in the queue for this title")
    if open_holds >= max_holds:
        raise HoldLimitReached(f"your library allows {max_holds} holds at a time")
    if not any_copy_serves:
        raise NoCopyAvailable("no library you may borrow from has this title")
    if queue_is_empty and copy_free_now:
        raise HoldNotNeeded("a copy is available now")
