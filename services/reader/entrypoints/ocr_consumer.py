"""The OCR worker pool's consumer group: one ``RecognisePage`` per message, retried and dead-lettered by the kit.

The recorded text joins the consumer's transaction (the message is marked handled in the same commit)."""

from __future__ import annotations

from collections.abc import Callable

from pymongo.asynchronous.client_session import AsyncClientSession

from reader.service_layer.local_document_ports import LocalDocumentsUnitOfWork
from reader.service_layer.ocr import PageRecognition
from sachso.events.v1 import ocr_requests_pb2
from sachso.kit.consumer import HandlerRegistry
from sachso.kit.events import ReceivedEvent
from sachso.kit.topics import OCR_REQUESTS

OCR_GROUP = "reader-ocr"
Event = ReceivedEvent[ocr_requests_pb2.RecognisePage]


class OcrHandlers:
    def __init__(
        self, recognition: PageRecognition, joined: Callable[[AsyncClientSession], LocalDocumentsUnitOfWork]
    ) -> None:
        self.recognition = recognition
        self.joined = joined

    async def prepare(self, event: Event) -> None:
        await self.recognition.prepare(event.payload)

    async def record(self, event: Event, session: AsyncClientSession) -> None:
        async def work(uow: LocalDocumentsUnitOfWork) -> None:
            await self.recognition.record(event.payload, uow)

        await self.joined(session).run(work)

    async def dead_lettered(self, event: Event, error: str) -> None:
        await self.recognition.dead_lettered(event.payload, error)


def ocr_consumers(handlers: OcrHandlers) -> HandlerRegistry:
    registry = HandlerRegistry(OCR_GROUP, [OCR_REQUESTS.name])
    registry.register(
        ocr_requests_pb2.RecognisePage,
        handlers.record,
        prepare=handlers.prepare,
        dead_lettered=handlers.dead_lettered,
    )
    return registry
