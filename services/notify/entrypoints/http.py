"""Notify's REST API: the inbox (list, mark read, a live stream), notification preferences and Web Push
subscriptions. A patron only ever reaches her own: routes take her id from her token, and someone else's
message or subscription id answers 404.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse, ServerSentEvent

from notify.domain.inbox import InboxMessage
from notify.domain.notices import RULES, Channel, Language, NoticeKind
from notify.domain.preferences import Preferences, QuietHours
from notify.domain.subscriptions import Subscription
from notify.service_layer.inbox_feed import InboxFeed
from notify.service_layer.patron_settings import NotificationPreferences, PatronInbox, PushSubscriptions
from sachso.kit.auth import Principal, Role
from sachso.kit.http import require_roles

Patron = Annotated[Principal, Depends(require_roles(Role.PATRON))]


# -- inbox -------------------------------------------------------------------------------------------------------


class InboxMessageOut(BaseModel):
    id: str
    kind: str
    language: str
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None

    @classmethod
    def of(cls, message: InboxMessage) -> InboxMessageOut:
        return cls.model_validate(message, from_attributes=True)


def inbox_router(inbox: PatronInbox, feed: InboxFeed, *, ping_seconds: float = 15.0) -> APIRouter:
    router = APIRouter(prefix="/v1/inbox", tags=["inbox"])

    @router.get("", summary="My messages, newest first")
    async def list_messages(
        patron: Patron,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        unread: Annotated[bool, Query(description="Only messages not read yet")] = False,
    ) -> list[InboxMessageOut]:
        messages = await inbox.messages(patron.subject, limit=limit, unread_only=unread)
        return [InboxMessageOut.of(message) for message in messages]

    @router.get(
        "/stream",
        summary="My new messages as they arrive (Server-Sent Events)",
        description="Each event is `message` with the message as JSON and its id as the event id; reconnect with "
        "`Last-Event-ID` to get what arrived meanwhile. Comments keep the connection alive.",
        response_class=EventSourceResponse,
    )
    async def stream(
        patron: Patron, last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None
    ) -> EventSourceResponse:
        async def events() -> AsyncIterator[ServerSentEvent]:
            sent: set[str] = set()
            async with feed.subscribe(patron.subject) as queue:  # before the backlog: nothing falls in between
                yield ServerSentEvent(comment="connected", retry=3000)
                if last_event_id:
                    for message in await inbox.since(patron.subject, last_event_id):
                        sent.add(message.id)
                        yield _event(message)
                while not feed.closing.is_set():
                    fresh = await feed.next_message(queue, within=ping_seconds)
                    if fresh is not None and fresh.id not in sent:
                        yield _event(fresh)

        return EventSourceResponse(events(), ping=ping_seconds, headers={"Cache-Control": "no-store"})

    @router.post("/{message_id}/read", status_code=204, summary="Mark one of my messages read")
    async def mark_read(patron: Patron, message_id: str) -> Response:
        await inbox.mark_read(patron.subject, message_id)
        return Response(status_code=204)

    return router


def _event(message: InboxMessage) -> ServerSentEvent:
    body = InboxMessageOut.of(message).model_dump(mode="json")
    return ServerSentEvent(json.dumps(body, ensure_ascii=False), event="message", id=message.id)


# -- preferences -------------------------------------------------------------------------------------------------


class QuietHoursIO(BaseModel):
    start: time = Field(description="local time, HH:MM")
    end: time = Field(description="local time, HH:MM; before start means the next morning")


class PreferencesIn(BaseModel):
    time_zone: str = Field("Asia/Ho_Chi_Minh", description="IANA time zone of the quiet hours and of times in messages")
    quiet_hours: QuietHoursIO | None = Field(
        None, description="email and push wait until they end; the inbox never does"
    )
    language: Language | None = Field(None, description="overrides the language of the card application")
    channels: dict[NoticeKind, list[Channel]] = Field(
        default_factory=dict, description="channels per kind of notice; kinds left out keep their defaults"
    )


class KindOut(BaseModel):
    channels: list[Channel]
    allowed: list[Channel]
    urgent: bool
    fixed: bool


class PreferencesOut(BaseModel):
    time_zone: str
    quiet_hours: QuietHoursIO | None
    language: Language | None
    kinds: dict[NoticeKind, KindOut]

    @classmethod
    def of(cls, preferences: Preferences) -> PreferencesOut:
        quiet = preferences.quiet_hours
        return cls(
            time_zone=preferences.time_zone,
            quiet_hours=QuietHoursIO(start=quiet.start, end=quiet.end) if quiet else None,
            language=preferences.language,
            kinds={
                kind: KindOut(
                    channels=sorted(preferences.channels_for(kind)),
                    allowed=sorted(rules.allowed),
                    urgent=rules.urgent,
                    fixed=rules.fixed,
                )
                for kind, rules in RULES.items()
            },
        )


def preferences_router(preferences: NotificationPreferences) -> APIRouter:
    router = APIRouter(prefix="/v1/notification-preferences", tags=["preferences"])

    @router.get("", summary="How I am notified")
    async def get_preferences(patron: Patron) -> PreferencesOut:
        return PreferencesOut.of(await preferences.of(patron.subject))

    @router.put("", summary="Choose how I am notified")
    async def put_preferences(patron: Patron, chosen: PreferencesIn) -> PreferencesOut:
        quiet = chosen.quiet_hours
        quiet_hours = QuietHours(quiet.start.replace(second=0), quiet.end.replace(second=0)) if quiet else None
        wanted = Preferences(
            time_zone=chosen.time_zone,
            quiet_hours=quiet_hours,
            channels={kind: frozenset(channels) for kind, channels in chosen.channels.items()},
            language=chosen.language,
        )
        return PreferencesOut.of(await preferences.choose(patron.subject, wanted))

    return router


# -- Web Push ----------------------------------------------------------------------------------------------------


class PushKeys(BaseModel):
    p256dh: str = Field(min_length=80, max_length=100, description="base64url P-256 public key of the browser")
    auth: str = Field(min_length=16, max_length=32, description="base64url 16-byte authentication secret")


class SubscriptionIn(BaseModel):
    """What ``PushSubscription.toJSON()`` gives in the browser, and a name for the device."""

    endpoint: str = Field(min_length=10, max_length=2048)
    keys: PushKeys
    device_name: str = Field("", max_length=100)


class SubscriptionOut(BaseModel):
    id: str
    endpoint: str
    device_name: str
    created_at: datetime
    expired_at: datetime | None
    active: bool

    @classmethod
    def of(cls, subscription: Subscription) -> SubscriptionOut:
        return cls(
            id=subscription.id,
            endpoint=subscription.endpoint,
            device_name=subscription.device_name,
            created_at=subscription.created_at,
            expired_at=subscription.expired_at,
            active=subscription.expired_at is None,
        )


class VapidKeyOut(BaseModel):
    public_key: str = Field(description="applicationServerKey for PushManager.subscribe()")


def push_router(subscriptions: PushSubscriptions) -> APIRouter:
    router = APIRouter(prefix="/v1/push", tags=["web push"])

    @router.get("/vapid-public-key", summary="The server's VAPID key, for PushManager.subscribe()")
    async def vapid_public_key() -> VapidKeyOut:
        return VapidKeyOut(public_key=subscriptions.public_key())

    @router.post("/subscriptions", status_code=201, summary="Receive push messages on this device")
    async def subscribe(patron: Patron, subscription: SubscriptionIn) -> SubscriptionOut:
        saved = await subscriptions.subscribe(
            patron.subject,
            endpoint=subscription.endpoint,
            p256dh=subscription.keys.p256dh,
            auth=subscription.keys.auth,
            device_name=subscription.device_name,
        )
        return SubscriptionOut.of(saved)

    @router.get("/subscriptions", summary="My devices that receive push messages")
    async def list_subscriptions(patron: Patron) -> list[SubscriptionOut]:
        return [SubscriptionOut.of(subscription) for subscription in await subscriptions.devices(patron.subject)]

    @router.delete("/subscriptions/{subscription_id}", status_code=204, summary="Stop push messages to a device")
    async def unsubscribe(patron: Patron, subscription_id: str) -> Response:
        await subscriptions.unsubscribe(patron.subject, subscription_id)
        return Response(status_code=204)

    return router
