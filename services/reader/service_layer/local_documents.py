"""Scanned local documents: from a finished upload to pages queued for OCR; text, corrections, description,
publication, and what readers and IIIF clients are served.

Storage sits behind the ports of :mod:`reader.service_layer.local_document_ports`; the rules are in
:mod:`reader.domain.local_documents`; every change runs in a unit of work, its events committed with its writes.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cachetools import LRUCache
from google.protobuf.timestamp_pb2 import Timestamp

from reader.adapters.page_images import MasterPage, kind_of_upload, masters_from_pdf, masters_from_zip, render_request
from reader.domain import iiif
from reader.domain.hocr import Line, TextLayer, Word, corrected_layer, matching_boxes
from reader.domain.local_documents import (
    Access,
    DublinCore,
    OcrState,
    Progress,
    Staff,
    ensure_staff_of,
    page_id,
)
from reader.domain.packaging import Limits
from reader.domain.text_search import Passage, search
from reader.errors import PublicationNotFound, ResourceNotFound
from reader.service_layer.local_document_ports import (
    LocalDocumentReads,
    LocalDocumentsUnitOfWork,
    ObjectStorage,
    StoredFiles,
    UnitOfWorkFactory,
)
from reader.service_layer.resumable_uploads import ResumableUploads
from sachso.events.v1 import local_document_events_pb2 as events
from sachso.events.v1 import ocr_requests_pb2
from sachso.kit.errors import Conflict, Forbidden, InvalidInput
from sachso.kit.events import OutboundEvent
from sachso.kit.text import distinct_words, nfc
from sachso.kit.topics import LOCAL_DOCUMENT_EVENTS, OCR_REQUESTS

Document = dict[str, Any]
RESTRICTED_WIDTH = 1600
_ACCESS = {Access.OPEN: events.DOCUMENT_ACCESS_OPEN, Access.ONLINE_ONLY: events.DOCUMENT_ACCESS_ONLINE_ONLY}


class DocumentNotFound(PublicationNotFound):
    problem = "local-document-not-found"
    title = "No such local document"


class PageNotFailed(Conflict):
    problem = "ocr-page-not-failed"
    title = "This page's OCR has not failed: nothing to retry"


class NotOpen(Forbidden):
    problem = "local-document-not-open"
    title = "This document is not open to everyone: borrow it to read it"


def timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def dublin_core_message(description: Document) -> events.DublinCore:
    return events.DublinCore(**{key: value for key, value in description.items() if value not in (None, "")})


def page_text(page: Document) -> str:
    """A page's text: the staff correction if there is one, else the OCR."""
    if page.get("corrected"):
        return str(page["corrected"]["text"])
    return str((page.get("ocr") or {}).get("text", ""))


def page_layer(page: Document) -> TextLayer:
    source = page.get("corrected") or page.get("ocr") or {}
    return TextLayer(tuple(Line((Word(text, (x, y, w, h)),)) for text, x, y, w, h in source.get("words", [])))


def document_words(pages: list[Document]) -> list[str]:
    return distinct_words(*(page_text(page) for page in pages))


@dataclass(frozen=True)
class Viewer:
    """Who looks at a document's images and how: an open reader, a patron with a loan, or staff."""

    watermark: str | None = None  # drawn on every image (patron and loan)
    restricted_width: int | None = None  # no image wider than this

    @classmethod
    def borrower(cls, patron_id: str, loan_id: str) -> Viewer:
        return cls(f"Sách Số · {patron_id} · {loan_id[:8]}", RESTRICTED_WIDTH)


OPEN_VIEWER = Viewer()


