"""In-memory fakes of the reader's repositories and unit of work, with the semantics the MongoDB ones have.

- One publication per publisher and file (MongoDB's unique ``publisher_id``+``sha256``): a second raises
  :class:`DuplicateEntry`; a publication is never inserted over another.
- A position stays unless a later one (by ``modified``) comes; the first end of a loan counts.
- A unit of work that does not commit leaves nothing behind, and its events are never published.

``tests/unit/reader/repository_contract.py`` runs against these and the MongoDB repositories. Resumable uploads
have their own stand-ins (``FakeUploadStates``, ``FakeMultipartStore``) below.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio

from reader.domain.local_documents import OcrState, page_id
from reader.domain.reading import Annotation, Position
from reader.service_layer.local_document_ports import (
    LocalDocumentRecords,
    LocalDocumentsUnitOfWork,
    ObjectStorage,
    StoredFiles,
    TextRecognition,
)
from reader.service_layer.repositories import DuplicateEntry
from reader.service_layer.resumable_uploads import PART_BYTES, MultipartStore, UploadStates
from reader.service_layer.unit_of_work import ReaderUnitOfWork, UnitOfWorkFactory
from sachso.kit.events import OutboundEvent
from tests.unit.fake_transactions import SnapshotTransactions

Document = dict[str, Any]
Box = tuple[int, int, int, int]


@dataclass
class ReaderState:
    publications: dict[str, Document] = field(default_factory=dict)
    positions: dict[tuple[str, str], tuple[Position, datetime]] = field(default_factory=dict)
    annotations: dict[str, Annotation] = field(default_factory=dict)
    ended_loans: dict[str, datetime] = field(default_factory=dict)
    blocks: dict[str, tuple[bool, datetime]] = field(default_factory=dict)
    published: list[OutboundEvent] = field(default_factory=list)

    def snapshot(self) -> dict[str, Any]:
        return {name: copy.deepcopy(value) for name, value in vars(self).items() if name != "published"}

    def restore(self, snapshot: dict[str, Any]) -> None:
        for name, value in snapshot.items():
            setattr(self, name, value)


class _Repository:
    def __init__(self, state: ReaderState) -> None:
        self.state = state


class FakePublications(_Repository):
    async def get(self, publication_id: str) -> Document | None:
        found = self.state.publications.get(publication_id)
        return copy.deepcopy(found) if found is not None else None

    def _first(self, **wanted: Any) -> Document | None:
        for document in self.state.publications.values():
            if all(document.get(name) == value for name, value in wanted.items()):
                return copy.deepcopy(document)
        return None

    async def owned(self, publisher_id: str, publication_id: str) -> Document | None:
        return self._first(_id=publication_id, publisher_id=publisher_id)

    async def same_file(self, publisher_id: str, sha256: str, other_than: str | None = None) -> Document | None:
        for document in self.state.publications.values():
            if (document["publisher_id"], document["sha256"]) == (publisher_id, sha256) and document[
                "_id"
            ] != other_than:
                return copy.deepcopy(document)
        return None

    async def same_isbn(self, publisher_id: str, isbn: str) -> Document | None:
        return self._first(publisher_id=publisher_id, isbn=isbn)

    async def exists(self, publication_id: str) -> bool:
        return publication_id in self.state.publications

    async def add(self, publication_id: str, document: Document) -> None:
        if publication_id in self.state.publications or await self.same_file(
            document["publisher_id"], document["sha256"]
        ):
            raise DuplicateEntry(publication_id)
        self.state.publications[publication_id] = {"_id": publication_id, **copy.deepcopy(document)}

    async def replace_owned(self, publisher_id: str, publication_id: str, document: Document) -> bool:
        stored = self.state.publications.get(publication_id)
        if stored is None or stored["publisher_id"] != publisher_id:
            return False
        stored.update(copy.deepcopy(document))
        return True

    async def withdraw(self, publication_id: str, at: datetime) -> None:
        stored = self.state.publications.get(publication_id)
        if stored is not None:
            stored.update(status="withdrawn", withdrawn_at=at)


class FakePositions(_Repository):
    async def keep_if_later(self, patron_id: str, position: Position, received_at: datetime) -> Position:
        key = (patron_id, position.publication_id)
        stored = self.state.positions.get(key)
        if stored is not None and stored[0].modified >= position.modified:
            return replace(stored[0], applied=False)
        self.state.positions[key] = (position, received_at)
        return position

    async def get(self, patron_id: str, publication_id: str) -> Position | None:
        stored = self.state.positions.get((patron_id, publication_id))
        return stored[0] if stored else None

    async def received_since(self, patron_id: str, since: datetime) -> list[Position]:
        mine = [(at, p) for (owner, _), (p, at) in self.state.positions.items() if owner == patron_id and at > since]
        return [position for _, position in sorted(mine, key=lambda pair: pair[0])]


class FakeAnnotations(_Repository):
    async def add(self, annotation: Annotation) -> None:
        if annotation.id in self.state.annotations:
            raise DuplicateEntry(annotation.id)
        self.state.annotations[annotation.id] = annotation

    async def of(self, patron_id: str, publication_id: str) -> list[Annotation]:
        mine = [
            a for a in self.state.annotations.values() if (a.patron_id, a.publication_id) == (patron_id, publication_id)
        ]
        return sorted(mine, key=lambda annotation: annotation.created_at, reverse=True)

    async def delete(self, patron_id: str, annotation_id: str) -> bool:
        found = self.state.annotations.get(annotation_id)
        if found is None or found.patron_id != patron_id:
            return False
        del self.state.annotations[annotation_id]
        return True


class FakeRevocations(_Repository):
    async def end_loan(self, loan_id: str, at: datetime) -> None:
        self.state.ended_loans.setdefault(loan_id, at)

    async def block_changed_at(self, patron_id: str) -> datetime | None:
        known = self.state.blocks.get(patron_id)
        return known[1] if known else None

    async def set_blocked(self, patron_id: str, blocked: bool, at: datetime) -> None:
        self.state.blocks[patron_id] = (blocked, at)


class FakeRevocationReads(_Repository):
    """Reads outside any unit of work (counted: the streaming path must stay one read per cache miss)."""

    def __init__(self, state: ReaderState) -> None:
        super().__init__(state)
        self.reads = 0

    async def loan_ended(self, loan_id: str) -> bool:
        self.reads += 1
        return loan_id in self.state.ended_loans

    async def patron_blocked(self, patron_id: str) -> bool:
        self.reads += 1
        known = self.state.blocks.get(patron_id)
        return bool(known and known[0])


class FakeUnitOfWork(SnapshotTransactions, ReaderUnitOfWork):
    def __init__(self, state: ReaderState) -> None:
        super().__init__()
        self.state = state
        self.publications = FakePublications(state)
        self.positions = FakePositions(state)
        self.annotations = FakeAnnotations(state)
        self.revocations = FakeRevocations(state)


def fake_units_of_work(state: ReaderState) -> UnitOfWorkFactory:
    return lambda: FakeUnitOfWork(state)


# -- resumable uploads --------------------------------------------------------------------------------------


class FakeUploadStates(UploadStates):
    """Upload states in a dict, with the same conditional writes as MongoDB's."""

    def __init__(self) -> None:
        self.states: dict[str, Document] = {}

    async def add(self, state: Document) -> None:
        self.states[state["_id"]] = copy.deepcopy(state)

    async def get(self, upload_id: str) -> Document | None:
        found = self.states.get(upload_id)
        return copy.deepcopy(found) if found else None

    async def take(self, upload_id: str, offset: int, now: datetime, lease_until: datetime) -> Document | None:
        state = self.states.get(upload_id)
        if state is None or state["offset"] != offset or state["lease_until"] >= now:
            return None
        state["lease_until"] = lease_until
        return copy.deepcopy(state)

    async def add_part(self, upload_id: str, number: int, etag: str, parts_bytes: int) -> None:
        state = self.states[upload_id]
        state["parts"].append({"PartNumber": number, "ETag": etag})
        state.update(parts_bytes=parts_bytes, offset=parts_bytes, tail_bytes=0)

    async def set_tail(self, upload_id: str, parts_bytes: int, tail_bytes: int, released: datetime) -> None:
        self.states[upload_id].update(offset=parts_bytes + tail_bytes, tail_bytes=tail_bytes, lease_until=released)

    async def mark_complete(self, upload_id: str) -> None:
        self.states[upload_id]["complete"] = True

    async def remove(self, upload_id: str) -> None:
        self.states.pop(upload_id, None)


