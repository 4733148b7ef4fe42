"""What a patron does with her own notifications: read her inbox, choose how she is notified, and add or remove
the devices that receive Web Push. Routes call these; she only ever reaches her own messages and devices."""

from __future__ import annotations

import base64
import binascii

from notify.domain.inbox import InboxMessage
from notify.domain.preferences import Preferences
from notify.domain.push_endpoints import EndpointRefused
from notify.domain.subscriptions import Subscription
from notify.errors import (
    InvalidSubscription,
    MessageNotFound,
    PushEndpointRefused,
    PushNotConfigured,
    SubscriptionNotFound,
)
from notify.service_layer.clock import Clock, system_clock
from notify.service_layer.repositories import (
    EndpointGuard,
    InboxRepository,
    PatronRepository,
    SubscriptionRepository,
)


class PatronInbox:
    def __init__(self, inbox: InboxRepository) -> None:
        self.inbox = inbox

    async def messages(self, patron_id: str, *, limit: int, unread_only: bool = False) -> list[InboxMessage]:
        return await self.inbox.list_for(patron_id, limit=limit, unread_only=unread_only)

    async def since(self, patron_id: str, last_message_id: str) -> list[InboxMessage]:
        """What arrived after the last message a live stream delivered (its ``Last-Event-ID``)."""
        return await self.inbox.newer_than(patron_id, last_message_id)

    async def mark_read(self, patron_id: str, message_id: str) -> None:
        if not await self.inbox.mark_read(patron_id, message_id):
            raise MessageNotFound(f"you have no message {message_id}")


class NotificationPreferences:
    def __init__(self, patrons: PatronRepository) -> None:
        self.patrons = patrons

    async def of(self, patron_id: str) -> Preferences:
        _, preferences = await self.patrons.patron(patron_id)
        return preferences

    async def choose(self, patron_id: str, preferences: Preferences) -> Preferences:
        await self.patrons.save_preferences(patron_id, preferences)
        return preferences


def _b64url_bytes(value: str, name: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise InvalidSubscription(f"{name} is not base64url") from None


def check_push_keys(p256dh: str, auth: str) -> None:
    """The browser's keys as RFC 8291 needs them: an uncompressed P-256 point and a 16-byte secret."""
    key = _b64url_bytes(p256dh, "keys.p256dh")
    if len(key) != 65 or key[0] != 4:
        raise InvalidSubscription("keys.p256dh is not an uncompressed P-256 public key")
    if len(_b64url_bytes(auth, "keys.auth")) != 16:
        raise InvalidSubscription("keys.auth must be 16 bytes")


class PushSubscriptions:
    """``public_key`` None: Web Push is not configured (no VAPID key), so subscribing is refused. ``guard``
    decides which endpoints may be stored (https push services on public addresses only)."""

    def __init__(
        self,
        subscriptions: SubscriptionRepository,
        guard: EndpointGuard,
        public_key: str | None,
        *,
        clock: Clock = system_clock,
    ) -> None:
        self.subscriptions = subscriptions
        self.guard = guard
        self._public_key = public_key
        self.clock = clock

    def public_key(self) -> str:
        if self._public_key is None:
            raise PushNotConfigured("this server sends no Web Push messages")
        return self._public_key

    async def subscribe(
        self, patron_id: str, *, endpoint: str, p256dh: str, auth: str, device_name: str
    ) -> Subscription:
        self.public_key()
        check_push_keys(p256dh, auth)
        try:
            await self.guard.check(endpoint)
        except EndpointRefused as error:
            raise PushEndpointRefused(str(error)) from None
        return await self.subscriptions.save(
            patron_id, endpoint=endpoint, p256dh=p256dh, auth=auth, device_name=device_name.strip(), at=self.clock()
        )

    async def devices(self, patron_id: str) -> list[Subscription]:
        return await self.subscriptions.list_for(patron_id)

    async def unsubscribe(self, patron_id: str, subscription_id: str) -> None:
        if not await self.subscriptions.delete(patron_id, subscription_id):
            raise SubscriptionNotFound(f"you have no push subscription {subscription_id}")
