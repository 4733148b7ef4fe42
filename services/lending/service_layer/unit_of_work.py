"""Lending's unit of work and the repositories it exposes — the only way circulation reaches storage.

Each repository is a small Protocol with named methods; ``adapters/repositories.py`` implements them on MongoDB
and ``tests/unit/lending/fakes.py`` in memory, and one contract suite (``tests/unit/lending/repository_contract.py``)
runs against both so they cannot drift. Writes that must never over-lend or act twice are *conditional* and answer
whether they applied (``take_copy``, ``end``, ``make_ready``…): the caller never reads-then-writes a licence count.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from lending.domain.holds import Hold, HoldState
from lending.domain.licensing import License
from lending.domain.loans import LendableTitle, Loan
from lending.domain.network import LibraryNetwork
from lending.domain.patrons import CardStatus, Patron
from lending.domain.policy import LendingPolicy
from sachso.kit.unit_of_work import UnitOfWork


class DuplicateEntry(Exception):
    """A write broke a uniqueness rule: a concurrent request made the same loan, hold or idempotency record."""


class Libraries(Protocol):
    async def network(self) -> LibraryNetwork: ...

    async def policy(self, library_id: str) -> LendingPolicy: ...


class Patrons(Protocol):
    async def get(self, patron_id: str) -> Patron | None: ...

    async def change_card_status(self, patron_id: str, expected: CardStatus, status: CardStatus) -> Patron | None:
        """Move the card from ``expected`` to ``status``; the patron as she was, or None if it was not ``expected``."""
        ...

    async def forget_refresh_tokens(self, patron_id: str) -> None: ...


class Titles(Protocol):
    async def lendable(self, title_id: str) -> LendableTitle | None: ...


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


class Turnaways(Protocol):
    async def record(self, patron_id: str, library_id: str, title_id: str, at: datetime) -> None:
        """She wanted a copy and none was free (for reports)."""
        ...


class LendingUnitOfWork(UnitOfWork, abc.ABC):
    """What a circulation use case sees: these repositories and ``emit``."""

    libraries: Libraries
    patrons: Patrons
    titles: Titles
    licences: Licences
    loans: Loans
    holds: Holds
    idempotency: IdempotentRequests
    turnaways: Turnaways


UnitOfWorkFactory = Callable[[], LendingUnitOfWork]
