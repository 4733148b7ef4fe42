"""Lending's unit of work and the repositories it exposes — the only way circulation reaches storage.

Each repository is a small Protocol with named methods; ``adapters/repositories.py`` implements them on MongoDB
and ``tests/unit/lending/fakes.py`` in memory, and one contract suite (``tests/unit/lending/repository_contract.py``)
runs against both so they cannot drift. Writes that must never over-lend or act twice are *conditional* and answer
whether they applied (``take_copy``, ``end``, ``make_ready``…): the caller never reads-then-writes a licence count.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, Self, TypeVar

from lending.domain.holds import Hold, HoldState
from lending.domain.licensing import License
from lending.domain.loans import LendableTitle, Loan
from lending.domain.network import Library, LibraryNetwork
from lending.domain.patrons import CardStatus, Patron, Verification
from lending.domain.policy import LendingPolicy
from sachso.kit.unit_of_work import UnitOfWork

T = TypeVar("T")


class DuplicateEntry(Exception):
    """A write broke a uniqueness rule: a concurrent request made the same loan, hold or idempotency record."""


class Libraries(Protocol):
    async def network(self) -> LibraryNetwork:
        """The network (a snapshot a few seconds old at most: it changes rarely and every checkout reads it)."""
        ...

    async def policy(self, library_id: str) -> LendingPolicy: ...

    async def get(self, library_id: str) -> Library | None:
        """One library, read afresh (not from the snapshot)."""
        ...

    async def all(self) -> list[Library]:
        """Every library, by id, read afresh."""
        ...

    async def add(self, library: Library, code: str, policy: LendingPolicy) -> None:
        """Raises :class:`DuplicateEntry` when the id is taken."""
        ...

    async def names(self) -> dict[str, str]: ...

    async def next_card_sequence(self, library_id: str) -> int:
        """The next number in the library's card sequence (1, 2, …; never the same twice)."""
        ...


class Patrons(Protocol):
    async def get(self, patron_id: str) -> Patron | None: ...

    async def recent(self, patron_id: str) -> Patron | None:
        """The patron as her request's card check read her a moment ago (seconds at most), else read now."""

    async def change_card_status(self, patron_id: str, expected: CardStatus, status: CardStatus) -> Patron | None:
        """Move the card from ``expected`` to ``status``; the patron as she was, or None if it was not ``expected``."""
        ...

    async def forget_refresh_tokens(self, patron_id: str) -> None: ...

    async def of_library(self, library_id: str, status: CardStatus) -> list[Patron]:
        """The library's cards in ``status``, oldest application first."""
        ...

    async def by_ids(self, patron_ids: list[str]) -> dict[str, Patron]:
        """Those of ``patron_ids`` that exist, by id."""
        ...


class CardRecords(Protocol):
    """A card's life: the application with its emailed code, approval or rejection, renewal, and its PIN."""

    async def add_application(
        self, patron: Patron, pin_hash: str, verification: Verification, applied_at: datetime
    ) -> None:
        """Raises :class:`DuplicateEntry` when the email already has a live application or card at the library."""
        ...

    async def verification(self, patron_id: str) -> Verification | None:
        """The code pending for the application, if any."""
        ...

    async def count_wrong_code(self, patron_id: str) -> None: ...

    async def mark_verified(self, patron_id: str, status: CardStatus, at: datetime) -> None:
        """The email is proven (the pending code goes); the card moves to ``status``."""
        ...

    async def reject(self, patron_id: str, reason: str) -> None:
        """Refuse the application; its email may apply again."""
        ...

    async def issue(self, patron_id: str, card_number: str, expires_at: datetime, at: datetime) -> None:
        """The card is active, numbered, valid until ``expires_at``."""
        ...

    async def extend(self, patron_id: str, expires_at: datetime) -> None: ...

    async def by_card_number(self, card_number: str) -> tuple[Patron, str | None] | None:
        """The card's patron and PIN hash."""
        ...

    async def pin_hash(self, patron_id: str) -> tuple[Patron, str | None] | None:
        """The patron and her PIN hash."""
        ...

    async def set_pin_hash(self, patron_id: str, pin_hash: str) -> None:
        """A new PIN (and a clean slate of failed sign-ins)."""
        ...


class RefreshTokens(Protocol):
    """Refresh tokens, kept as digests."""

    async def add(self, digest: str, patron_id: str, expires_at: datetime) -> None: ...

    async def take(self, digest: str) -> tuple[str, datetime] | None:
        """``(patron id, expiry)`` of the token, which is used up by being taken (a second take finds nothing)."""
        ...

    async def revoke_all(self, patron_id: str) -> int:
        """End every refresh token of the patron; how many there were."""
        ...


