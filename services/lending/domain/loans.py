"""Loans and the rules about them: who may borrow, the loan limit, due dates and renewals — pure functions.

The service layer reads what a rule needs through the unit of work and asks these functions; nothing here reads
or writes anything, so each rule is tested in microseconds (tests/unit/lending/test_loans.py).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from lending.domain.licensing import License
from lending.domain.patrons import Patron
from lending.domain.policy import LendingPolicy
from lending.domain.titles import has_readable_publication
from lending.errors import AlreadyBorrowed, CardCannotBorrow, LoanLimitReached, TitleNotFound, TitleNotLendable

ACTIVE = "active"
RETURNED = "returned"
EXPIRED = "expired"


@dataclass(frozen=True)
class Loan:
    id: str
    patron_id: str
    library_id: str
    title_id: str
    publication_id: str
    license_id: str
    starts_at: datetime
    due_at: datetime
    renewals: int
    status: str
    ended_at: datetime | None = None
    license_owner_id: str = ""  # the library whose licence lends the copy (reports count by it)

    @property
    def is_active(self) -> bool:
        return self.status == ACTIVE


@dataclass(frozen=True)
class LendableTitle:
    """What lending needs to know of a catalogue title to lend it."""

    id: str
    publication_id: str
    readable: bool | None = None  # None: recorded before the flag existed (see titles.has_readable_publication)
    withdrawn: bool = False
    online_only: bool = False
    local_document: bool = False  # a scanned local document: DRM serves its loans as IIIF page images


def ensure_lendable(title: LendableTitle | None, title_id: str) -> LendableTitle:
    """The title, if it exists and has a readable file; otherwise the refusal."""
    if title is None or title.withdrawn:
        raise TitleNotFound(f"no title {title_id}")
    if not has_readable_publication(title.publication_id, title.readable):
        raise TitleNotLendable("this title has no readable file yet; it can be borrowed once it is ingested")
    return title


def ensure_has_card(patron: Patron | None) -> Patron:
    if patron is None:
        raise CardCannotBorrow("no reader card for this account")
    return patron


def ensure_may_borrow(borrowed_title_ids: Collection[str], title_id: str, max_loans: int) -> None:
    """The loan limit, and one loan per title: ``borrowed_title_ids`` are the titles of her active loans."""
    if title_id in borrowed_title_ids:
        raise AlreadyBorrowed("you already have this title on loan")
    if len(borrowed_title_ids) >= max_loans:
        raise LoanLimitReached(f"your library allows {max_loans} loans at a time")


def due_at(policy: LendingPolicy, license_: License, now: datetime, period: timedelta | None) -> datetime:
    """When a loan made now ends: the chosen period (one the library offers), never after the licence."""
    return license_.cap_due(policy.due_at(now, period))


def new_loan(
    loan_id: str, patron: Patron, title: LendableTitle, license_: License, due: datetime, now: datetime
) -> Loan:
    return Loan(
        id=loan_id,
        patron_id=patron.id,
        library_id=patron.library_id,
        title_id=title.id,
        publication_id=title.publication_id,
        license_id=license_.id,
        starts_at=now,
        due_at=license_.cap_due(due),
        renewals=0,
        status=ACTIVE,
        license_owner_id=license_.owner_id,
    )


@dataclass(frozen=True)
class Renewal:
    """The due time a renewal gives, or why it is refused (``due_at`` None)."""

    due_at: datetime | None
    refusal: str = ""


def renewal(
    loan: Loan,
    *,
    patron: Patron | None,
    policy: LendingPolicy,
    license_: License | None,
    others_waiting: bool,
    now: datetime,
) -> Renewal:
    """Renew only when the loan is active, her card may borrow, the renewal limit allows, nobody waits for a copy
    this licence could serve, and the licence lasts long enough to add time."""
    if not loan.is_active:
        return Renewal(None, "the loan has ended")
    refusal = patron.borrowing_refusal(now) if patron else "no reader card"
    if refusal:
        return Renewal(None, refusal)
    if loan.renewals >= policy.max_renewals:
        return Renewal(None, f"the loan has been renewed {loan.renewals} times, the most your library allows")
    if license_ is None:
        return Renewal(None, "the licence behind this loan is gone")
    if others_waiting:
        return Renewal(None, "other readers are waiting for this title")
    new_due = license_.cap_due(max(now, loan.due_at) + policy.default_period)
    if new_due <= loan.due_at:
        return Renewal(None, "the library's licence for this title ends before a renewal could")
    return Renewal(new_due)


def is_due(loan: Loan, now: datetime) -> bool:
    """An active loan whose time is up (the due watcher ends it)."""
    return loan.is_active and loan.due_at <= now


def may_auto_checkout(patron: Patron | None, open_loans: int, policy: LendingPolicy, now: datetime) -> bool:
    """A ready hold with auto-checkout becomes a loan at once if her card may borrow and she is under the limit;
    otherwise she borrows it herself within the window, if she can."""
    return patron is not None and not patron.borrowing_refusal(now) and open_loans < policy.max_loans