class FakeMultipartStore(MultipartStore):
    """Multipart uploads and tails in memory; refuses short parts but the last, as S3 does."""

    def __init__(self) -> None:
        self.uploads: dict[str, dict[int, bytes]] = {}
        self.tails: dict[str, bytes] = {}
        self.objects: dict[str, bytes] = {}
        self.aborted: list[str] = []

    async def start(self, key: str, media_type: str) -> str:
        upload_id = f"s3-{len(self.uploads) + 1}"
        self.uploads[upload_id] = {}
        return upload_id

    async def put_part(self, key: str, s3_upload_id: str, number: int, data: bytes) -> str:
        self.uploads[s3_upload_id][number] = data
        return f"etag-{number}"

    async def read_tail(self, key: str) -> bytes:
        return self.tails.get(key, b"")

    async def write_tail(self, key: str, data: bytes) -> None:
        self.tails[key] = data

    async def complete(self, key: str, s3_upload_id: str, parts: list[Document]) -> None:
        numbers = [part["PartNumber"] for part in parts]
        stored = self.uploads.pop(s3_upload_id)
        assert all(len(stored[n]) >= PART_BYTES for n in numbers[:-1]), "S3 refuses a short part but the last"
        self.objects[key] = b"".join(stored[n] for n in numbers)
        self.tails.pop(key, None)

    async def abort(self, key: str, s3_upload_id: str) -> None:
        self.uploads.pop(s3_upload_id, None)
        self.tails.pop(key, None)
        self.aborted.append(key)


