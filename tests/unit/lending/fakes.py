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

from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Self, TypeVar

from lending.domain.holds import OPEN_STATES, Hold, HoldState
from lending.domain.licensing import License
from lending.domain.loans import ACTIVE, LendableTitle, Loan
from lending.domain.network import Library, LibraryNetwork
from lending.domain.patrons import CardStatus, Patron, Verification
from lending.domain.policy import LendingPolicy
from lending.service_layer.unit_of_work import (
    AccessMarks,
    DuplicateEntry,
    LendingUnitOfWork,
    MonthKey,
    TitleCirculation,
    UnitOfWorkFactory,
)
from sachso.kit.events import OutboundEvent
from tests.unit.fake_transactions import SnapshotTransactions


@dataclass
class LendingState:
    """Everything the fakes store; ``published`` is what committed units of work emitted, in order."""

    libraries: list[Library]
    policies: dict[str, LendingPolicy] = field(default_factory=dict)
    patrons: dict[str, Patron] = field(default_factory=dict)
    pin_hashes: dict[str, str] = field(default_factory=dict)
    verifications: dict[str, Verification] = field(default_factory=dict)
    applied_at: dict[str, datetime] = field(default_factory=dict)
    card_sequences: dict[str, int] = field(default_factory=dict)
    refresh_tokens: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # digest: (patron id, expiry)
    titles: dict[str, LendableTitle] = field(default_factory=dict)
    title_records: dict[str, dict[str, Any]] = field(default_factory=dict)  # the catalogue's documents
    title_names: dict[str, str] = field(default_factory=dict)
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
            if name not in {"published"}
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

    async def get(self, library_id: str) -> Library | None:
        return next((library for library in self.state.libraries if library.id == library_id), None)

    async def all(self) -> list[Library]:
        return sorted(self.state.libraries, key=lambda library: library.id)

    async def add(self, library: Library, code: str, policy: LendingPolicy) -> None:
        if await self.get(library.id) is not None:
            raise DuplicateEntry(library.id)
        self.state.libraries = [*self.state.libraries, replace(library, code=code)]
        self.state.policies = {**self.state.policies, library.id: policy}

    async def names(self) -> dict[str, str]:
        return {library.id: library.name for library in self.state.libraries}

    async def next_card_sequence(self, library_id: str) -> int:
        self.state.card_sequences[library_id] = self.state.card_sequences.get(library_id, 0) + 1
        return self.state.card_sequences[library_id]


class FakePatrons(_Repository):
    async def get(self, patron_id: str) -> Patron | None:
        return self.state.patrons.get(patron_id)

    async def recent(self, patron_id: str) -> Patron | None:
        return self.state.patrons.get(patron_id)

    async def change_card_status(self, patron_id: str, expected: CardStatus, status: CardStatus) -> Patron | None:
        patron = self.state.patrons.get(patron_id)
        if patron is None or patron.status is not expected:
            return None
        self.state.patrons[patron_id] = replace(patron, status=status)
        return patron

    async def forget_refresh_tokens(self, patron_id: str) -> None:
        await FakeRefreshTokens(self.state).revoke_all(patron_id)

    async def of_library(self, library_id: str, status: CardStatus) -> list[Patron]:
        found = [p for p in self.state.patrons.values() if p.library_id == library_id and p.status is status]
        return sorted(found, key=lambda patron: self.state.applied_at.get(patron.id, datetime.min.replace(tzinfo=UTC)))

    async def by_ids(self, patron_ids: list[str]) -> dict[str, Patron]:
        return {pid: self.state.patrons[pid] for pid in patron_ids if pid in self.state.patrons}


class FakeCardRecords(_Repository):
    """Patrons with their PIN hashes and pending codes; one live (not rejected) card per email per library."""

    async def add_application(
        self, patron: Patron, pin_hash: str, verification: Verification, applied_at: datetime
    ) -> None:
        if patron.id in self.state.patrons or any(
            other.library_id == patron.library_id
            and other.email == patron.email
            and other.status is not CardStatus.REJECTED
            for other in self.state.patrons.values()
        ):
            raise DuplicateEntry(f"{patron.library_id}:{patron.email}")
        self.state.patrons[patron.id] = patron
        self.state.pin_hashes[patron.id] = pin_hash
        self.state.verifications[patron.id] = verification
        self.state.applied_at[patron.id] = applied_at

    async def verification(self, patron_id: str) -> Verification | None:
        return self.state.verifications.get(patron_id)

    async def count_wrong_code(self, patron_id: str) -> None:
        verification = self.state.verifications.get(patron_id)
        if verification is not None:
            self.state.verifications[patron_id] = replace(verification, attempts=verification.attempts + 1)

    def _change(self, patron_id: str, **changes: Any) -> None:
        patron = self.state.patrons.get(patron_id)
        if patron is not None:
            self.state.patrons[patron_id] = replace(patron, **changes)

    async def mark_verified(self, patron_id: str, status: CardStatus, at: datetime) -> None:
        self._change(patron_id, status=status)
        self.state.verifications.pop(patron_id, None)

    async def reject(self, patron_id: str, reason: str) -> None:
        self._change(patron_id, status=CardStatus.REJECTED)

    async def issue(self, patron_id: str, card_number: str, expires_at: datetime, at: datetime) -> None:
        self._change(patron_id, status=CardStatus.ACTIVE, card_number=card_number, card_expires_at=expires_at)

    async def extend(self, patron_id: str, expires_at: datetime) -> None:
        self._change(patron_id, card_expires_at=expires_at)

    async def by_card_number(self, card_number: str) -> tuple[Patron, str | None] | None:
        patron = next((p for p in self.state.patrons.values() if p.card_number == card_number), None)
        return (patron, self.state.pin_hashes.get(patron.id)) if patron else None

    async def pin_hash(self, patron_id: str) -> tuple[Patron, str | None] | None:
        patron = self.state.patrons.get(patron_id)
        return (patron, self.state.pin_hashes.get(patron_id)) if patron else None

    async def set_pin_hash(self, patron_id: str, pin_hash: str) -> None:
        if patron_id in self.state.patrons:
            self.state.pin_hashes[patron_id] = pin_hash


