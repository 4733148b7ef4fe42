"""What the local-documents use cases need from the outside, as ports: their unit of work (documents, pages and
corrections bound to one transaction, with ``emit``), a read side for the hot paths that need no transaction
(IIIF images and manifests), the object store, local copies of stored files, and the text recogniser.

Implementations: ``adapters/local_document_repository.py`` (MongoDB, the unit of work's outbox), ``adapters/
storage.py`` (S3), ``adapters/tesseract.py``; in memory: ``tests/unit/reader/fakes.py``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from sachso.kit.unit_of_work import UnitOfWork

Document = dict[str, Any]
Box = tuple[int, int, int, int]


class LocalDocumentReads(Protocol):
    """Reads outside any transaction (every one is a single document read)."""

    async def document(self, document_id: str) -> Document | None: ...

    async def documents_of(self, library_id: str) -> list[Document]: ...

    async def pages_of(self, document_id: str) -> list[Document]: ...

    async def page(self, document_id: str, number: int) -> Document | None: ...

    async def corrections_of(self, document_id: str, number: int) -> list[Document]: ...


class LocalDocumentRecords(LocalDocumentReads, Protocol):
    """Reads and writes inside a unit of work. Writes that must happen once are conditional and say if they did."""

    async def add(self, document: Document, pages: list[Document]) -> None: ...

    async def record_recognition(
        self, page_id: str, image_sha256: str, *, hocr_key: str, text: str, words: list[tuple[str, Box]],
        lines: list[tuple[str, Box]], recognised_at: datetime,
    ) -> Document | None:  # fmt: skip
        """The page if its text layer was stored now; None if it was done already (or its image changed)."""
        ...

    async def correct_page(
        self, page_id: str, text: str, words: list[tuple[str, Box]], by: str, at: datetime, previous: str
    ) -> bool: ...

    async def set_description(self, document_id: str, description: Document, access: str, at: datetime) -> None: ...

    async def mark_published(self, document_id: str, at: datetime) -> None: ...

    async def mark_recognition_announced(self, document_id: str) -> bool: ...

    async def mark_failed(self, page_id: str, image_sha256: str, error: str, at: datetime) -> bool: ...

    async def requeue_failed(self, page_id: str, at: datetime) -> Document | None: ...


class LocalDocumentsUnitOfWork(UnitOfWork, abc.ABC):
    documents: LocalDocumentRecords


UnitOfWorkFactory = Callable[[], LocalDocumentsUnitOfWork]


class ObjectStorage(Protocol):
    """The bucket: page masters, hOCR, uploads."""

    async def put_file(self, key: str, path: Path, media_type: str) -> None: ...

    async def download(self, key: str, target: Path) -> None: ...

    async def exists(self, key: str) -> bool: ...

    async def put_bytes(self, key: str, data: bytes, media_type: str) -> None: ...

    async def get_bytes(self, key: str) -> bytes: ...


class StoredFiles(Protocol):
    """Local copies of stored objects (fetched once, kept by size)."""

    async def file(self, key: str) -> Path: ...


class TextRecognition(Protocol):
    """OCR of one page image: its hOCR."""

    async def hocr(self, image: Path, languages: str) -> bytes: ...
