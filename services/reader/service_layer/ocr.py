"""The OCR worker: one ``RecognisePage`` message → one page's text layer, exactly once in effect.

Recognition (seconds of CPU) happens in :meth:`PageRecognition.prepare`, before the consumer's transaction opens;
its hOCR is written to S3 under a key fixed by the page and its image digest, so doing it twice writes the same
object. :meth:`PageRecognition.record` then stores the text in the transaction that marks the message handled,
with a conditional update: a page already done (a redelivery after a crash, a second worker) changes nothing,
and the document's counter moves once per page. When the last page is done, ``LocalDocumentRecognised`` goes out
once, with the words the catalogue indexes.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from reader.domain.hocr import parse_hocr
from reader.domain.local_documents import OcrState, page_id
from reader.service_layer.local_document_ports import (
    LocalDocumentReads,
    LocalDocumentsUnitOfWork,
    ObjectStorage,
    StoredFiles,
    TextRecognition,
    UnitOfWorkFactory,
)
from reader.service_layer.local_documents import document_words, timestamp
from sachso.events.v1 import local_document_events_pb2 as events
from sachso.events.v1 import ocr_requests_pb2
from sachso.kit.events import OutboundEvent
from sachso.kit.topics import LOCAL_DOCUMENT_EVENTS

Request = ocr_requests_pb2.RecognisePage


def hocr_key(request: Request) -> str:
    return f"local-documents/{request.document_id}/ocr/{request.page:05d}-{request.image_sha256[:16]}.hocr"


class PageRecognition:
    def __init__(
        self,
        reads: LocalDocumentReads,
        units_of_work: UnitOfWorkFactory,
        store: ObjectStorage,
        files: StoredFiles,
        recogniser: TextRecognition,
    ) -> None:
        self.reads = reads
        self.units_of_work = units_of_work
        self.store = store
        self.files = files
        self.recogniser = recogniser
        self.recognitions = 0  # pages this process ran Tesseract on (tests and metrics)

    async def prepare(self, request: Request) -> None:
        """Run Tesseract on the page unless it is done or its hOCR is already stored."""
        page = await self.reads.page(request.document_id, request.page)
        if page is None or page["sha256"] != request.image_sha256 or page["ocr"]["state"] == OcrState.DONE.value:
            return
        key = hocr_key(request)
        if await self.store.exists(key):
            return
        image = await self.files.file(request.image_key)
        hocr = await self.recogniser.hocr(image, request.languages or "vie")
        self.recognitions += 1
        await self.store.put_bytes(key, hocr, "text/vnd.hocr+html; charset=utf-8")

    async def record(self, request: Request, uow: LocalDocumentsUnitOfWork) -> None:
        """Store the page's text in ``uow`` (the consumer's transaction, which also marks the message handled)."""
        page = await uow.documents.page(request.document_id, request.page)
        if page is None or page["sha256"] != request.image_sha256 or page["ocr"]["state"] == OcrState.DONE.value:
            return  # deleted, replaced, or done already: nothing to do, once
        key = hocr_key(request)
        layer = await asyncio.to_thread(parse_hocr, await self.store.get_bytes(key))
        now = datetime.now(UTC)
        changed = await uow.documents.record_recognition(
            page_id(request.document_id, request.page),
            request.image_sha256,
            hocr_key=key,
            text=layer.text,
            words=[(word.text, word.box) for word in layer.words],
            lines=[(line.text, line.box) for line in layer.lines],
            recognised_at=now,
        )
        if changed is None:
            return
        document = await uow.documents.document(request.document_id)
        assert document is not None
        if document["pages_recognised"] < document["page_count"]:
            return
        if not await uow.documents.mark_recognition_announced(request.document_id):
            return
        pages = await uow.documents.pages_of(request.document_id)
        announced = events.LocalDocumentRecognised(
            document_id=request.document_id, library_id=document["library_id"], page_count=document["page_count"],
            words=document_words(pages), recognised_at=timestamp(now),
        )  # fmt: skip
        uow.emit(OutboundEvent(topic=LOCAL_DOCUMENT_EVENTS.name, key=request.document_id,
                               subject=request.document_id, payload=announced))  # fmt: skip

    async def dead_lettered(self, request: Request, error: str) -> None:
        """Every attempt failed and the request went to the dead-letter topic: the page shows as failed, with the
        error, until staff retry it (:meth:`reader.service_layer.local_documents.LocalDocuments.retry_ocr`)."""

        async def work(uow: LocalDocumentsUnitOfWork) -> None:
            await uow.documents.mark_failed(
                page_id(request.document_id, request.page), request.image_sha256, error, datetime.now(UTC)
            )

        await self.units_of_work().run(work)
