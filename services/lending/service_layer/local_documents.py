"""Local documents in the catalogue, open titles, and the digitisation progress report.

The reader service announces each scanned document's life (``sachso.reader.local-documents.v1``): digitised,
recognised, a page corrected, described, published. Lending keeps a record of each, counts every step for the
progress report, and once a document is published makes it a catalogue title (owned by its library, searchable
by its Dublin Core description *and its full text*, open or read online only as staff chose).

Any title — a local document, a public-domain book, open learning material — can be opened by staff who look
after it: anyone then reads it without a card or a loan (:meth:`OpenCollections.open_reading`), and each such
reading is counted for the reports. Every use case runs in one unit of work (writes and events together).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from lending.domain.digitisation import (
    ProgressReport,
    StageCounts,
    Target,
    distinct_folded,
    ensure_access_changed_here,
    ensure_may_open,
    month_of,
    months_between,
    progress_report,
)
from lending.errors import TitleNotFound, TitleNotOpen
from sachso.events.v1 import lending_events_pb2
from sachso.events.v1 import local_document_events_pb2 as doc_events
from sachso.kit.events import OutboundEvent
from sachso.kit.text import distinct_words, nfc
from sachso.kit.topics import LENDING_EVENTS
from sachso.kit.unit_of_work import UnitOfWork

_ACCESS = {doc_events.DOCUMENT_ACCESS_OPEN: "open", doc_events.DOCUMENT_ACCESS_ONLINE_ONLY: "online-only"}


@dataclass(frozen=True)
class DocumentRecord:
    """What lending knows of one scanned document (before and after it is a catalogue title)."""

    document_id: str
    library_id: str
    title: str = ""
    creators: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    description: str = ""
    publisher: str = ""
    languages: tuple[str, ...] = ("vi",)
    searchable: tuple[str, ...] = ()  # every Dublin Core text a catalogue search looks in
    access: str = "online-only"
    page_count: int = 0
    words: tuple[str, ...] = ()  # folded words of its full text (OCR, corrected)
    published: bool = False
    manifest_url: str = ""


@dataclass(frozen=True)
class TitleAccess:
    """A catalogue title as far as opening it is concerned."""

    title_id: str
    publication_id: str
    online_only: bool
    open_access: bool
    withdrawn: bool
    readable: bool
    library_ids: tuple[str, ...]  # who looks after it: licence holders and the library that added it
    local_document: bool = False
    manifest_url: str = ""  # a local document's IIIF manifest


class DocumentRecords(abc.ABC):
    @abc.abstractmethod
    async def get(self, document_id: str) -> DocumentRecord | None: ...

    @abc.abstractmethod
    async def save(self, record: DocumentRecord) -> None: ...


class TitleAccesses(abc.ABC):
    @abc.abstractmethod
    async def get(self, title_id: str) -> TitleAccess | None: ...

    @abc.abstractmethod
    async def of_publication(self, publication_id: str) -> TitleAccess | None: ...

    @abc.abstractmethod
    async def save_local_document(self, record: DocumentRecord, at: datetime) -> tuple[str, bool]:
        """Make (or update) the catalogue title of a published document: ``(title id, newly added)``."""

    @abc.abstractmethod
    async def set_fulltext(self, publication_id: str, words: Sequence[str]) -> None: ...

    @abc.abstractmethod
    async def set_open(self, title_id: str, open_access: bool, at: datetime) -> None: ...


class DigitisationCounts(abc.ABC):
    @abc.abstractmethod
    async def add(self, library_id: str, month: str, counts: StageCounts) -> None: ...

    @abc.abstractmethod
    async def first_correction(self, document_id: str, page: int) -> bool:
        """True the first time a page of a document is corrected (so a page counts once)."""

    @abc.abstractmethod
    async def monthly(
        self, library_ids: Sequence[str], months: Sequence[str]
    ) -> dict[tuple[str, str], StageCounts]: ...

    @abc.abstractmethod
    async def before(self, library_ids: Sequence[str], month: str) -> dict[str, StageCounts]:
        """Each library's counts in every month before ``month``."""

    @abc.abstractmethod
    async def targets(self, library_ids: Sequence[str], year: int) -> dict[str, Target]: ...

    @abc.abstractmethod
    async def set_target(self, target: Target, by: str, at: datetime) -> None: ...


@dataclass(frozen=True)
class OpenReadCount:
    month: str
    library_id: str
    title_id: str
    reads: int


class OpenReads(abc.ABC):
    @abc.abstractmethod
    async def record(self, title_id: str, library_id: str, month: str) -> None: ...

    @abc.abstractmethod
    async def counts(self, library_ids: Sequence[str], months: Sequence[str]) -> list[OpenReadCount]: ...


