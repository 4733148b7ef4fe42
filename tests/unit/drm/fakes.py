"""In-memory fakes of DRM's repositories, content keys, object store and unit of work, for service-layer tests.

They keep the semantics the use cases rely on (and ``tests/contracts/drm_repositories.py`` proves against the
MongoDB adapters): one licence per loan, live-only extension, the latest block change, atomic commit — a unit of
work works on a copy of the committed state, so what it wrote and emitted vanishes unless it commits.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

from drm.domain.documents import Passphrase, ProtectedPublication
from drm.domain.licences import BlockChange, DeviceEvent, Licence, LoanFacts, aware
from drm.domain.status import LIVE, Status
from drm.service_layer.unit_of_work import DrmUnitOfWork
from sachso.kit.events import OutboundEvent


@dataclass
class FakeState:
    """What a database would hold, plus the events committed to the outbox."""

    licences: dict[str, Licence] = field(default_factory=dict)
    passphrases: dict[str, Passphrase] = field(default_factory=dict)
    publications: dict[str, ProtectedPublication] = field(default_factory=dict)
    blocked: dict[str, BlockChange] = field(default_factory=dict)
    local_documents: dict[str, str] = field(default_factory=dict)  # document id -> owning library
    published: list[OutboundEvent] = field(default_factory=list)
    commits: int = 0

    def copy(self) -> FakeState:
        return FakeState(
            dict(self.licences), dict(self.passphrases), dict(self.publications), dict(self.blocked),
            dict(self.local_documents), list(self.published), self.commits,
        )  # fmt: skip


class FakeLicences:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    async def by_id(self, licence_id: str) -> Licence | None:
        return self.state.licences.get(licence_id)

    async def by_loan(self, loan_id: str) -> Licence | None:
        return next((licence for licence in self.state.licences.values() if licence.loan_id == loan_id), None)

    def _replace(self, licence: Licence, **changes: object) -> None:
        self.state.licences[licence.id] = dataclasses.replace(licence, **changes)  # type: ignore[arg-type]

    async def follow_loan(self, loan: LoanFacts, now: datetime) -> None:
        known = await self.by_loan(loan.loan_id)
        facts = {
            "patron_id": loan.patron_id, "publication_id": loan.publication_id, "start": aware(loan.starts_at),
            "end": aware(loan.due_at), "online_only": loan.online_only,
            "local_document": loan.local_document, "status_updated": now,
        }  # fmt: skip
        if known is None:
            known = Licence(str(uuid.uuid4()), loan.loan_id, Status.READY, aware(loan.starts_at), now)
        self._replace(known, **facts)

    async def add(self, licence: Licence) -> None:
        if licence.id in self.state.licences or await self.by_loan(licence.loan_id) is not None:
            raise ValueError(f"duplicate licence {licence.id} / loan {licence.loan_id}")
        self.state.licences[licence.id] = licence

    async def extend(self, loan_id: str, end: datetime, now: datetime) -> None:
        licence = await self.by_loan(loan_id)
        if licence is not None and licence.status in LIVE:
            self._replace(licence, end=aware(end), updated=now)

    async def change_status(
        self, licence_id: str, status: Status, now: datetime, event: DeviceEvent | None = None
    ) -> None:
        licence = self.state.licences.get(licence_id)
        if licence is not None:
            events = (*licence.events, event) if event is not None else licence.events
            self._replace(licence, status=status, status_updated=now, events=events)

    async def add_device(self, licence_id: str, device_id: str) -> None:
        licence = self.state.licences.get(licence_id)
        if licence is not None and device_id not in licence.devices:
            self._replace(licence, devices=(*licence.devices, device_id))

    async def renewed(self, licence_id: str, end: datetime, event: DeviceEvent) -> None:
        licence = self.state.licences.get(licence_id)
        if licence is not None:
            self._replace(licence, end=aware(end), updated=event.timestamp, events=(*licence.events, event))

    async def mark_delivered(self, licence_id: str) -> None:
        licence = self.state.licences.get(licence_id)
        if licence is not None:
            self._replace(licence, delivered=True)


class FakePassphrases:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    async def get(self, patron_id: str) -> Passphrase | None:
        return self.state.passphrases.get(patron_id)

    async def put(self, patron_id: str, passphrase: Passphrase, now: datetime) -> None:
        self.state.passphrases[patron_id] = passphrase


class FakePublications:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    async def get(self, publication_id: str) -> ProtectedPublication | None:
        return self.state.publications.get(publication_id)

    async def save(self, publication: ProtectedPublication) -> None:
        self.state.publications[publication.id] = publication


class FakeBlockedPatrons:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    async def last_change(self, patron_id: str) -> BlockChange | None:
        return self.state.blocked.get(patron_id)

    async def record(self, patron_id: str, change: BlockChange) -> None:
        self.state.blocked[patron_id] = BlockChange(change.blocked, aware(change.at))

    async def is_blocked(self, patron_id: str) -> bool:
        change = self.state.blocked.get(patron_id)
        return change is not None and change.blocked


class FakeLocalDocuments:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    async def record(self, document_id: str, library_id: str, at: datetime) -> None:
        self.state.local_documents[document_id] = library_id

    async def is_local_document(self, publication_id: str) -> bool:
        return publication_id in self.state.local_documents


class FakeDrmUnitOfWork(DrmUnitOfWork):
    """Works on a copy of ``database``; commit replaces the committed state with it (events included)."""

    def __init__(self, database: FakeState) -> None:
        super().__init__()
        self.database = database
        self._bind(FakeState())

    def _bind(self, state: FakeState) -> None:
        self.working = state
        self.licences = FakeLicences(state)
        self.passphrases = FakePassphrases(state)
        self.publications = FakePublications(state)
        self.blocked_patrons = FakeBlockedPatrons(state)
        self.local_documents = FakeLocalDocuments(state)

    async def _begin(self) -> None:
        self._bind(self.database.copy())

    async def _commit(self, events: list[OutboundEvent]) -> None:
        self.working.published.extend(events)
        self.working.commits += 1
        self.database.__dict__.update(self.working.copy().__dict__)

    async def _rollback(self) -> None:
        self._bind(FakeState())


class FakeContentKeys:
    def __init__(self) -> None:
        self.keys: dict[str, tuple[str, bytes]] = {}

    async def get(self, publication_id: str) -> bytes | None:
        found = self.keys.get(publication_id)
        return found[1] if found else None

    async def key_id(self, publication_id: str) -> str | None:
        found = self.keys.get(publication_id)
        return found[0] if found else None

    async def get_or_create(self, publication_id: str) -> tuple[str, bytes]:
        return self.keys.setdefault(publication_id, (os.urandom(8).hex(), os.urandom(32)))


class FakeObjectStore:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, str]] = {}

    async def read(self, bucket: str, key: str) -> bytes:
        return self.objects[bucket, key][0]

    async def write(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        self.objects[bucket, key] = (data, content_type)

    async def open_stream(self, bucket: str, key: str) -> AsyncIterator[bytes]:
        data = self.objects[bucket, key][0]

        async def chunks() -> AsyncIterator[bytes]:
            yield data

        return chunks()
