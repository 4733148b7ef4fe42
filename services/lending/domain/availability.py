"""What the catalogue says about a title's copies: "Có sẵn", "Chờ ~N ngày", "Chưa có bản".

Computed from the title's licences and its waiting holds, for the patrons of one library (the licences that serve
her library) or, for a visitor who is not signed in, across the whole network (every licence that can still lend).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from lending.domain.holds import estimated_wait
from lending.domain.licensing import License, copies_for, lending_order
from lending.domain.network import LibraryNetwork


class Shelf(StrEnum):
    AVAILABLE = "available"  # a copy is free now
    WAIT = "wait"  # every copy is out: a hold waits about ``wait_days``
    NONE = "none"  # no licence that could ever lend it (to her library): nothing to press


@dataclass(frozen=True)
class Availability:
    copies: int | None  # readers at once the licences allow (None: unlimited)
    available: int | None  # free copies now (None: unlimited)
    holds: int  # waiting holds
    state: Shelf
    wait_days: int | None = None  # for WAIT: roughly how long a hold placed now waits


NO_COPIES = Availability(copies=0, available=0, holds=0, state=Shelf.NONE)


def _free(licenses: Iterable[License], now: datetime) -> int | None:
    free = 0
    for lic in licenses:
        if not lic.can_lend(now):
            continue
        if lic.terms.concurrency is None:
            return None
        free += lic.terms.concurrency - lic.in_use
    return free


def title_availability(
    network: LibraryNetwork,
    licenses: list[License],
    waiting: int,
    library_id: str | None,
    now: datetime,
    average_loan: timedelta,
) -> Availability:
    """The title's availability for patrons of ``library_id`` (None: anyone in the network)."""
    copies = copies_for(network, licenses, library_id, now)
    usable = licenses if library_id is None else lending_order(network, licenses, library_id, now)
    available = _free(usable, now)
    if copies == 0:
        return Availability(copies=0, available=0, holds=waiting, state=Shelf.NONE)
    if available is None or available > 0:
        return Availability(copies=copies, available=available, holds=waiting, state=Shelf.AVAILABLE)
    wait = estimated_wait(waiting + 1, copies, average_loan)
    days = None if wait is None else max(1, math.ceil(wait / timedelta(days=1)))
    return Availability(copies=copies, available=0, holds=waiting, state=Shelf.WAIT, wait_days=days)


def free_for(network: LibraryNetwork, licenses: Iterable[License], library_id: str | None, now: datetime) -> bool:
    """Whether one of these licences lends a copy now (to patrons of ``library_id``; None: to anyone)."""
    usable = list(licenses)
    if library_id is not None:
        usable = lending_order(network, usable, library_id, now)
    free = _free(usable, now)
    return free is None or free > 0
