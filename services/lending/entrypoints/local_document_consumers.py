"""Lending's handlers for the reader's local-document events: each joins the consumer's transaction (the event is
recorded as handled in the same commit, so a redelivery has no second effect)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.protobuf.message import Message
from pymongo.asynchronous.client_session import AsyncClientSession

from lending.service_layer.local_documents import LocalDocumentCatalogue, LocalDocumentsUnitOfWork
from sachso.events.v1 import local_document_events_pb2 as doc_events
from sachso.kit.consumer import HandlerRegistry
from sachso.kit.events import ReceivedEvent

M = TypeVar("M", bound=Message)
JoinedUnitOfWork = Callable[[AsyncClientSession], LocalDocumentsUnitOfWork]


class LocalDocumentHandlers:
    def __init__(self, joined: JoinedUnitOfWork) -> None:
        self.joined = joined
        self.catalogue = LocalDocumentCatalogue()

    def _in_transaction(
        self, use_case: Callable[[LocalDocumentsUnitOfWork, M], Awaitable[None]]
    ) -> Callable[[ReceivedEvent[M], AsyncClientSession], Awaitable[None]]:
        async def handle(event: ReceivedEvent[M], session: AsyncClientSession) -> None:
            payload = event.payload

            async def work(uow: LocalDocumentsUnitOfWork) -> None:
                await use_case(uow, payload)

            await self.joined(session).run(work)

        return handle

    def register(self, registry: HandlerRegistry) -> None:
        registry.register(doc_events.LocalDocumentDigitised, self._in_transaction(self.catalogue.digitised))
        registry.register(doc_events.LocalDocumentRecognised, self._in_transaction(self.catalogue.recognised))
        registry.register(doc_events.LocalDocumentPageCorrected, self._in_transaction(self.catalogue.page_corrected))
        registry.register(doc_events.LocalDocumentDescribed, self._in_transaction(self.catalogue.described))
        registry.register(doc_events.LocalDocumentPublished, self._in_transaction(self.catalogue.published))
