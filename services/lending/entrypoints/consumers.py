"""Lending's consumer group: publications and published local documents become titles; licence returns through
LSD return loans; local documents' steps are counted for the digitisation report."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from lending.entrypoints.local_document_consumers import LocalDocumentHandlers
from lending.errors import LoanNotActive, LoanNotFound
from lending.service_layer.catalogue import Catalogue, TitleMetadata
from lending.service_layer.circulation import Circulation
from sachso.events.v1 import drm_events_pb2, lending_events_pb2, reader_events_pb2
from sachso.kit.consumer import HandlerRegistry
from sachso.kit.events import ReceivedEvent
from sachso.kit.outbox import Outbox
from sachso.kit.topics import DRM_EVENTS, LOCAL_DOCUMENT_EVENTS, READER_EVENTS

GROUP = "lending"


class LendingHandlers:
    def __init__(self, catalogue: Catalogue, circulation: Circulation, outbox: Outbox) -> None:
        self.catalogue = catalogue
        self.circulation = circulation
        self.outbox = outbox

    async def _record(
        self,
        publication: reader_events_pb2.PublicationIngested | reader_events_pb2.PublicationUpdated,
        session: AsyncClientSession,
    ) -> None:
        await self.catalogue.record_publication_in(  # same transaction as the handled-event marker
            session,
            publication.publication_id,
            TitleMetadata.from_publication(publication.metadata),
            publisher_id=publication.publisher_id,
            readable=True,
            media_type=publication.original.media_type,
        )

    async def publication_ingested(
        self, event: ReceivedEvent[reader_events_pb2.PublicationIngested], session: AsyncClientSession
    ) -> None:
        await self._record(event.payload, session)

    async def publication_updated(
        self, event: ReceivedEvent[reader_events_pb2.PublicationUpdated], session: AsyncClientSession
    ) -> None:
        await self._record(event.payload, session)

    async def publication_withdrawn(
        self, event: ReceivedEvent[reader_events_pb2.PublicationWithdrawn], session: AsyncClientSession
    ) -> None:
        await self.catalogue.withdraw_publication_in(session, event.payload.publication_id)

    async def license_returned(
        self, event: ReceivedEvent[drm_events_pb2.LicenseReturned], session: AsyncClientSession
    ) -> None:
        """A reading app returned the licence through its status document: the loan ends here too.

        The loan may have ended already (returned on the web, expired): then there is nothing to do, so a
        duplicate or late event has one effect. The return runs in its own transaction; it is idempotent, so
        a crash between it and the handled-event marker only replays a no-op.
        """
        try:
            await self.circulation.return_loan(
                event.payload.loan_id, channel=lending_events_pb2.RETURN_CHANNEL_LICENSE_STATUS
            )
        except (LoanNotFound, LoanNotActive):
            return  # unknown or already ended loan


def lending_consumers(handlers: LendingHandlers, local_documents: LocalDocumentHandlers) -> HandlerRegistry:
    registry = HandlerRegistry(GROUP, [READER_EVENTS.name, DRM_EVENTS.name, LOCAL_DOCUMENT_EVENTS.name])
    registry.register(reader_events_pb2.PublicationIngested, handlers.publication_ingested)
    registry.register(reader_events_pb2.PublicationUpdated, handlers.publication_updated)
    registry.register(reader_events_pb2.PublicationWithdrawn, handlers.publication_withdrawn)
    registry.register(drm_events_pb2.LicenseReturned, handlers.license_returned)
    local_documents.register(registry)
    return registry
