"""DRM's consumer group: publications to protect, and the loans licences follow."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pymongo.asynchronous.client_session import AsyncClientSession

from drm.service_layer.licences import Licences
from drm.service_layer.protection import Protection
from sachso.events.v1 import lending_events_pb2, reader_events_pb2
from sachso.kit.consumer import HandlerRegistry
from sachso.kit.events import OutboundEvent, ReceivedEvent
from sachso.kit.outbox import Emit, Outbox
from sachso.kit.topics import LENDING_EVENTS, READER_EVENTS

GROUP = "drm"


class DrmHandlers:
    def __init__(self, protection: Protection, licences: Licences, outbox: Outbox) -> None:
        self.protection = protection
        self.licences = licences
        self.outbox = outbox

    async def _with_events(self, session: AsyncClientSession, work: Callable[[Emit], Awaitable[None]]) -> None:
        emitted: list[OutboundEvent] = []
        await work(emitted.append)
        await self.outbox.add(emitted, session)  # in the consumer's transaction, with the handled-event marker

    async def publication_ingested(self, event: ReceivedEvent, session: AsyncClientSession) -> None:
        payload = event.payload
        assert isinstance(payload, reader_events_pb2.PublicationIngested)
        await self._with_events(
            session,
            lambda emit: self.protection.protect(
                payload.publication_id, payload.metadata.title, payload.original, session, emit
            ),
        )

    async def publication_updated(self, event: ReceivedEvent, session: AsyncClientSession) -> None:
        payload = event.payload
        assert isinstance(payload, reader_events_pb2.PublicationUpdated)
        await self._with_events(
            session,
            lambda emit: self.protection.protect(
                payload.publication_id, payload.metadata.title, payload.original, session, emit
            ),
        )

    async def loan_created(self, event: ReceivedEvent, session: AsyncClientSession) -> None:
        loan = event.payload
        assert isinstance(loan, lending_events_pb2.LoanCreated)
        await self.licences.loan_created(
            loan.loan_id,
            loan.patron_id,
            loan.publication_id,
            loan.starts_at.ToDatetime(),
            loan.due_at.ToDatetime(),
            session,
            online_only=loan.online_only,
        )

    async def loan_renewed(self, event: ReceivedEvent, session: AsyncClientSession) -> None:
        loan = event.payload
        assert isinstance(loan, lending_events_pb2.LoanRenewed)
        await self.licences.loan_renewed(loan.loan_id, loan.due_at.ToDatetime(), session)

    async def loan_returned(self, event: ReceivedEvent, session: AsyncClientSession) -> None:
        loan = event.payload
        assert isinstance(loan, lending_events_pb2.LoanReturned)
        await self._with_events(session, lambda emit: self.licences.loan_ended(loan.loan_id, True, session, emit))

    async def loan_expired(self, event: ReceivedEvent, session: AsyncClientSession) -> None:
        loan = event.payload
        assert isinstance(loan, lending_events_pb2.LoanExpired)
        await self._with_events(session, lambda emit: self.licences.loan_ended(loan.loan_id, False, session, emit))

    async def patron_blocked(self, event: ReceivedEvent, session: AsyncClientSession) -> None:
        payload = event.payload
        assert isinstance(payload, lending_events_pb2.PatronBlocked)
        await self.licences.patron_blocked(payload.patron_id, True, payload.blocked_at.ToDatetime(), session)

    async def patron_unblocked(self, event: ReceivedEvent, session: AsyncClientSession) -> None:
        payload = event.payload
        assert isinstance(payload, lending_events_pb2.PatronUnblocked)
        await self.licences.patron_blocked(payload.patron_id, False, payload.unblocked_at.ToDatetime(), session)


def drm_consumers(handlers: DrmHandlers) -> HandlerRegistry:
    registry = HandlerRegistry(GROUP, [READER_EVENTS.name, LENDING_EVENTS.name])
    registry.register(reader_events_pb2.PublicationIngested, handlers.publication_ingested)
    registry.register(reader_events_pb2.PublicationUpdated, handlers.publication_updated)
    registry.register(lending_events_pb2.LoanCreated, handlers.loan_created)
    registry.register(lending_events_pb2.LoanRenewed, handlers.loan_renewed)
    registry.register(lending_events_pb2.LoanReturned, handlers.loan_returned)
    registry.register(lending_events_pb2.LoanExpired, handlers.loan_expired)
    registry.register(lending_events_pb2.PatronBlocked, handlers.patron_blocked)
    registry.register(lending_events_pb2.PatronUnblocked, handlers.patron_unblocked)
    return registry