class FakeRefreshTokens(_Repository):
    async def add(self, digest: str, patron_id: str, expires_at: datetime) -> None:
        if digest in self.state.refresh_tokens:
            raise DuplicateEntry(digest)
        self.state.refresh_tokens[digest] = (patron_id, expires_at)

    async def take(self, digest: str) -> tuple[str, datetime] | None:
        return self.state.refresh_tokens.pop(digest, None)

    async def revoke_all(self, patron_id: str) -> int:
        mine = [digest for digest, (owner, _) in self.state.refresh_tokens.items() if owner == patron_id]
        for digest in mine:
            del self.state.refresh_tokens[digest]
        return len(mine)


class FakeTitles(_Repository):
    async def lendable(self, title_id: str) -> LendableTitle | None:
        found = self.state.titles.get(title_id)
        record = self.state.title_records.get(title_id)
        if found is None and record is not None:  # a title the catalogue's use cases recorded
            return LendableTitle(
                id=title_id,
                publication_id=record.get("publication_id") or "",
                readable=record.get("readable"),
                withdrawn=bool(record.get("withdrawn")),
                online_only=bool(record.get("online_only")),
                local_document=bool(record.get("local_document")),
            )
        return found

    async def circulation(self, title_id: str, patron_id: str) -> TitleCirculation | None:
        title = await self.lendable(title_id)
        if title is None:
            return None
        # the same answers as the separate reads it stands for
        return TitleCirculation(
            title,
            await FakeLicences(self.state).for_title(title_id),
            await FakeHolds(self.state).open_for_title(title_id),
            [loan.title_id for loan in await FakeLoans(self.state).of_patron(patron_id, active_only=True)],
        )

    async def names(self, title_ids: list[str]) -> dict[str, str]:
        return {tid: self.state.title_names.get(tid, "") for tid in title_ids if tid in self.state.titles}


class FakeCatalogueTitles(_Repository):
    """Documents are replaced, never changed in place, so a rolled-back unit of work leaves no trace."""

    def _update(self, title_id: str, **changes: Any) -> None:
        self.state.title_records[title_id] = {**self.state.title_records[title_id], **changes}

    async def by_publication(self, publication_id: str) -> dict[str, Any] | None:
        return next((d for d in self.state.title_records.values() if d.get("publication_id") == publication_id), None)

    async def unreadable_with_isbn(self, isbn: str) -> dict[str, Any] | None:
        return next(
            (
                d
                for d in self.state.title_records.values()
                if d.get("isbn") == isbn and str(d.get("publication_id")).startswith("staff:") and not d.get("readable")
            ),
            None,
        )

    async def publication_of(self, title_id: str) -> str | None:
        found = self.state.title_records.get(title_id)
        return None if found is None else str(found.get("publication_id") or "")

    async def save(self, title_id: str, fields: dict[str, Any], added_at: datetime) -> None:
        current = self.state.title_records.get(title_id) or {"_id": title_id, "added_at": added_at}
        self.state.title_records[title_id] = {**current, **fields}

    async def set_added_by(self, title_id: str, library_id: str) -> None:
        self._update(title_id, added_by_library_id=library_id)

    async def withdraw(self, publication_id: str, at: datetime) -> None:
        found = await self.by_publication(publication_id)
        if found is not None:
            self._update(found["_id"], withdrawn=True, withdrawn_at=at, changed_at=at)

    async def access_marks(self, title_id: str) -> AccessMarks:
        found = self.state.title_records.get(title_id, {})
        return AccessMarks(bool(found.get("open_access")), bool(found.get("local_document")))

    async def set_online_only(self, title_id: str, online_only: bool, at: datetime) -> bool:
        if title_id not in self.state.title_records:
            return False
        self._update(title_id, online_only=online_only, changed_at=at)
        return True

    async def add_owner(self, title_id: str, library_id: str, at: datetime) -> None:
        owners = self.state.title_records[title_id].get("library_ids", [])
        self._update(title_id, library_ids=owners if library_id in owners else [*owners, library_id], changed_at=at)


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

    async def latest_of_library(self, library_id: str, status: str, limit: int) -> list[Loan]:
        found = [loan for loan in self.state.loans.values() if loan.library_id == library_id and loan.status == status]
        return sorted(found, key=lambda loan: loan.starts_at, reverse=True)[:limit]


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


