"""In-memory fakes of lending's repositories and unit of work, with the semantics the MongoDB ones have.

- Conditional writes check the *stored* state, as MongoDB's conditional updates do: ``take_copy`` counts one more
  reader only while ``in_use < concurrency`` and ``checkouts_left > 0`` on the stored licence, so the fake can
  never over-lend either.
- One active loan and one open hold per patron and title (MongoDB's unique ``active_key``/``open_key``):
  a second one raises :class:`DuplicateEntry`.
- A unit of work that does not commit leaves nothing behind, and its events are never published.

``tests/unit/lending/repository_contract.py`` is one suite run against these and the MongoDB
repositories, so the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from lending.domain.holds import OPEN_STATES, Hold, HoldState
from lending.domain.licensing import License
from lending.domain.loans import ACTIVE, LendableTitle, Loan
from lending.domain.network import Library, LibraryNetwork
from lending.domain.patrons import CardStatus, Patron
from lending.domain.policy import LendingPolicy
from lending.service_layer.unit_of_work import DuplicateEntry, LendingUnitOfWork, UnitOfWorkFactory
from sachso.kit.events import OutboundEvent


@dataclass
class LendingState:
    """Everything the fakes store; ``published`` is what committed units of work emitted, in order."""

    libraries: list[Library]
    policies: dict[str, LendingPolicy] = field(default_factory=dict)
    patrons: dict[str, Patron] = field(default_factory=dict)
    refresh_tokens: dict[str, int] = field(default_factory=dict)
    titles: dict[str, LendableTitle] = field(default_factory=dict)
    licences: dict[str, License] = field(default_factory=dict)
    loans: dict[str, Loan] = field(default_factory=dict)
    holds: dict[str, Hold] = field(default_factory=dict)
    idempotency: dict[str, tuple[str, str, datetime]] = field(default_factory=dict)
    turnaways: list[tuple[str, str, str, datetime]] = field(default_factory=list)
    published: list[OutboundEvent] = field(default_factory=list)

    def snapshot(self) -> dict[str, Any]:
        """The stored values are frozen dataclasses: copies of the containers are a full snapshot."""
        return {
            name: (value.copy() if isinstance(value, dict | list) else value)
            for name, value in vars(self).items()
            if name not in {"libraries", "policies", "published"}
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        for name, value in snapshot.items():
            setattr(self, name, value)


class _Repository:
    def __init__(self, state: LendingState) -> None:
        self.state = state


class FakeLibraries(_Repository):
    async def network(self) -> LibraryNetwork:
        return LibraryNetwork(self.state.libraries, [])

    async def policy(self, library_id: str) -> LendingPolicy:
        return self.state.policies.get(library_id, LendingPolicy())


class FakePatrons(_Repository):
    async def get(self, patron_id: str) -> Patron | None:
        return self.state.patrons.get(patron_id)

    async def change_card_status(self, patron_id: str, expected: CardStatus, status: CardStatus) -> Patron | None:
        patron = self.state.patrons.get(patron_id)
        if patron is None or patron.status is not expected:
            return None
        self.state.patrons[patron_id] = replace(patron, status=status)
        return patron

    async def forget_refresh_tokens(self, patron_id: str) -> None:
        self.state.refresh_tokens.pop(patron_id, None)


class FakeTitles(_Repository):
    async def lendable(self, title_id: str) -> LendableTitle | None:
        return self.state.titles.get(title_id)


class FakeLicences(_Repository):
    async def for_title(self, title_id: str) -> list[License]:
        return [licence for licence in self.state.licences.values() if licence.title_id == title_id]

    async def get(self, license_id: str) -> License | None:
        return self.state.licences.get(license_id)

    async def add(self, license_: License) -> None:
        if license_.id in self.state.licences:
            raise DuplicateEntry(license_.id)
        self.state.licences[license_.id] = license_

    async def take_copy(self, license_: License) -> bool:
        stored = self.state.licences.get(license_.id)
        if stored is None:
            return False
        if license_.terms.concurrency is not None and stored.in_use >= license_.terms.concurrency:
            return False
        checkouts_left = stored.checkouts_left
        if license_.checkouts_left is not None:
            if checkouts_left is None or checkouts_left <= 0:
                return False
            checkouts_left -= 1
        self.state.licences[license_.id] = replace(stored, in_use=stored.in_use + 1, checkouts_left=checkouts_left)
        return True

    async def give_back_copy(self, license_id: str) -> None:
        stored = self.state.licences.get(license_id)
        if stored is not None and stored.in_use > 0:
            self.state.licences[license_id] = replace(stored, in_use=stored.in_use - 1)

    async def consume_checkout(self, license_id: str) -> bool:
        stored = self.state.licences.get(license_id)
        if stored is None or stored.checkouts_left is None or stored.checkouts_left <= 0:
            return False
        self.state.licences[license_id] = replace(stored, checkouts_left=stored.checkouts_left - 1)
        return True

    async def refund_checkout(self, license_id: str) -> None:
        stored = self.state.licences.get(license_id)
        if stored is not None and stored.checkouts_left is not None:
            self.state.licences[license_id] = replace(stored, checkouts_left=stored.checkouts_left + 1)


class FakeLoans(_Repository):
    async def get(self, loan_id: str) -> Loan | None:
        return self.state.loans.get(loan_id)

    async def of_patron(self, patron_id: str, *, active_only: bool) -> list[Loan]:
        loans = [
            loan
            for loan in self.state.loans.values()
            if loan.patron_id == patron_id and (loan.is_active or not active_only)
        ]
        return sorted(loans, key=lambda loan: loan.due_at)

    async def active_for_publication(self, patron_id: str, publication_id: str) -> Loan | None:
        return next(
            (
                loan
                for loan in self.state.loans.values()
                if loan.patron_id == patron_id and loan.publication_id == publication_id and loan.is_active
            ),
            None,
        )

    async def has_active(self, patron_id: str, title_id: str) -> bool:
        return any(
            loan.is_active and loan.patron_id == patron_id and loan.title_id == title_id
            for loan in self.state.loans.values()
        )

    async def add(self, loan: Loan) -> None:
        if loan.id in self.state.loans or (loan.is_active and await self.has_active(loan.patron_id, loan.title_id)):
            raise DuplicateEntry(f"{loan.patron_id}:{loan.title_id}")
        self.state.loans[loan.id] = loan

    async def end(self, loan_id: str, status: str, now: datetime) -> bool:
        loan = self.state.loans.get(loan_id)
        if loan is None or not loan.is_active:
            return False
        self.state.loans[loan_id] = replace(loan, status=status, ended_at=now)
        return True

    async def extend(self, loan_id: str, due_at: datetime) -> bool:
        loan = self.state.loans.get(loan_id)
        if loan is None or not loan.is_active:
            return False
        self.state.loans[loan_id] = replace(loan, due_at=due_at, renewals=loan.renewals + 1)
        return True

    async def due(self, now: datetime, limit: int) -> list[str]:
        return [loan.id for loan in self.state.loans.values() if loan.status == ACTIVE and loan.due_at <= now][:limit]

    async def earliest_due(self) -> datetime | None:
        return min((loan.due_at for loan in self.state.loans.values() if loan.is_active), default=None)


class FakeHolds(_Repository):
    async def get(self, hold_id: str) -> Hold | None:
        return self.state.holds.get(hold_id)

    async def open_for_title(self, title_id: str) -> list[Hold]:
        return [h for h in self.state.holds.values() if h.title_id == title_id and h.state in OPEN_STATES]

    async def open_of(self, patron_id: str) -> list[Hold]:
        return [h for h in self.state.holds.values() if h.patron_id == patron_id and h.state in OPEN_STATES]

    async def ready_of(self, patron_id: str) -> list[Hold]:
        return [h for h in self.state.holds.values() if h.patron_id == patron_id and h.state is HoldState.READY]

    async def has_open(self, patron_id: str, title_id: str) -> bool:
        return any(hold.title_id == title_id for hold in await self.open_of(patron_id))

    async def add(self, hold: Hold) -> None:
        if hold.id in self.state.holds or (
            hold.state in OPEN_STATES and await self.has_open(hold.patron_id, hold.title_id)
        ):
            raise DuplicateEntry(f"{hold.patron_id}:{hold.title_id}")
        self.state.holds[hold.id] = hold

    def _change(self, hold_id: str, expected: HoldState, **changes: Any) -> bool:
        hold = self.state.holds.get(hold_id)
        if hold is None or hold.state is not expected:
            return False
        self.state.holds[hold_id] = replace(hold, **changes)
        return True

    async def make_ready(self, hold_id: str, license_id: str, ready_until: datetime) -> bool:
        return self._change(
            hold_id, HoldState.WAITING, state=HoldState.READY, license_id=license_id, ready_until=ready_until
        )

    async def fulfil(self, hold_id: str) -> bool:
        return self._change(hold_id, HoldState.READY, state=HoldState.FULFILLED)

    async def close(self, hold_id: str, expected: HoldState, state: HoldState, now: datetime) -> bool:
        return self._change(hold_id, expected, state=state)

    async def suspend(self, hold_id: str, until: datetime | None) -> bool:
        return self._change(hold_id, HoldState.WAITING, suspended_until=until)

    async def set_card_blocked(self, patron_id: str, blocked: bool) -> None:
        for hold in list(self.state.holds.values()):
            if hold.patron_id == patron_id and hold.state is HoldState.WAITING:
                self.state.holds[hold.id] = replace(hold, card_blocked=blocked)

    async def ready_until_passed(self, now: datetime, limit: int) -> list[str]:
        return [
            hold.id
            for hold in self.state.holds.values()
            if hold.state is HoldState.READY and hold.ready_until is not None and hold.ready_until <= now
        ][:limit]

    async def earliest_ready_until(self) -> datetime | None:
        return min(
            (h.ready_until for h in self.state.holds.values() if h.state is HoldState.READY and h.ready_until),
            default=None,
        )


class FakeIdempotentRequests(_Repository):
    async def result(self, key_id: str) -> tuple[str, str] | None:
        found = self.state.idempotency.get(key_id)
        return (found[0], found[1]) if found else None

    async def record(self, key_id: str, fingerprint: str, result_id: str, expires_at: datetime) -> None:
        if key_id in self.state.idempotency:
            raise DuplicateEntry(key_id)
        self.state.idempotency[key_id] = (fingerprint, result_id, expires_at)


class FakeTurnaways(_Repository):
    async def record(self, patron_id: str, library_id: str, title_id: str, at: datetime) -> None:
        self.state.turnaways.append((patron_id, library_id, title_id, at))


class FakeUnitOfWork(LendingUnitOfWork):
    def __init__(self, state: LendingState) -> None:
        super().__init__()
        self.state = state
        self._snapshot: dict[str, Any] | None = None
        self.libraries = FakeLibraries(state)
        self.patrons = FakePatrons(state)
        self.titles = FakeTitles(state)
        self.licences = FakeLicences(state)
        self.loans = FakeLoans(state)
        self.holds = FakeHolds(state)
        self.idempotency = FakeIdempotentRequests(state)
        self.turnaways = FakeTurnaways(state)

    async def _begin(self) -> None:
        self._snapshot = self.state.snapshot()

    async def _commit(self, events: list[OutboundEvent]) -> None:
        self.state.published.extend(events)
        self._snapshot = None

    async def _rollback(self) -> None:
        if self._snapshot is not None:
            self.state.restore(self._snapshot)
            self._snapshot = None


def fake_units_of_work(state: LendingState) -> UnitOfWorkFactory:
    return lambda: FakeUnitOfWork(state)