@dataclass(frozen=True)
class TitleCirculation:
    """What a checkout decides by, read together: the title, its licences and open holds, and the titles of the
    borrower's active loans."""

    title: LendableTitle
    licences: list[License]
    holds: list[Hold]
    borrowed: list[str]


class Titles(Protocol):
    async def lendable(self, title_id: str) -> LendableTitle | None: ...

    async def circulation(self, title_id: str, patron_id: str) -> TitleCirculation | None:
        """The title with its licences, its open holds and ``patron_id``'s active loans, in one read (one round
        trip on MongoDB); None when there is no such title."""
        ...

    async def names(self, title_ids: list[str]) -> dict[str, str]:
        """The titles' names (those that exist), by id."""
        ...


@dataclass(frozen=True)
class AccessMarks:
    """What decides whether staff may change a title's access here."""

    open_access: bool = False
    local_document: bool = False  # its access is its description's, kept by the reader


class CatalogueTitles(Protocol):
    """Catalogue records as the catalogue's use cases write them (documents: the API answers them as they are)."""

    async def by_publication(self, publication_id: str) -> dict[str, Any] | None: ...

    async def unreadable_with_isbn(self, isbn: str) -> dict[str, Any] | None:
        """A record staff typed in (no file yet) with this ISBN: the publication ingested for it adopts it."""
        ...

    async def publication_of(self, title_id: str) -> str | None:
        """The title's publication id; None when there is no such title."""
        ...

    async def save(self, title_id: str, fields: dict[str, Any], added_at: datetime) -> None:
        """Set ``fields`` of the title, creating it (added ``added_at``) if new."""
        ...

    async def set_added_by(self, title_id: str, library_id: str) -> None: ...

    async def withdraw(self, publication_id: str, at: datetime) -> None: ...

    async def access_marks(self, title_id: str) -> AccessMarks:
        """Whether the title is open to everyone and whether it is a scanned local document (one read; both False
        when there is no such title)."""
        ...

    async def set_online_only(self, title_id: str, online_only: bool, at: datetime) -> bool:
        """False when there is no such title."""
        ...

    async def add_owner(self, title_id: str, library_id: str, at: datetime) -> None:
        """The library holds a licence of the title (its ``library_ids``)."""
        ...


class Licences(Protocol):
    async def for_title(self, title_id: str) -> list[License]: ...

    async def get(self, license_id: str) -> License | None: ...

    async def add(self, license_: License) -> None: ...

    async def take_copy(self, license_: License) -> bool:
        """Count one more reader on the licence if its terms still allow it — the never-over-lent guard: atomic
        and conditional on the stored counts (``in_use < concurrency``, ``checkouts_left > 0``)."""
        ...

    async def give_back_copy(self, license_id: str) -> None: ...

    async def consume_checkout(self, license_id: str) -> bool:
        """Use one checkout of a metered licence whose copy stays in use (it passes to the next hold)."""
        ...

    async def refund_checkout(self, license_id: str) -> None:
        """Give back the checkout of a reserved copy nobody borrowed (metered licences only)."""
        ...


class Loans(Protocol):
    async def get(self, loan_id: str) -> Loan | None: ...

    async def of_patron(self, patron_id: str, *, active_only: bool) -> list[Loan]:
        """Her loans, soonest due first."""
        ...

    async def active_for_publication(self, patron_id: str, publication_id: str) -> Loan | None: ...

    async def has_active(self, patron_id: str, title_id: str) -> bool: ...

    async def add(self, loan: Loan) -> None:
        """Raises :class:`DuplicateEntry` when she already has an active loan of the title."""
        ...

    async def end(self, loan_id: str, status: str, now: datetime) -> bool:
        """End an active loan (returned, expired); False when it had ended already."""
        ...

    async def extend(self, loan_id: str, due_at: datetime) -> bool:
        """Renew an active loan to ``due_at`` (one more renewal)."""
        ...

    async def due(self, now: datetime, limit: int) -> list[str]:
        """Ids of active loans due by ``now`` (at most ``limit``)."""
        ...

    async def earliest_due(self) -> datetime | None: ...

    async def latest_of_library(self, library_id: str, status: str, limit: int) -> list[Loan]:
        """The library's loans in ``status``, latest started first."""
        ...