class LocalDocuments:
    def __init__(
        self,
        reads: LocalDocumentReads,
        units_of_work: UnitOfWorkFactory,
        uploads: ResumableUploads,
        store: ObjectStorage,
        cache: StoredFiles,
        work_dir: Path,
        *,
        limits: Limits | None = None,
        ocr_languages: str = "vie",
        image_cache_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.reads = reads
        self.units_of_work = units_of_work
        self.uploads = uploads
        self.store = store
        self.cache = cache
        self.work_dir = work_dir
        self.limits = limits or Limits(max_file_bytes=4 * 1024**3, max_total_bytes=8 * 1024**3)
        self.ocr_languages = ocr_languages
        self._images: LRUCache[tuple[str, str, str], bytes] = LRUCache(maxsize=image_cache_bytes, getsizeof=len)

    # — staff: digitise, describe, correct, publish —

    async def digitise(self, staff: Staff, upload_id: str, title: str = "") -> Document:
        """Make a document of a finished upload: its pages stored as masters and queued for OCR, one message each.
        The same upload again answers the same document."""
        state = await self.uploads.finished(staff, upload_id)
        document_id = f"ld-{upload_id[:20]}"
        existing = await self.reads.document(document_id)
        if existing is not None:
            return existing
        with tempfile.TemporaryDirectory(dir=self.work_dir) as folder:
            original = Path(folder) / "original"
            await self.store.download(state["key"], original)
            kind = await asyncio.to_thread(kind_of_upload, original)
            masters_dir = Path(folder) / "pages"
            masters_dir.mkdir()
            masters: list[MasterPage] = await asyncio.to_thread(
                lambda: list(
                    masters_from_pdf(original, masters_dir)
                    if kind == "pdf"
                    else masters_from_zip(original, masters_dir, self.limits)
                )
            )
            pages: list[Document] = []
            for master in masters:
                key = f"local-documents/{document_id}/pages/{master.number:05d}-{master.sha256[:16]}.jpg"
                await self.store.put_file(key, master.path, "image/jpeg")
                pages.append({"_id": page_id(document_id, master.number), "document_id": document_id,
                              "page": master.number, "image_key": key, "sha256": master.sha256,
                              "width": master.width, "height": master.height, "source": master.source,
                              "ocr": {"state": OcrState.QUEUED.value}, "corrected": None})  # fmt: skip
        now = datetime.now(UTC)
        title = nfc(title.strip()) or nfc(state["metadata"].get("filename", ""))
        document = {"_id": document_id, "library_id": state["library_id"], "uploaded_by": staff.subject,
                    "upload_id": upload_id, "original_key": state["key"], "original_kind": kind,
                    "title": title, "description": asdict(DublinCore(title=title)), "access": Access.ONLINE_ONLY.value,
                    "page_count": len(pages), "pages_recognised": 0, "pages_corrected": 0, "published": False,
                    "created_at": now}  # fmt: skip

        async def work(uow: LocalDocumentsUnitOfWork) -> None:
            await uow.documents.add(document, pages)
            for page in pages:
                uow.emit(OutboundEvent(topic=OCR_REQUESTS.name, key=page["_id"], subject=document_id,
                                   payload=ocr_requests_pb2.RecognisePage(
                                       document_id=document_id, page=page["page"], image_key=page["image_key"],
                                       image_sha256=page["sha256"], languages=self.ocr_languages)))  # fmt: skip
            uow.emit(self._event(document_id, events.LocalDocumentDigitised(
                document_id=document_id, library_id=document["library_id"], uploaded_by=staff.subject,
                page_count=len(pages), title=title, digitised_at=timestamp(now))))  # fmt: skip

        await self.units_of_work().run(work)
        return document

    @staticmethod
    def _event(document_id: str, payload: Any) -> OutboundEvent:
        return OutboundEvent(topic=LOCAL_DOCUMENT_EVENTS.name, key=document_id, subject=document_id, payload=payload)

    async def library_documents(self, staff: Staff) -> list[Document]:
        """The documents of the caller's library, newest first."""
        if staff.library_id is None:
            raise Forbidden("your token names no library")
        ensure_staff_of(staff, staff.library_id)
        return await self.reads.documents_of(staff.library_id)

    async def document_for_staff(self, staff: Staff, document_id: str) -> Document:
        document = await self.reads.document(document_id)
        if document is None:
            raise DocumentNotFound(f"no local document {document_id}")
        ensure_staff_of(staff, document["library_id"])
        return document

    async def describe(self, staff: Staff, document_id: str, description: DublinCore, access: Access) -> Document:
        document = await self.document_for_staff(staff, document_id)
        cleaned = description.cleaned()
        if not cleaned.title:
            raise InvalidInput("a description needs a title (dc:title)")
        now = datetime.now(UTC)
        fields = asdict(cleaned)

        async def work(uow: LocalDocumentsUnitOfWork) -> None:
            await uow.documents.set_description(document_id, fields, access.value, now)
            uow.emit(self._event(document_id, events.LocalDocumentDescribed(
                document_id=document_id, library_id=document["library_id"], description=dublin_core_message(fields),
                access=_ACCESS[access], described_by=staff.subject, described_at=timestamp(now))))  # fmt: skip

        await self.units_of_work().run(work)
        return {**document, "description": fields, "title": cleaned.title, "access": access.value}

    async def publish(self, staff: Staff, document_id: str, manifest_url: str) -> None:
        document = await self.document_for_staff(staff, document_id)
        if not document.get("described_at"):
            raise Conflict("describe the document (at least its title) before publishing it")
        now = datetime.now(UTC)

        async def work(uow: LocalDocumentsUnitOfWork) -> None:
            await uow.documents.mark_published(document_id, now)
            uow.emit(self._event(document_id, events.LocalDocumentPublished(
                document_id=document_id, library_id=document["library_id"],
                description=dublin_core_message(document["description"]),
                access=_ACCESS[Access(document["access"])], page_count=document["page_count"],
                manifest_url=manifest_url, published_at=timestamp(now))))  # fmt: skip

        await self.units_of_work().run(work)

    async def correct(self, staff: Staff, document_id: str, number: int, text: str) -> Document:
        """Replace a page's text; the OCR and every earlier correction are kept."""
        document = await self.document_for_staff(staff, document_id)
        page = await self._page(document_id, number)
        text = "\n".join(" ".join(nfc(line).split()) for line in text.splitlines()).strip()
        if len(text) > 200_000:
            raise InvalidInput("a page's text may have at most 200,000 characters")
        now = datetime.now(UTC)
        layer = corrected_layer(page_layer_lines(page), text)

        async def work(uow: LocalDocumentsUnitOfWork) -> None:
            await uow.documents.correct_page(
                page["_id"], text, [(w.text, w.box) for w in layer.words], staff.subject, now, page_text(page)
            )
            pages = await uow.documents.pages_of(document_id)
            uow.emit(self._event(document_id, events.LocalDocumentPageCorrected(
                document_id=document_id, library_id=document["library_id"], page=number, corrected_by=staff.subject,
                words=document_words(pages), corrected_at=timestamp(now))))  # fmt: skip

        await self.units_of_work().run(work)
        return {"page": number, "text": text, "corrected_by": staff.subject, "corrected_at": now}

    async def retry_ocr(self, staff: Staff, document_id: str, number: int) -> None:
        """A page whose OCR failed (dead-lettered) is queued again, with a new request for the worker pool."""
        await self.document_for_staff(staff, document_id)
        await self._page(document_id, number)
        now = datetime.now(UTC)

        async def work(uow: LocalDocumentsUnitOfWork) -> None:
            page = await uow.documents.requeue_failed(page_id(document_id, number), now)
            if page is None:
                raise PageNotFailed(f"page {number} of {document_id} has not failed; nothing to retry")
            uow.emit(OutboundEvent(topic=OCR_REQUESTS.name, key=page["_id"], subject=document_id,
                               payload=ocr_requests_pb2.RecognisePage(
                                   document_id=document_id, page=number, image_key=page["image_key"],
                                   image_sha256=page["sha256"], languages=self.ocr_languages)))  # fmt: skip

        await self.units_of_work().run(work)

    async def corrections(self, staff: Staff, document_id: str, number: int) -> list[Document]:
        await self.document_for_staff(staff, document_id)
        return await self.reads.corrections_of(document_id, number)

    async def progress(self, document: Document) -> Progress:
        return Progress(
            pages=document["page_count"],
            recognised=document.get("pages_recognised", 0),
            failed=document.get("pages_failed", 0),
            corrected=document.get("pages_corrected", 0),
            published=bool(document.get("published")),
        )

    # — readers: who may see what —

    async def readable(self, document_id: str, viewer: Viewer) -> Document:
        """The document if this viewer may read it: open and published for everyone; borrowers see theirs
        (the token was checked at the edge); staff use their own routes."""
        document = await self.reads.document(document_id)
        if document is None or not document.get("published"):
            raise DocumentNotFound(f"no published local document {document_id}")
        if viewer.watermark is None and document["access"] != Access.OPEN.value:
            raise NotOpen(f"{document_id} is read online only, with a loan")
        return document

    async def _page(self, document_id: str, number: int) -> Document:
        page = await self.reads.page(document_id, number)
        if page is None:
            raise ResourceNotFound(f"{document_id} has no page {number}")
        return page

    async def pages(self, document_id: str) -> list[Document]:
        return await self.reads.pages_of(document_id)

    async def page(self, document_id: str, number: int) -> Document:
        return await self._page(document_id, number)

    async def image(
        self, document_id: str, number: int, parts: tuple[str, str, str, str], viewer: Viewer
    ) -> tuple[bytes, str, str]:
        """One IIIF image of a page: (bytes, media type, canonical path)."""
        page = await self._page(document_id, number)
        limits = iiif.limits_for(page["width"], page["height"], restricted_width=viewer.restricted_width)
        request = iiif.parse_request(*parts, page["width"], page["height"], limits)
        canonical = request.canonical(page["width"], page["height"])
        mark = hashlib.sha256((viewer.watermark or "").encode()).hexdigest()[:12]
        key = (page["sha256"], canonical, mark)
        image = self._images.get(key)
        if image is None:
            master = await self.cache.file(page["image_key"])
            image = await asyncio.to_thread(render_request, master, request, viewer.watermark)
            self._images[key] = image
        return image, request.media_type, canonical

    async def info(self, document_id: str, number: int, service_id: str, viewer: Viewer) -> Document:
        page = await self._page(document_id, number)
        limits = iiif.limits_for(page["width"], page["height"], restricted_width=viewer.restricted_width)
        return iiif.image_info(service_id, page["width"], page["height"], limits)

    async def manifest(self, document: Document, base: str) -> Document:
        """The Presentation 3.0 manifest; ``base`` is where this viewer's IIIF routes for the document live."""
        pages = await self.reads.pages_of(document["_id"])
        canvases = [
            iiif.CanvasPage(
                page["page"],
                page["width"],
                page["height"],
                f"{base}/{page['page']}",
                hocr_url=f"{base}/{page['page']}/hocr" if page["ocr"].get("hocr_key") else None,
                annotations_url=f"{base}/{page['page']}/annotations",
            )
            for page in pages
        ]
        statement = (
            ("Tài liệu đọc trực tuyến; mỗi ảnh mang dấu của người mượn.", "Read online; each image names its borrower.")
            if document["access"] != Access.OPEN.value
            else None
        )
        summary = document["description"].get("description", "")
        return iiif.manifest(
            f"{base}/manifest.json", document["title"], canvases, document["description"],
            summary=summary, required_statement=statement,
        )  # fmt: skip

    async def annotations(self, document_id: str, number: int, base: str) -> Document:
        page = await self._page(document_id, number)
        layer = page_layer_lines(page) if not page.get("corrected") else None
        lines = [(line.text, line.box) for line in layer.lines] if layer else [
            (page_text(page), (0, 0, page["width"], page["height"]))]  # fmt: skip
        return iiif.text_annotations(f"{base}/{number}/annotations", f"{base}/canvas/{number}", lines)

    async def hocr(self, document_id: str, number: int) -> bytes:
        page = await self._page(document_id, number)
        key = page["ocr"].get("hocr_key")
        if not key:
            raise ResourceNotFound(f"page {number} has no OCR text yet")
        return await asyncio.to_thread((await self.cache.file(key)).read_bytes)

    async def search(self, document_id: str, query: str) -> list[Document]:
        """Hits in the document's text, diacritics optional, each with its page and the boxes to highlight."""
        pages = await self.reads.pages_of(document_id)
        passages = [Passage(f"page/{p['page']}", "text/plain", page_text(p), f"page={p['page']}") for p in pages]
        found = await asyncio.to_thread(search, passages, query)
        by_number = {p["page"]: p for p in pages}
        boxes: dict[int, list[list[int]]] = {}
        for hit in found:
            number = int(hit["locations"]["fragments"][0].removeprefix("page="))
            hit["page"] = number
            if number not in boxes:
                boxes[number] = [list(box) for box in matching_boxes(page_layer(by_number[number]), query)]
            hit["boxes"] = boxes[number]
        return found


def page_layer_lines(page: Document) -> TextLayer:
    """The OCR layer of a page with its lines (stored as lines for annotations, words for highlighting)."""
    ocr = page.get("ocr") or {}
    words = [Word(text, (x, y, w, h)) for text, x, y, w, h in ocr.get("words", [])]
    lines = []
    for text, x, y, w, h in ocr.get("lines", []):
        inside = tuple(w_ for w_ in words if y <= w_.box[1] + w_.box[3] // 2 <= y + h and x <= w_.box[0] <= x + w)
        lines.append(Line(inside or (Word(text, (x, y, w, h)),)))
    return TextLayer(tuple(lines))
