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

    async def documents_of(self, library_id: str) -> list[Document]:
        cursor = self.documents.find({"library_id": library_id}).sort("created_at", -1)
        return [document async for document in cursor]

    async def pages_of(self, document_id: str, session: AsyncClientSession | None = None) -> list[Document]:
        cursor = self.pages.find({"document_id": document_id}, session=session).sort("page", ASCENDING)
        return [page async for page in cursor]

    async def page(self, document_id: str, number: int) -> Document | None:
        return await self.pages.find_one({"document_id": document_id, "page": number})

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

    async def corrections_of(self, document_id: str, number: int) -> list[Document]:
        cursor = self.corrections.find({"document_id": document_id, "page": number}).sort("corrected_at", -1)
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

    async def mark_recognition_announced(self, document_id: str, session: AsyncClientSession) -> bool:
        """True exactly once per document: when its completion is first announced."""
        result = await self.documents.update_one(
            {"_id": document_id, "recognition_announced": {"$ne": True}},
            {"$set": {"recognition_announced": True}},
            session=session,
        )
        return result.modified_count == 1
