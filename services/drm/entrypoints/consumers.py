"""DRM's consumer group: publications to protect, scanned local documents (lent as IIIF page images, never by
LCP), and the loans licences follow.

Each handler translates the event into a use case that runs in a unit of work joined to the consumer's
transaction (which also records the event as handled), so its writes and emitted events commit with that marker.
"""

from __future__ import annotations

from collections.abc import Callable

from pymongo.asynchronous.client_session import AsyncClientSession

from drm.domain.licences import BlockChange, LoanFacts
from drm.service_layer.licences import Licences
from drm.service_layer.protection import Protection
from drm.service_layer.unit_of_work import DrmUnitOfWork
from sachso.events.v1 import lending_events_pb2 as lending
from sachso.events.v1 import local_document_events_pb2 as local_documents
from sachso.events.v1 import reader_events_pb2 as reader
from sachso.kit.consumer import HandlerRegistry
from sachso.kit.events import ReceivedEvent
from sachso.kit.topics import LENDING_EVENTS, LOCAL_DOCUMENT_EVENTS, READER_EVENTS

GROUP = "drm"

JoinedUnitOfWork = Callable[[AsyncClientSession], DrmUnitOfWork]


class DrmHandlers:
    def __init__(self, protection: Protection, licences: Licences, joined: JoinedUnitOfWork) -> None:
        self.protection = protection
        self.licences = licences
        self.joined = joined

    async def _protect(
        self, published: reader.PublicationIngested | reader.PublicationUpdated, session: AsyncClientSession
    ) -> None:
        await self.joined(session).run(
            lambda uow: self.protection.protect(uow, published.publication_id, published.metadata.title,
                                                published.original)
        )  # fmt: skip

    async def publication_ingested(
        self, event: ReceivedEvent[reader.PublicationIngested], session: AsyncClientSession
    ) -> None:
        await self._protect(event.payload, session)

    async def publication_updated(
        self, event: ReceivedEvent[reader.PublicationUpdated], session: AsyncClientSession
    ) -> None:
        await self._protect(event.payload, session)

    async def local_document_published(
        self, event: ReceivedEvent[local_documents.LocalDocumentPublished], session: AsyncClientSession
    ) -> None:
        published = event.payload
        at = published.published_at.ToDatetime()
        await self.joined(session).run(
            lambda uow: self.licences.local_document_published(uow, published.document_id, published.library_id, at)
        )

    async def loan_created(self, event: ReceivedEvent[lending.LoanCreated], session: AsyncClientSession) -> None:
        loan = event.payload
        facts = LoanFacts(
            loan.loan_id, loan.patron_id, loan.publication_id, loan.starts_at.ToDatetime(), loan.due_at.ToDatetime(),
            online_only=loan.online_only, local_document=loan.local_document,
        )  # fmt: skip
        await self.joined(session).run(lambda uow: self.licences.loan_created(uow, facts))

    async def loan_renewed(self, event: ReceivedEvent[lending.LoanRenewed], session: AsyncClientSession) -> None:
        loan = event.payload
        await self.joined(session).run(
            lambda uow: self.licences.loan_renewed(uow, loan.loan_id, loan.due_at.ToDatetime())
        )

    async def loan_returned(self, event: ReceivedEvent[lending.LoanReturned], session: AsyncClientSession) -> None:
        loan_id = event.payload.loan_id
        await self.joined(session).run(lambda uow: self.licences.loan_ended(uow, loan_id, returned=True))

    async def loan_expired(self, event: ReceivedEvent[lending.LoanExpired], session: AsyncClientSession) -> None:
        loan_id = event.payload.loan_id
        await self.joined(session).run(lambda uow: self.licences.loan_ended(uow, loan_id, returned=False))

    async def patron_blocked(self, event: ReceivedEvent[lending.PatronBlocked], session: AsyncClientSession) -> None:
        p = event.payload
        change = BlockChange(True, p.blocked_at.ToDatetime())
        await self.joined(session).run(lambda uow: self.licences.patron_blocked(uow, p.patron_id, change))

    async def patron_unblocked(
        self, event: ReceivedEvent[lending.PatronUnblocked], session: AsyncClientSession
    ) -> None:
        p = event.payload
        change = BlockChange(False, p.unblocked_at.ToDatetime())
        await self.joined(session).run(lambda uow: self.licences.patron_blocked(uow, p.patron_id, change))


def drm_consumers(handlers: DrmHandlers) -> HandlerRegistry:
    registry = HandlerRegistry(GROUP, [READER_EVENTS.name, LENDING_EVENTS.name, LOCAL_DOCUMENT_EVENTS.name])
    registry.register(reader.PublicationIngested, handlers.publication_ingested)
    registry.register(reader.PublicationUpdated, handlers.publication_updated)
    registry.register(local_documents.LocalDocumentPublished, handlers.local_document_published)
    registry.register(lending.LoanCreated, handlers.loan_created)
    registry.register(lending.LoanRenewed, handlers.loan_renewed)
    registry.register(lending.LoanReturned, handlers.loan_returned)
    registry.register(lending.LoanExpired, handlers.loan_expired)
    registry.register(lending.PatronBlocked, handlers.patron_blocked)
    registry.register(lending.PatronUnblocked, handlers.patron_unblocked)
    return registry
