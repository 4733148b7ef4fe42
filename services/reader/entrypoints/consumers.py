"""Reader's consumer group: ended loans and blocked cards stop their streaming at once."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from reader.service_layer.revocations import Revocations
from sachso.events.v1 import lending_events_pb2
from sachso.kit.consumer import HandlerRegistry
from sachso.kit.events import ReceivedEvent
from sachso.kit.topics import LENDING_EVENTS

GROUP = "reader"


class ReaderHandlers:
    def __init__(self, revocations: Revocations) -> None:
        self.revocations = revocations

    async def loan_returned(
        self, event: ReceivedEvent[lending_events_pb2.LoanReturned], session: AsyncClientSession
    ) -> None:
        await self.revocations.record(event.payload.loan_id, session)

    async def loan_expired(
        self, event: ReceivedEvent[lending_events_pb2.LoanExpired], session: AsyncClientSession
    ) -> None:
        await self.revocations.record(event.payload.loan_id, session)

    async def patron_blocked(
        self, event: ReceivedEvent[lending_events_pb2.PatronBlocked], session: AsyncClientSession
    ) -> None:
        payload = event.payload
        await self.revocations.record_patron_block(payload.patron_id, True, payload.blocked_at.ToDatetime(), session)

    async def patron_unblocked(
        self, event: ReceivedEvent[lending_events_pb2.PatronUnblocked], session: AsyncClientSession
    ) -> None:
        payload = event.payload
        await self.revocations.record_patron_block(payload.patron_id, False, payload.unblocked_at.ToDatetime(), session)


def reader_consumers(handlers: ReaderHandlers) -> HandlerRegistry:
    registry = HandlerRegistry(GROUP, [LENDING_EVENTS.name])
    registry.register(lending_events_pb2.LoanReturned, handlers.loan_returned)
    registry.register(lending_events_pb2.LoanExpired, handlers.loan_expired)
    registry.register(lending_events_pb2.PatronBlocked, handlers.patron_blocked)
    registry.register(lending_events_pb2.PatronUnblocked, handlers.patron_unblocked)
    return registry
