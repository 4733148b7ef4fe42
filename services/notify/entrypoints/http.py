"""The inbox REST API: a patron lists and marks her own messages, nobody else's."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from notify.adapters.inbox_repository import MongoInbox
from notify.errors import NotifyError
from sachso.kit.auth import Principal, Role
from sachso.kit.http import require_roles


class MessageNotFound(NotifyError):
    status = 404
    problem = "inbox-message-not-found"
    title = "No such message in your inbox"


class InboxMessageOut(BaseModel):
    id: str
    kind: str
    language: str
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None


Patron = Annotated[Principal, Depends(require_roles(Role.PATRON))]


def inbox_router(inbox: MongoInbox) -> APIRouter:
    router = APIRouter(prefix="/v1/inbox", tags=["inbox"])

    @router.get("", summary="My messages, newest first")
    async def list_messages(
        patron: Patron,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        unread: Annotated[bool, Query(description="Only messages not read yet")] = False,
    ) -> list[InboxMessageOut]:
        messages = await inbox.list_for(patron.subject, limit=limit, unread_only=unread)
        return [InboxMessageOut.model_validate(message, from_attributes=True) for message in messages]

    @router.post("/{message_id}/read", status_code=204, summary="Mark one of my messages read")
    async def mark_read(patron: Patron, message_id: str) -> Response:
        if not await inbox.mark_read(patron.subject, message_id):
            raise MessageNotFound(f"you have no message {message_id}")
        return Response(status_code=204)

    return router