class FakeLocalDocumentRecords(LocalDocumentRecords):
    """Documents, pages and corrections in dicts, with the MongoDB repository's conditional writes."""

    def __init__(self, state: LocalDocumentState) -> None:
        self.state = state

    async def document(self, document_id: str) -> Document | None:
        return copy.deepcopy(self.state.documents.get(document_id))

    async def documents_of(self, library_id: str) -> list[Document]:
        found = [d for d in self.state.documents.values() if d["library_id"] == library_id]
        return copy.deepcopy(sorted(found, key=lambda d: d["created_at"], reverse=True))

    async def pages_of(self, document_id: str) -> list[Document]:
        return copy.deepcopy(sorted((p for p in self.state.pages.values() if p["document_id"] == document_id),
                                    key=lambda p: p["page"]))  # fmt: skip

    async def page(self, document_id: str, number: int) -> Document | None:
        return copy.deepcopy(self.state.pages.get(page_id(document_id, number)))

    async def corrections_of(self, document_id: str, number: int) -> list[Document]:
        found = [c for c in self.state.corrections if (c["document_id"], c["page"]) == (document_id, number)]
        return copy.deepcopy(found[::-1])

    async def add(self, document: Document, pages: list[Document]) -> None:
        self.state.documents[document["_id"]] = copy.deepcopy(document)
        for page in pages:
            self.state.pages[page["_id"]] = copy.deepcopy(page)

    async def record_recognition(
        self, page_id: str, image_sha256: str, *, hocr_key: str, text: str, words: list[tuple[str, Box]],
        lines: list[tuple[str, Box]], recognised_at: datetime,
    ) -> Document | None:  # fmt: skip
        page = self.state.pages.get(page_id)
        if page is None or page["sha256"] != image_sha256 or page["ocr"]["state"] == OcrState.DONE.value:
            return None
        before = copy.deepcopy(page)
        page["ocr"] = {"state": OcrState.DONE.value, "hocr_key": hocr_key, "text": text,
                       "words": [[w, *box] for w, box in words], "lines": [[t, *box] for t, box in lines],
                       "recognised_at": recognised_at}  # fmt: skip
        self.state.documents[page["document_id"]]["pages_recognised"] += 1
        return before

    async def correct_page(
        self, page_id: str, text: str, words: list[tuple[str, Box]], by: str, at: datetime, previous: str
    ) -> bool:
        page = self.state.pages[page_id]
        first = page.get("corrected") is None
        page["corrected"] = {"text": text, "by": by, "at": at, "words": [[w, *box] for w, box in words]}
        self.state.corrections.append({"document_id": page["document_id"], "page": page["page"], "text": text,
                                       "previous": previous, "corrected_by": by, "corrected_at": at})  # fmt: skip
        if first:
            document = self.state.documents[page["document_id"]]
            document["pages_corrected"] = document.get("pages_corrected", 0) + 1
        return first

    async def set_description(self, document_id: str, description: Document, access: str, at: datetime) -> None:
        self.state.documents[document_id].update(description=description, title=description.get("title", ""),
                                                 access=access, described_at=at)  # fmt: skip

    async def mark_published(self, document_id: str, at: datetime) -> None:
        self.state.documents[document_id].update(published=True, published_at=at)

    async def mark_recognition_announced(self, document_id: str) -> bool:
        document = self.state.documents[document_id]
        first = not document.get("recognition_announced")
        document["recognition_announced"] = True
        return first

    async def mark_failed(self, page_id: str, image_sha256: str, error: str, at: datetime) -> bool:
        page = self.state.pages.get(page_id)
        if page is None or page["sha256"] != image_sha256 or page["ocr"]["state"] != OcrState.QUEUED.value:
            return False
        page["ocr"].update(state=OcrState.FAILED.value, error=error, failed_at=at)
        document = self.state.documents[page["document_id"]]
        document["pages_failed"] = document.get("pages_failed", 0) + 1
        return True

    async def requeue_failed(self, page_id: str, at: datetime) -> Document | None:
        page = self.state.pages.get(page_id)
        if page is None or page["ocr"]["state"] != OcrState.FAILED.value:
            return None
        before = copy.deepcopy(page)
        page["ocr"] = {"state": OcrState.QUEUED.value, "retried_at": at}
        self.state.documents[page["document_id"]]["pages_failed"] -= 1
        return before