class LocalDocumentsUnitOfWork(UnitOfWork, abc.ABC):
    documents: DocumentRecords
    titles: TitleAccesses
    progress: DigitisationCounts
    open_reads: OpenReads


UnitOfWorkFactory = Callable[[], LocalDocumentsUnitOfWork]
Clock = Callable[[], datetime]


def _access_changed(title_id: str, publication_id: str, open_access: bool, by: str, at: datetime) -> OutboundEvent:
    payload = lending_events_pb2.TitleAccessChanged(
        title_id=title_id, publication_id=publication_id, open=open_access, changed_by=by
    )
    payload.changed_at.FromDatetime(at)
    return OutboundEvent(topic=LENDING_EVENTS.name, key=title_id, subject=title_id, payload=payload)


def _described(record: DocumentRecord, description: doc_events.DublinCore, access: int) -> DocumentRecord:
    searchable = [description.title, *description.creators, *description.subjects, description.description,
                  description.publisher, description.identifier, *description.coverage_places,
                  description.coverage_period, description.source]  # fmt: skip
    return replace(
        record,
        title=nfc(description.title) or record.title,
        creators=tuple(nfc(c) for c in description.creators),
        subjects=tuple(nfc(s) for s in description.subjects),
        description=nfc(description.description),
        publisher=nfc(description.publisher),
        languages=tuple(description.languages) or ("vi",),
        searchable=tuple(nfc(text) for text in searchable if text),
        access=_ACCESS.get(access, record.access),  # type: ignore[call-overload]
    )


class LocalDocumentCatalogue:
    """The handlers of the reader's local-document events, each in the consumer's unit of work."""

    async def digitised(self, uow: LocalDocumentsUnitOfWork, event: doc_events.LocalDocumentDigitised) -> None:
        if await uow.documents.get(event.document_id) is None:
            await uow.documents.save(DocumentRecord(
                event.document_id, event.library_id, title=nfc(event.title), page_count=event.page_count))  # fmt: skip
        await uow.progress.add(event.library_id, month_of(event.digitised_at.ToDatetime()),
                               StageCounts(items_digitised=1, pages_digitised=event.page_count))  # fmt: skip

    async def _record(self, uow: LocalDocumentsUnitOfWork, document_id: str, library_id: str) -> DocumentRecord:
        return await uow.documents.get(document_id) or DocumentRecord(document_id, library_id)

    async def _words(self, uow: LocalDocumentsUnitOfWork, record: DocumentRecord, words: Sequence[str]) -> None:
        kept = distinct_folded(words)
        await uow.documents.save(replace(record, words=tuple(kept)))
        if record.published:
            await uow.titles.set_fulltext(record.document_id, kept)

    async def recognised(self, uow: LocalDocumentsUnitOfWork, event: doc_events.LocalDocumentRecognised) -> None:
        record = await self._record(uow, event.document_id, event.library_id)
        await self._words(uow, record, event.words)
        await uow.progress.add(event.library_id, month_of(event.recognised_at.ToDatetime()),
                               StageCounts(items_recognised=1, pages_recognised=event.page_count))  # fmt: skip

    async def page_corrected(self, uow: LocalDocumentsUnitOfWork, event: doc_events.LocalDocumentPageCorrected) -> None:
        record = await self._record(uow, event.document_id, event.library_id)
        await self._words(uow, record, event.words)
        if await uow.progress.first_correction(event.document_id, event.page):
            await uow.progress.add(event.library_id, month_of(event.corrected_at.ToDatetime()),
                                   StageCounts(pages_corrected=1))  # fmt: skip

    async def described(self, uow: LocalDocumentsUnitOfWork, event: doc_events.LocalDocumentDescribed) -> None:
        record = _described(await self._record(uow, event.document_id, event.library_id), event.description,
                            event.access)  # fmt: skip
        await uow.documents.save(record)
        if record.published:
            await self._catalogue(uow, record, event.described_at.ToDatetime(), event.described_by)

    async def published(self, uow: LocalDocumentsUnitOfWork, event: doc_events.LocalDocumentPublished) -> None:
        before = await self._record(uow, event.document_id, event.library_id)
        record = replace(_described(before, event.description, event.access), published=True,
                         page_count=event.page_count or before.page_count, manifest_url=event.manifest_url)  # fmt: skip
        await uow.documents.save(record)
        at = event.published_at.ToDatetime()
        await self._catalogue(uow, record, at, "reader")
        if not before.published:
            await uow.progress.add(record.library_id, month_of(at),
                                   StageCounts(items_published=1, pages_published=record.page_count))  # fmt: skip

    async def _catalogue(self, uow: LocalDocumentsUnitOfWork, record: DocumentRecord, at: datetime, by: str) -> None:
        previous = await uow.titles.of_publication(record.document_id)
        title_id, added = await uow.titles.save_local_document(record, at)
        await uow.titles.set_fulltext(record.document_id, record.words)
        message = lending_events_pb2.TitleAdded if added else lending_events_pb2.TitleUpdated
        uow.emit(OutboundEvent(topic=LENDING_EVENTS.name, key=title_id, subject=title_id, payload=message(
            title_id=title_id, publication_id=record.document_id, title=record.title, authors=list(record.creators),
            language=record.languages[0] if record.languages else "vi")))  # fmt: skip
        opened = record.access == "open"
        if (previous is not None and previous.open_access) != opened:  # a new title starts closed
            uow.emit(_access_changed(title_id, record.document_id, opened, by, at))


