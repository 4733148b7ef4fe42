"""Where scanned local documents are kept in MongoDB: one small repository per collection, named methods only.

``local_documents`` (one per document: owner, description, access, counters), ``local_document_pages`` (one per
page: its image and its OCR text layer), ``local_document_corrections`` (every staff correction, who and when).
Every write takes the caller's session, so a use case commits its writes and events together (the outbox).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from reader.domain.local_documents import OcrState
from reader.service_layer.local_document_ports import (
    LocalDocumentRecords,
    LocalDocumentsUnitOfWork,
    UnitOfWorkFactory,
)
from sachso.kit.mongo_unit_of_work import MongoUnitOfWork
from sachso.kit.outbox import Outbox

Document = dict[str, Any]
Box = tuple[int, int, int, int]


class LocalDocumentRepository:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.documents = database["local_documents"]
        self.pages = database["local_document_pages"]
        self.corrections = database["local_document_corrections"]

    async def ensure_indexes(self) -> None:
        await self.documents.create_index([("library_id", ASCENDING), ("created_at", ASCENDING)])
        await self.pages.create_index([("document_id", ASCENDING), ("page", ASCENDING)], unique=True)
        await self.corrections.create_index([("document_id", ASCENDING), ("page", ASCENDING), ("corrected_at", 1)])

    async def add(self, document: Document, pages: list[Document], session: AsyncClientSession) -> None:
        await self.documents.insert_one(document, session=session)
        await self.pages.insert_many(pages, session=session, ordered=True)

    async def document(self, document_id: str, session: AsyncClientSession | None = None) -> Document | None:
        return await self.documents.find_one({"_id": document_id}, session=session)

    async def documents_of(self, library_id: str, session: AsyncClientSession | None = None) -> list[Document]:
        cursor = self.documents.find({"library_id": library_id}, session=session).sort("created_at", -1)
        return [document async for document in cursor]

    async def pages_of(self, document_id: str, session: AsyncClientSession | None = None) -> list[Document]:
        cursor = self.pages.find({"document_id": document_id}, session=session).sort("page", ASCENDING)
        return [page async for page in cursor]

    async def page(self, document_id: str, number: int, session: AsyncClientSession | None = None) -> Document | None:
        return await self.pages.find_one({"document_id": document_id, "page": number}, session=session)

    async def record_recognition(
        self,
        page_id: str,
        image_sha256: str,
        *,
        hocr_key: str,
        text: str,
        words: list[tuple[str, Box]],
        lines: list[tuple[str, Box]],
        recognised_at: datetime,
        session: AsyncClientSession,
    ) -> Document | None:
        """Store a page's text layer once: the page document if it changed now, None if it was already done
        (or its image changed since the request), so counters move exactly once per page."""
        page = await self.pages.find_one_and_update(
            {"_id": page_id, "sha256": image_sha256, "ocr.state": {"$ne": OcrState.DONE.value}},
            {"$set": {"ocr": {"state": OcrState.DONE.value, "hocr_key": hocr_key, "text": text,
                              "words": [[w, *box] for w, box in words], "lines": [[t, *box] for t, box in lines],
                              "recognised_at": recognised_at}}},
            session=session,
        )  # fmt: skip
        if page is None:
            return None
        await self.documents.update_one(
            {"_id": page["document_id"]}, {"$inc": {"pages_recognised": 1}}, session=session
        )
        return page

    async def correct_page(
        self,
        page_id: str,
        text: str,
        words: list[tuple[str, Box]],
        by: str,
        at: datetime,
        previous: str,
        session: AsyncClientSession,
    ) -> bool:
        """Keep the correction for the record and make it the page's text; True when the page was never
        corrected before (the document's corrected-pages counter moves once per page)."""
        page = await self.pages.find_one_and_update(
            {"_id": page_id},
            {"$set": {"corrected": {"text": text, "by": by, "at": at, "words": [[w, *box] for w, box in words]}}},
            session=session,
        )
        assert page is not None
        await self.corrections.insert_one(
            {"document_id": page["document_id"], "page": page["page"], "text": text, "previous": previous,
             "corrected_by": by, "corrected_at": at},
            session=session,
        )  # fmt: skip
        first = page.get("corrected") is None
        if first:
            await self.documents.update_one(
                {"_id": page["document_id"]}, {"$inc": {"pages_corrected": 1}}, session=session
            )
        return first

    async def corrections_of(
        self, document_id: str, number: int, session: AsyncClientSession | None = None
    ) -> list[Document]:
        cursor = self.corrections.find({"document_id": document_id, "page": number}, session=session).sort(
            "corrected_at", -1
        )
        return [correction async for correction in cursor]

    async def set_description(
        self, document_id: str, description: Document, access: str, at: datetime, session: AsyncClientSession
    ) -> None:
        await self.documents.update_one(
            {"_id": document_id},
            {"$set": {"description": description, "title": description.get("title", ""), "access": access,
                      "described_at": at}},
            session=session,
        )  # fmt: skip

    async def mark_published(self, document_id: str, at: datetime, session: AsyncClientSession) -> None:
        await self.documents.update_one(
            {"_id": document_id}, {"$set": {"published": True, "published_at": at}}, session=session
        )

    async def mark_failed(
        self, page_id: str, image_sha256: str, error: str, at: datetime, session: AsyncClientSession
    ) -> bool:
        """A page whose OCR failed every attempt (dead-lettered): shown as failed, counted once."""
        page = await self.pages.find_one_and_update(
            {"_id": page_id, "sha256": image_sha256, "ocr.state": OcrState.QUEUED.value},
            {"$set": {"ocr.state": OcrState.FAILED.value, "ocr.error": error[:500], "ocr.failed_at": at}},
            session=session,
        )
        if page is None:
            return False
        await self.documents.update_one({"_id": page["document_id"]}, {"$inc": {"pages_failed": 1}}, session=session)
        return True

    async def requeue_failed(self, page_id: str, at: datetime, session: AsyncClientSession) -> Document | None:
        """Staff retry a failed page: queued again (the page as it was, or None if it had not failed)."""
        page = await self.pages.find_one_and_update(
            {"_id": page_id, "ocr.state": OcrState.FAILED.value},
            {"$set": {"ocr": {"state": OcrState.QUEUED.value, "retried_at": at}}},
            session=session,
        )
        if page is not None:
            await self.documents.update_one(
                {"_id": page["document_id"]}, {"$inc": {"pages_failed": -1}}, session=session
            )
        return page

    async def mark_recognition_announced(self, document_id: str, session: AsyncClientSession) -> bool:
        """True exactly once per document: when its completion is first announced."""
        result = await self.documents.update_one(
            {"_id": document_id, "recognition_announced": {"$ne": True}},
            {"$set": {"recognition_announced": True}},
            session=session,
        )
        return result.modified_count == 1


class MongoLocalDocumentRecords(LocalDocumentRecords):
    """The repository bound to one unit of work's session."""

    def __init__(self, repository: LocalDocumentRepository, session: AsyncClientSession) -> None:
        self.repository = repository
        self.session = session

    async def document(self, document_id: str) -> Document | None:
        return await self.repository.document(document_id, self.session)

    async def documents_of(self, library_id: str) -> list[Document]:
        return await self.repository.documents_of(library_id, self.session)

    async def pages_of(self, document_id: str) -> list[Document]:
        return await self.repository.pages_of(document_id, self.session)

    async def page(self, document_id: str, number: int) -> Document | None:
        return await self.repository.page(document_id, number, self.session)

    async def corrections_of(self, document_id: str, number: int) -> list[Document]:
        return await self.repository.corrections_of(document_id, number, self.session)

    async def add(self, document: Document, pages: list[Document]) -> None:
        await self.repository.add(document, pages, self.session)

    async def record_recognition(
        self, page_id: str, image_sha256: str, *, hocr_key: str, text: str, words: list[tuple[str, Box]],
        lines: list[tuple[str, Box]], recognised_at: datetime,
    ) -> Document | None:  # fmt: skip
        return await self.repository.record_recognition(
            page_id, image_sha256, hocr_key=hocr_key, text=text, words=words, lines=lines,
            recognised_at=recognised_at, session=self.session,
        )  # fmt: skip

    async def correct_page(
        self, page_id: str, text: str, words: list[tuple[str, Box]], by: str, at: datetime, previous: str
    ) -> bool:
        return await self.repository.correct_page(page_id, text, words, by, at, previous, self.session)

    async def set_description(self, document_id: str, description: Document, access: str, at: datetime) -> None:
        await self.repository.set_description(document_id, description, access, at, self.session)

    async def mark_published(self, document_id: str, at: datetime) -> None:
        await self.repository.mark_published(document_id, at, self.session)

    async def mark_recognition_announced(self, document_id: str) -> bool:
        return await self.repository.mark_recognition_announced(document_id, self.session)

    async def mark_failed(self, page_id: str, image_sha256: str, error: str, at: datetime) -> bool:
        return await self.repository.mark_failed(page_id, image_sha256, error, at, self.session)

    async def requeue_failed(self, page_id: str, at: datetime) -> Document | None:
        return await self.repository.requeue_failed(page_id, at, self.session)


class MongoLocalDocumentsUnitOfWork(MongoUnitOfWork, LocalDocumentsUnitOfWork):
    """One transaction over the local documents, its events in the outbox (or joined to a consumer's)."""

    def __init__(
        self, repository: LocalDocumentRepository, outbox: Outbox, *, session: AsyncClientSession | None = None
    ) -> None:
        super().__init__(outbox, session=session)
        self.repository = repository

    def _bind(self, session: AsyncClientSession) -> None:
        self.documents = MongoLocalDocumentRecords(self.repository, session)


def local_documents_units_of_work(repository: LocalDocumentRepository, outbox: Outbox) -> UnitOfWorkFactory:
    return lambda: MongoLocalDocumentsUnitOfWork(repository, outbox)