@dataclass
class LocalDocumentState:
    documents: dict[str, Document] = field(default_factory=dict)
    pages: dict[str, Document] = field(default_factory=dict)
    corrections: list[Document] = field(default_factory=list)
    published: list[OutboundEvent] = field(default_factory=list)


class FakeLocalDocumentsUnitOfWork(LocalDocumentsUnitOfWork):
    def __init__(self, state: LocalDocumentState) -> None:
        super().__init__()
        self.state = state
        self.documents = FakeLocalDocumentRecords(state)
        self._snapshot: tuple[Any, ...] | None = None

    async def _begin(self) -> None:
        self._snapshot = copy.deepcopy((self.state.documents, self.state.pages, self.state.corrections))

    async def _commit(self, events: list[OutboundEvent]) -> None:
        self.state.published.extend(events)
        self._snapshot = None

    async def _rollback(self) -> None:
        if self._snapshot is not None:
            self.state.documents, self.state.pages, self.state.corrections = self._snapshot
            self._snapshot = None


class FakeObjectStorage(ObjectStorage):
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    async def put_file(self, key: str, path: Path, media_type: str) -> None:
        self.objects[key] = await anyio.Path(path).read_bytes()

    async def download(self, key: str, target: Path) -> None:
        await anyio.Path(target).write_bytes(self.objects[key])

    async def exists(self, key: str) -> bool:
        return key in self.objects

    async def put_bytes(self, key: str, data: bytes, media_type: str) -> None:
        self.objects[key] = data

    async def get_bytes(self, key: str) -> bytes:
        return self.objects[key]


class FakeStoredFiles(StoredFiles):
    """Local copies of the fake store's objects in a folder."""

    def __init__(self, store: FakeObjectStorage, folder: Path) -> None:
        self.store = store
        self.folder = folder

    async def file(self, key: str) -> Path:
        path = self.folder / key.replace("/", "__")
        if not await anyio.Path(path).exists():
            await self.store.download(key, path)
        return path


class FakeRecogniser(TextRecognition):
    """Answers a fixed hOCR page and counts its calls (Tesseract itself is tested against the real binary)."""

    def __init__(self, words: list[str]) -> None:
        self.words = words
        self.calls = 0

    async def hocr(self, image: Path, languages: str) -> bytes:
        self.calls += 1
        spans = "".join(f"<span class='ocrx_word' title='bbox {10 + 60 * i} 10 {60 + 60 * i} 40'>{word}</span> "
                        for i, word in enumerate(self.words))  # fmt: skip
        return (f"<html><body><div class='ocr_page' title='bbox 0 0 800 600'><span class='ocr_line' "
                f"title='bbox 10 10 790 40'>{spans}</span></div></body></html>").encode()  # fmt: skip