@dataclass(frozen=True)
class OpenReading:
    """Where an open title is read: a local document's IIIF manifest, or a publication's open streaming root."""

    title_id: str
    publication_id: str
    local_document: bool
    manifest_url: str


class OpenCollections:
    def __init__(self, units_of_work: UnitOfWorkFactory, clock: Clock) -> None:
        self.units_of_work = units_of_work
        self.clock = clock

    async def title(self, title_id: str) -> TitleAccess:
        async def work(uow: LocalDocumentsUnitOfWork) -> TitleAccess:
            return await _title(uow, title_id)

        return await self.units_of_work().run(work)

    async def set_open(self, title_id: str, open_access: bool, *, by: str) -> TitleAccess:
        """Open a title to everyone (or close it again). Who may is decided at the edge (its stewards' staff)."""
        now = self.clock()

        async def work(uow: LocalDocumentsUnitOfWork) -> TitleAccess:
            title = await _title(uow, title_id)
            ensure_may_open(title.online_only, open_access)
            ensure_access_changed_here(title.local_document, title.open_access != open_access)
            if title.open_access != open_access:
                await uow.titles.set_open(title_id, open_access, now)
                uow.emit(_access_changed(title_id, title.publication_id, open_access, by, now))
            return replace(title, open_access=open_access)

        return await self.units_of_work().run(work)

    async def open_reading(self, title_id: str) -> OpenReading:
        """Anyone opens an open title: the reading is counted (per title, looking-after library and month)."""
        month = month_of(self.clock())

        async def work(uow: LocalDocumentsUnitOfWork) -> OpenReading:
            title = await _title(uow, title_id)
            if not title.open_access or title.withdrawn or not title.readable or title.online_only:
                raise TitleNotOpen(f"title {title_id} is not open to everyone")
            await uow.open_reads.record(title_id, title.library_ids[0] if title.library_ids else "", month)
            return OpenReading(title_id, title.publication_id, title.local_document, title.manifest_url)

        return await self.units_of_work().run(work)

    async def open_reads(self, library_ids: Sequence[str], first: str, last: str) -> list[OpenReadCount]:
        months = months_between(first, last)

        async def work(uow: LocalDocumentsUnitOfWork) -> list[OpenReadCount]:
            return await uow.open_reads.counts(library_ids, months)

        return await self.units_of_work().run(work)

    async def set_target(self, target: Target, *, by: str) -> Target:
        checked = target.checked()
        now = self.clock()

        async def work(uow: LocalDocumentsUnitOfWork) -> Target:
            await uow.progress.set_target(checked, by, now)
            return checked

        return await self.units_of_work().run(work)

    async def progress(self, library_ids: list[str], first: str, last: str) -> ProgressReport:
        """Items and pages digitised, recognised, corrected and published per library and month, against the
        targets for the year of ``last``."""
        months = months_between(first, last)

        async def work(uow: LocalDocumentsUnitOfWork) -> ProgressReport:
            monthly = await uow.progress.monthly(library_ids, months)
            before = await uow.progress.before(library_ids, months[0])
            targets = await uow.progress.targets(library_ids, int(last[:4]))
            return progress_report(library_ids, months, monthly, before, targets)

        return await self.units_of_work().run(work)


async def _title(uow: LocalDocumentsUnitOfWork, title_id: str) -> TitleAccess:
    title = await uow.titles.get(title_id)
    if title is None:
        raise TitleNotFound(f"no title {title_id}")
    return title


def fulltext_terms(text: str) -> list[str]:
    """The folded words of a text, as the catalogue keeps them (tests and tools)."""
    return distinct_words(text)
