"""In-memory repositories for lending's local documents, open titles and digitisation counts (service-layer tests)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from lending.domain.digitisation import StageCounts, Target
from lending.service_layer.local_documents import (
    DigitisationCounts,
    DocumentRecord,
    DocumentRecords,
    LocalDocumentsUnitOfWork,
    OpenReadCount,
    OpenReads,
    TitleAccess,
    TitleAccesses,
    UnitOfWorkFactory,
)
from sachso.kit.events import OutboundEvent


@dataclass
class DigitisationState:
    documents: dict[str, DocumentRecord] = field(default_factory=dict)
    titles: dict[str, TitleAccess] = field(default_factory=dict)
    fulltext: dict[str, list[str]] = field(default_factory=dict)  # publication id -> words
    counts: dict[tuple[str, str], StageCounts] = field(default_factory=dict)
    corrected: set[tuple[str, int]] = field(default_factory=set)
    targets: dict[tuple[str, int], Target] = field(default_factory=dict)
    reads: dict[tuple[str, str, str], int] = field(default_factory=dict)
    published: list[OutboundEvent] = field(default_factory=list)


class FakeDocumentRecords(DocumentRecords):
    def __init__(self, state: DigitisationState) -> None:
        self.state = state

    async def get(self, document_id: str) -> DocumentRecord | None:
        return self.state.documents.get(document_id)

    async def save(self, record: DocumentRecord) -> None:
        self.state.documents[record.document_id] = record


class FakeTitleAccesses(TitleAccesses):
    def __init__(self, state: DigitisationState) -> None:
        self.state = state

    async def get(self, title_id: str) -> TitleAccess | None:
        return self.state.titles.get(title_id)

    async def of_publication(self, publication_id: str) -> TitleAccess | None:
        return next((t for t in self.state.titles.values() if t.publication_id == publication_id), None)

    async def save_local_document(self, record: DocumentRecord, at: datetime) -> tuple[str, bool]:
        existing = await self.of_publication(record.document_id)
        title_id = existing.title_id if existing else f"title-{record.document_id}"
        self.state.titles[title_id] = TitleAccess(
            title_id, record.document_id, online_only=record.access == "online-only",
            open_access=record.access == "open", withdrawn=False, readable=True, library_ids=(record.library_id,),
            local_document=True, manifest_url=record.manifest_url,
        )  # fmt: skip
        return title_id, existing is None

    async def set_fulltext(self, publication_id: str, words: Sequence[str]) -> None:
        if await self.of_publication(publication_id) is not None:
            self.state.fulltext[publication_id] = list(words)

    async def set_open(self, title_id: str, open_access: bool, at: datetime) -> None:
        self.state.titles[title_id] = replace(self.state.titles[title_id], open_access=open_access)


class FakeDigitisationCounts(DigitisationCounts):
    def __init__(self, state: DigitisationState) -> None:
        self.state = state

    async def add(self, library_id: str, month: str, counts: StageCounts) -> None:
        self.state.counts[(library_id, month)] = self.state.counts.get((library_id, month), StageCounts()) + counts

    async def first_correction(self, document_id: str, page: int) -> bool:
        first = (document_id, page) not in self.state.corrected
        self.state.corrected.add((document_id, page))
        return first

    async def monthly(self, library_ids: Sequence[str], months: Sequence[str]) -> dict[tuple[str, str], StageCounts]:
        return {key: value for key, value in self.state.counts.items() if key[0] in library_ids and key[1] in months}

    async def before(self, library_ids: Sequence[str], month: str) -> dict[str, StageCounts]:
        totals: dict[str, StageCounts] = {}
        for (library_id, at), counts in self.state.counts.items():
            if library_id in library_ids and at < month:
                totals[library_id] = totals.get(library_id, StageCounts()) + counts
        return totals

    async def targets(self, library_ids: Sequence[str], year: int) -> dict[str, Target]:
        return {lib: t for (lib, y), t in self.state.targets.items() if lib in library_ids and y == year}

    async def set_target(self, target: Target, by: str, at: datetime) -> None:
        self.state.targets[(target.library_id, target.year)] = target


class FakeOpenReads(OpenReads):
    def __init__(self, state: DigitisationState) -> None:
        self.state = state

    async def record(self, title_id: str, library_id: str, month: str) -> None:
        key = (month, library_id, title_id)
        self.state.reads[key] = self.state.reads.get(key, 0) + 1

    async def counts(self, library_ids: Sequence[str], months: Sequence[str]) -> list[OpenReadCount]:
        rows = sorted(self.state.reads.items())
        return [OpenReadCount(month, lib, title, reads) for (month, lib, title), reads in rows
                if lib in library_ids and month in months]  # fmt: skip


class FakeLocalDocumentsUnitOfWork(LocalDocumentsUnitOfWork):
    def __init__(self, state: DigitisationState) -> None:
        super().__init__()
        self.state = state
        self._snapshot: dict[str, Any] | None = None
        self.documents = FakeDocumentRecords(state)
        self.titles = FakeTitleAccesses(state)
        self.progress = FakeDigitisationCounts(state)
        self.open_reads = FakeOpenReads(state)

    async def _begin(self) -> None:
        self._snapshot = {name: copy.copy(value) for name, value in vars(self.state).items() if name != "published"}

    async def _commit(self, events: list[OutboundEvent]) -> None:
        self.state.published.extend(events)
        self._snapshot = None

    async def _rollback(self) -> None:
        if self._snapshot is not None:
            for name, value in self._snapshot.items():
                setattr(self.state, name, value)
            self._snapshot = None


def fake_local_document_units_of_work(state: DigitisationState) -> UnitOfWorkFactory:
    return lambda: FakeLocalDocumentsUnitOfWork(state)
