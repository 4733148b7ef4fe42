"""What notify does for each event it consumes. One handler per event type, registered in entrypoints."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from notify.adapters.inbox_repository import MongoInbox
from notify.domain import inbox
from sachso.events.v1 import lending_events_pb2
from sachso.kit.events import ReceivedEvent


class NotifyHandlers:
    def __init__(self, inbox_repository: MongoInbox) -> None:
        self.inbox = inbox_repository

    async def patron_approved(self, event: ReceivedEvent, session: AsyncClientSession) -> None:
        """A librarian approved a card: tell the patron in her inbox."""
        approved = event.payload
        assert isinstance(approved, lending_events_pb2.PatronApproved)
        message = inbox.card_approved(
            message_id=f"{event.id}:inbox",
            patron_id=approved.patron_id,
            display_name=approved.display_name,
            card_number=approved.card_number,
            language=inbox.Language.parse(approved.preferred_language),
            at=event.time or approved.approved_at.ToDatetime(),
        )
        await self.inbox.add(message, session)
