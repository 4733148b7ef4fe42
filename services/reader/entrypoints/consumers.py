"""Reader's consumer group: ended loans and blocked cards stop their streaming at once; opened titles stream
without a loan."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pymongo.asynchronous.client_session import AsyncClientSession

from reader.adapters.open_publications import OpenPublications
from reader.service_layer.revocations import record_loan_ended, record_patron_block
from reader.service_layer.unit_of_work import ReaderUnitOfWork
from sachso.events.v1 import lending_events_pb2
from sachso.kit.consumer import HandlerRegistry
from sachso.kit.events import ReceivedEvent
from sachso.kit.topics import LENDING_EVENTS

GROUP = "reader"
# A unit of work that joins the consumer's transaction (the one recording the event as handled).
JoinedUnitOfWork = Callable[[AsyncClientSession], ReaderUnitOfWork]


class ReaderHandlers:
    def __init__(self, joined: JoinedUnitOfWork, open_publications: OpenPublications | None = None) -> None:
        self.joined = joined
        self.open_publications = open_publications

    async def title_access_changed(
        self, event: ReceivedEvent[lending_events_pb2.TitleAccessChanged], session: AsyncClientSession
    ) -> None:
        """Staff opened a title to everyone (or closed it): its publication streams without a loan (or stops)."""
        if self.open_publications is not None:
            payload = event.payload
            await self.open_publications.record(
                payload.publication_id, payload.open, payload.changed_at.ToDatetime(), session
            )

    async def _loan_ended(self, loan_id: str, session: AsyncClientSession) -> None:
        now = datetime.now(UTC)
        await self.joined(session).run(lambda uow: record_loan_ended(uow, loan_id, now))

    async def loan_returned(
        self, event: ReceivedEvent[lending_events_pb2.LoanReturned], session: AsyncClientSession
    ) -> None:
        await self._loan_ended(event.payload.loan_id, session)

    async def loan_expired(
        self, event: ReceivedEvent[lending_events_pb2.LoanExpired], session: AsyncClientSession
    ) -> None:
        await self._loan_ended(event.payload.loan_id, session)

    async def patron_blocked(
        self, event: ReceivedEvent[lending_events_pb2.PatronBlocked], session: AsyncClientSession
    ) -> None:
        patron_id, at = event.payload.patron_id, event.payload.blocked_at.ToDatetime()
        await self.joined(session).run(lambda uow: record_patron_block(uow, patron_id, True, at))

    async def patron_unblocked(
        self, event: ReceivedEvent[lending_events_pb2.PatronUnblocked], session: AsyncClientSession
    ) -> None:
        patron_id, at = event.payload.patron_id, event.payload.unblocked_at.ToDatetime()
        await self.joined(session).run(lambda uow: record_patron_block(uow, patron_id, False, at))


def reader_consumers(handlers: ReaderHandlers) -> HandlerRegistry:
    registry = HandlerRegistry(GROUP, [LENDING_EVENTS.name])
    registry.register(lending_events_pb2.LoanReturned, handlers.loan_returned)
    registry.register(lending_events_pb2.LoanExpired, handlers.loan_expired)
    registry.register(lending_events_pb2.PatronBlocked, handlers.patron_blocked)
    registry.register(lending_events_pb2.PatronUnblocked, handlers.patron_unblocked)
    registry.register(lending_events_pb2.TitleAccessChanged, handlers.title_access_changed)
    return registry