T = TypeVar("T")

VIETNAM_TIME = timezone(timedelta(hours=7))
Row = tuple[datetime, str, str, str]  # when, library, title, patron


class FakeCirculationFigures(_Repository):
    @staticmethod
    def _count(
        rows: Iterable[Row],
        library_ids: list[str],
        start: datetime,
        end: datetime,
        by_title: bool,
        counted: Callable[[set[str], int], int] = lambda patrons, count: count,
    ) -> dict[MonthKey, int]:
        patrons: dict[MonthKey, set[str]] = defaultdict(set)
        counts: dict[MonthKey, int] = defaultdict(int)
        for at, library_id, title_id, patron_id in rows:
            if library_id in library_ids and start <= at < end:
                key = (at.astimezone(VIETNAM_TIME).strftime("%Y-%m"), library_id, title_id if by_title else "")
                counts[key] += 1
                patrons[key].add(patron_id)
        return {key: counted(patrons[key], count) for key, count in counts.items()}

    def _loans(self) -> list[Row]:
        return [(loan.starts_at, loan.library_id, loan.title_id, loan.patron_id) for loan in self.state.loans.values()]

    async def loans_started(
        self, library_ids: list[str], start: datetime, end: datetime, *, by_title: bool
    ) -> dict[MonthKey, int]:
        return self._count(self._loans(), library_ids, start, end, by_title)

    async def borrowers(
        self, library_ids: list[str], start: datetime, end: datetime, *, by_title: bool
    ) -> dict[MonthKey, int]:
        return self._count(self._loans(), library_ids, start, end, by_title, lambda patrons, _: len(patrons))

    async def holds_placed(
        self, library_ids: list[str], start: datetime, end: datetime, *, by_title: bool
    ) -> dict[MonthKey, int]:
        rows = [(h.placed_at, h.patron_library_id, h.title_id, h.patron_id) for h in self.state.holds.values()]
        return self._count(rows, library_ids, start, end, by_title)

    async def turnaways(
        self, library_ids: list[str], start: datetime, end: datetime, *, by_title: bool
    ) -> dict[MonthKey, int]:
        rows = [(at, library, title, patron) for patron, library, title, at in self.state.turnaways]
        return self._count(rows, library_ids, start, end, by_title)


class FakeAttemptCounters:
    """The throttle's counters, outside any unit of work (as on MongoDB)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.known_clients: dict[str, datetime] = {}

    async def count_attempt(self, key: str, window_end: datetime) -> int:
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key]

    async def uncount_attempt(self, key: str) -> None:
        if self.counts.get(key, 0) > 0:
            self.counts[key] -= 1

    async def reset_attempts(self, key: str) -> None:
        if key in self.counts:
            self.counts[key] = 0

    async def is_known_sign_in_client(self, credential: str, client: str) -> bool:
        return f"{credential}|{client}" in self.known_clients

    async def remember_sign_in_client(self, credential: str, client: str, until: datetime) -> None:
        self.known_clients[f"{credential}|{client}"] = until


class FakeCardStatuses(_Repository):
    async def card_status(self, patron_id: str) -> CardStatus | None:
        patron = self.state.patrons.get(patron_id)
        return patron.status if patron else None


class FakeTurnaways(_Repository):
    async def record(self, patron_id: str, title_id: str, at: datetime, *, library_id: str | None = None) -> None:
        patron = self.state.patrons.get(patron_id)
        if patron is not None:
            self.state.turnaways.append((patron_id, library_id or patron.library_id, title_id, at))


class FakeUnitOfWork(SnapshotTransactions, LendingUnitOfWork):
    def __init__(self, state: LendingState) -> None:
        super().__init__()
        self.state = state
        self.libraries = FakeLibraries(state)
        self.patrons = FakePatrons(state)
        self.cards = FakeCardRecords(state)
        self.refresh_tokens = FakeRefreshTokens(state)
        self.titles = FakeTitles(state)
        self.catalogue = FakeCatalogueTitles(state)
        self.licences = FakeLicences(state)
        self.loans = FakeLoans(state)
        self.holds = FakeHolds(state)
        self.idempotency = FakeIdempotentRequests(state)
        self.figures = FakeCirculationFigures(state)

    async def read_committed(self, work: Callable[[Self], Awaitable[T]]) -> T:
        return await work(self)  # reads the state as it is; emit refuses (no unit of work is open)


def fake_units_of_work(state: LendingState) -> UnitOfWorkFactory:
    return lambda: FakeUnitOfWork(state)
