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
from typing import Any

from botocore.exceptions import ClientError
from pymongo.asynchronous.client_session import AsyncClientSession

from reader.adapters.local_document_repository import LocalDocumentRepository
from reader.adapters.storage import BookCache, ObjectStore
from reader.adapters.tesseract import Tesseract
from reader.domain.hocr import parse_hocr
from reader.domain.local_documents import OcrState, page_id
from reader.service_layer.local_documents import document_words, timestamp
from sachso.events.v1 import local_document_events_pb2 as events
from sachso.events.v1 import ocr_requests_pb2
from sachso.kit.events import OutboundEvent, ReceivedEvent
from sachso.kit.outbox import Outbox
from sachso.kit.topics import LOCAL_DOCUMENT_EVENTS

Document = dict[str, Any]


def hocr_key(request: ocr_requests_pb2.RecognisePage) -> str:
    return f"local-documents/{request.document_id}/ocr/{request.page:05d}-{request.image_sha256[:16]}.hocr"


class PageRecognition:
    def __init__(
        self,
        repository: LocalDocumentRepository,
        store: ObjectStore,
        cache: BookCache,
        outbox: Outbox,
        tesseract: Tesseract,
    ) -> None:
        self.repository = repository
        self.store = store
        self.cache = cache
        self.outbox = outbox
        self.tesseract = tesseract
        self.recognitions = 0  # pages this process ran Tesseract on (tests and metrics)

    async def _has_hocr(self, key: str) -> bool:
        try:
            await self.store.client.head_object(Bucket=self.store.bucket, Key=key)
        except ClientError:
            return False
        return True

    async def prepare(self, event: ReceivedEvent[ocr_requests_pb2.RecognisePage]) -> None:
        """Run Tesseract on the page unless it is done or its hOCR is already stored."""
        request = event.payload
        page = await self.repository.page(request.document_id, request.page)
        if page is None or page["sha256"] != request.image_sha256 or page["ocr"]["state"] == OcrState.DONE.value:
            return
        key = hocr_key(request)
        if await self._has_hocr(key):
            return
        image = await self.cache.file(request.image_key)
        hocr = await self.tesseract.hocr(image, request.languages or "vie")
        self.recognitions += 1
        await self.store.client.put_object(
            Bucket=self.store.bucket, Key=key, Body=hocr, ContentType="text/vnd.hocr+html; charset=utf-8"
        )

    async def record(self, event: ReceivedEvent[ocr_requests_pb2.RecognisePage], session: AsyncClientSession) -> None:
        request = event.payload
        page = await self.repository.page(request.document_id, request.page)
        if page is None or page["sha256"] != request.image_sha256 or page["ocr"]["state"] == OcrState.DONE.value:
            return  # deleted, replaced, or done already: nothing to do, once
        key = hocr_key(request)
        response = await self.store.client.get_object(Bucket=self.store.bucket, Key=key)
        async with response["Body"] as body:
            layer = await asyncio.to_thread(parse_hocr, bytes(await body.read()))
        now = datetime.now(UTC)
        changed = await self.repository.record_recognition(
            page_id(request.document_id, request.page),
            request.image_sha256,
            hocr_key=key,
            text=layer.text,
            words=[(word.text, word.box) for word in layer.words],
            lines=[(line.text, line.box) for line in layer.lines],
            recognised_at=now,
            session=session,
        )
        if changed is None:
            return
        document = await self.repository.document(request.document_id, session)
        assert document is not None
        if document["pages_recognised"] < document["page_count"]:
            return
        if not await self.repository.mark_recognition_announced(request.document_id, session):
            return
        pages = await self.repository.pages_of(request.document_id, session)
        announced = events.LocalDocumentRecognised(
            document_id=request.document_id, library_id=document["library_id"], page_count=document["page_count"],
            words=document_words(pages), recognised_at=timestamp(now),
        )  # fmt: skip
        await self.outbox.add(
            [OutboundEvent(topic=LOCAL_DOCUMENT_EVENTS.name, key=request.document_id, subject=request.document_id,
                           payload=announced)],
            session,
        )  # fmt: skip