class Holds(Protocol):
    async def get(self, hold_id: str) -> Hold | None: ...

    async def open_for_title(self, title_id: str) -> list[Hold]: ...

    async def open_of(self, patron_id: str) -> list[Hold]: ...

    async def ready_of(self, patron_id: str) -> list[Hold]: ...

    async def has_open(self, patron_id: str, title_id: str) -> bool: ...

    async def add(self, hold: Hold) -> None:
        """Raises :class:`DuplicateEntry` when she already has an open hold on the title."""
        ...

    async def make_ready(self, hold_id: str, license_id: str, ready_until: datetime) -> bool:
        """A waiting hold gets a reserved copy of ``license_id`` until ``ready_until``."""
        ...

    async def fulfil(self, hold_id: str) -> bool:
        """A ready hold became a loan."""
        ...

    async def close(self, hold_id: str, expected: HoldState, state: HoldState, now: datetime) -> bool:
        """Cancel or expire a hold still in ``expected`` state (two workers never both act on it)."""
        ...

    async def suspend(self, hold_id: str, until: datetime | None) -> bool:
        """Skip a waiting hold until ``until`` (None: back in line)."""
        ...

    async def set_card_blocked(self, patron_id: str, blocked: bool) -> None:
        """Her waiting holds keep their place but are skipped while her card is blocked."""
        ...

    async def ready_until_passed(self, now: datetime, limit: int) -> list[str]:
        """Ids of ready holds whose window ended by ``now``."""
        ...

    async def earliest_ready_until(self) -> datetime | None: ...


class IdempotentRequests(Protocol):
    async def result(self, key_id: str) -> tuple[str, str] | None:
        """``(fingerprint, result id)`` of the request first made under this key, if any."""
        ...

    async def record(self, key_id: str, fingerprint: str, result_id: str, expires_at: datetime) -> None:
        """Raises :class:`DuplicateEntry` when a concurrent request recorded the key first."""
        ...


MonthKey = tuple[str, str, str]
"""A report cell: month (``YYYY-MM``, in Vietnam's time), library id, title id (``""`` unless by title)."""


class CirculationFigures(Protocol):
    """Counts per month, library and (``by_title``) title over ``[start, end)``, for the libraries given. Months
    are calendar months in Vietnam's time (UTC+7)."""

    async def loans_started(
        self, library_ids: list[str], start: datetime, end: datetime, *, by_title: bool
    ) -> dict[MonthKey, int]: ...

    async def borrowers(
        self, library_ids: list[str], start: datetime, end: datetime, *, by_title: bool
    ) -> dict[MonthKey, int]:
        """Distinct patrons who started a loan."""
        ...

    async def holds_placed(
        self, library_ids: list[str], start: datetime, end: datetime, *, by_title: bool
    ) -> dict[MonthKey, int]:
        """Holds placed by patrons of the libraries."""
        ...

    async def turnaways(
        self, library_ids: list[str], start: datetime, end: datetime, *, by_title: bool
    ) -> dict[MonthKey, int]: ...


class CardStatuses(Protocol):
    """Read outside any unit of work: one indexed read per patron every few seconds, on every request."""

    async def card_status(self, patron_id: str) -> CardStatus | None: ...


class Turnaways(Protocol):
    """Recorded outside any unit of work: the checkout a turn-away reports was rolled back. One plain write, as a
    refused checkout under contention is the common case and must stay cheap."""

    async def record(self, patron_id: str, title_id: str, at: datetime, *, library_id: str | None = None) -> None:
        """She wanted a copy of the title and none was free (for reports; nothing when she has no card).
        ``library_id``: her library, when the caller knows it (saves reading her again)."""
        ...


class LendingUnitOfWork(UnitOfWork, abc.ABC):
    """What a circulation use case sees: these repositories and ``emit``."""

    libraries: Libraries
    patrons: Patrons
    cards: CardRecords
    refresh_tokens: RefreshTokens
    titles: Titles
    catalogue: CatalogueTitles
    licences: Licences
    loans: Loans
    holds: Holds
    idempotency: IdempotentRequests
    figures: CirculationFigures

    @abc.abstractmethod
    async def read_committed(self, work: Callable[[Self], Awaitable[T]]) -> T:
        """``work(self)`` outside any transaction: each read sees what was committed at its own moment (no common
        snapshot), and ``work`` writes nothing and emits nothing. For an answer that committed reads give on their
        own, at a fraction of a transaction's cost."""


UnitOfWorkFactory = Callable[[], LendingUnitOfWork]
