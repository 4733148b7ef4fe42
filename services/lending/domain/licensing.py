"""Licences and the rule that picks one when several could lend.

A library acquires licences for a title; all of one library's licences for one title form its licence pool.
Every market model is one set of terms, so there is one mechanism:

==================================  =================  ===============  ===========
model                                concurrency        checkouts        expires
==================================  =================  ===============  ===========
one copy / one user (N copies)       N                  unlimited        never
simultaneous use                     unlimited          unlimited        never
metered by checkouts (e.g. 26)       1 (or N)           26               never
time-limited                         N                  unlimited        a date
ODL-style combined                   N                  e.g. 10          a date
==================================  =================  ===============  ===========

**Choice rule** (documented, tested): among the licences that can lend now to this patron,
1. the nearest pool first — the patron's own library, then up the tree (see :mod:`lending.domain.network`);
2. then the licence that expires soonest (a perpetual licence last), so time-limited value is used before it lapses;
3. then the one with the fewest checkouts left (metered value is used before unlimited);
4. then the oldest licence (acquired first), for a stable order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from lending.domain.holds import Hold, HoldState, waiting_for_a_copy
from lending.domain.network import LibraryNetwork, Sharing
from lending.errors import InvalidLicenseTerms


class LicenseModel(StrEnum):
    ONE_COPY_ONE_USER = "one-copy-one-user"
    SIMULTANEOUS_USE = "simultaneous-use"
    METERED = "metered"
    TIME_LIMITED = "time-limited"
    ODL = "odl"


@dataclass(frozen=True)
class LicenseTerms:
    model: LicenseModel
    concurrency: int | None = 1  # None: any number of readers at once
    checkouts: int | None = None  # None: unlimited
    expires_at: datetime | None = None  # None: perpetual

    def __post_init__(self) -> None:
        if self.concurrency is not None and self.concurrency < 1:
            raise InvalidLicenseTerms("concurrency must be at least 1 (or unlimited)")
        if self.checkouts is not None and self.checkouts < 1:
            raise InvalidLicenseTerms("checkouts must be at least 1 (or unlimited)")
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise InvalidLicenseTerms("expires_at needs a time zone")
        required = {
            LicenseModel.ONE_COPY_ONE_USER: self.concurrency is not None
            and self.checkouts is None
            and self.expires_at is None,
            LicenseModel.SIMULTANEOUS_USE: self.concurrency is None,
            LicenseModel.METERED: self.checkouts is not None and self.concurrency is not None,
            LicenseModel.TIME_LIMITED: self.expires_at is not None and self.checkouts is None,
            LicenseModel.ODL: self.expires_at is not None
            and self.checkouts is not None
            and self.concurrency is not None,
        }
        if not required[self.model]:
            raise InvalidLicenseTerms(f"terms do not match the {self.model} model")


@dataclass(frozen=True)
class License:
    """One licence and how much of it is in use (``in_use`` counts loans and copies reserved for ready holds)."""

    id: str
    title_id: str
    owner_id: str
    sharing: Sharing
    terms: LicenseTerms
    acquired_at: datetime
    in_use: int = 0
    checkouts_left: int | None = None  # None: unlimited
    group_id: str | None = None  # the library group a ``group``-shared pool serves

    def can_lend(self, now: datetime) -> bool:
        if self.terms.expires_at is not None and self.terms.expires_at <= now:
            return False
        if self.checkouts_left is not None and self.checkouts_left <= 0:
            return False
        return self.terms.concurrency is None or self.in_use < self.terms.concurrency

    def is_exhausted(self, now: datetime) -> bool:
        """Can never lend again (expired or out of checkouts), as opposed to busy."""
        expired = self.terms.expires_at is not None and self.terms.expires_at <= now
        return expired or (self.checkouts_left is not None and self.checkouts_left <= 0)

    def cap_due(self, due_at: datetime) -> datetime:
        """A loan never outlives its licence."""
        if self.terms.expires_at is not None and self.terms.expires_at < due_at:
            return self.terms.expires_at
        return due_at


def serves(network: LibraryNetwork, license_: License, patron_library_id: str) -> bool:
    return license_.owner_id in network and network.serves(
        owner_id=license_.owner_id,
        sharing=license_.sharing,
        patron_library_id=patron_library_id,
        group_id=license_.group_id,
    )


def lending_order(
    network: LibraryNetwork, licenses: list[License], patron_library_id: str, now: datetime
) -> list[License]:
    """The licences that may lend to this patron now, best first, by the choice rule above."""
    eligible = [lic for lic in licenses if serves(network, lic, patron_library_id) and lic.can_lend(now)]

    def rank(lic: License) -> tuple[int, bool, datetime, bool, int, datetime]:
        expires = lic.terms.expires_at
        return (
            network.preference(owner_id=lic.owner_id, patron_library_id=patron_library_id),
            expires is None,
            expires or now,
            lic.checkouts_left is None,
            lic.checkouts_left or 0,
            lic.acquired_at,
        )

    return sorted(eligible, key=rank)


def copies_for(
    network: LibraryNetwork, licenses: list[License], patron_library_id: str | None, now: datetime
) -> int | None:
    """How many readers at once the licences serving this patron allow (None: unlimited). ``patron_library_id``
    None: the licences serving anyone (what the catalogue shows a visitor)."""
    total = 0
    for lic in licenses:
        if (patron_library_id is not None and not serves(network, lic, patron_library_id)) or lic.is_exhausted(now):
            continue
        if lic.terms.concurrency is None:
            return None
        total += lic.terms.concurrency
    return total


def copies_to_try(
    network: LibraryNetwork, licenses: list[License], patron_library_id: str, waiting: list[Hold], now: datetime
) -> list[License]:
    """The licences to take a copy from for a newcomer, best first: a free copy that a waiting patron could take
    goes to the queue, not to her."""
    return [
        license_
        for license_ in lending_order(network, licenses, patron_library_id, now)
        if not any(serves(network, license_, hold.patron_library_id) for hold in waiting)
    ]


def a_copy_may_be_free(network: LibraryNetwork, licenses: list[License], patron_library_id: str, now: datetime) -> bool:
    """Some licence serving her could lend now — before the title's holds are known (a patron waiting ahead of
    her may be owed that copy)."""
    return bool(lending_order(network, licenses, patron_library_id, now))


@dataclass(frozen=True)
class CopyChoice:
    """Where a checkout's copy comes from: the copy reserved for her ready hold (``reserved_for`` and its licence
    ``reserved``), otherwise one taken from the first of ``to_try`` that still has one."""

    reserved_for: Hold | None
    reserved: License | None
    to_try: list[License]

    @property
    def none_for_her(self) -> bool:
        """Every copy she may borrow is lent (or goes to a patron waiting ahead of her), none reserved for her."""
        return self.reserved is None and not self.to_try


def copy_choice(
    network: LibraryNetwork, licenses: list[License], holds: list[Hold], patron_id: str, patron_library_id: str,
    now: datetime,
) -> CopyChoice:  # fmt: skip
    """Her ready hold keeps its reserved copy; otherwise :func:`copies_to_try`, with the holds waiting for a copy
    (hers aside) ahead of her. ``licenses`` and ``holds``: the title's, open holds only."""
    ready = next((h for h in holds if h.patron_id == patron_id and h.state is HoldState.READY), None)
    reserved = next((lic for lic in licenses if ready and lic.id == ready.license_id), None)
    if ready is not None and reserved is not None:
        return CopyChoice(ready, reserved, [])
    waiting = waiting_for_a_copy(holds, now, besides=patron_id)
    return CopyChoice(None, None, copies_to_try(network, licenses, patron_library_id, waiting, now))
