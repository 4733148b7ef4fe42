"""In-memory fakes of notify's repositories and endpoint guard, with the semantics the use cases rely on:
patrons reach only their own messages and devices, one subscription per endpoint, newest messages first."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime

from notify.domain.inbox import InboxMessage
from notify.domain.notices import Recipient
from notify.domain.preferences import Preferences
from notify.domain.push_endpoints import EndpointRefused, PushEndpoint, PushEndpointPolicy, checked_endpoint
from notify.domain.subscriptions import Subscription


class FakeInbox:
    def __init__(self, *messages: InboxMessage) -> None:
        self.messages = list(messages)  # in the order they were stored

    async def list_for(self, patron_id: str, *, limit: int, unread_only: bool = False) -> list[InboxMessage]:
        own = [m for m in self.messages if m.patron_id == patron_id and not (unread_only and m.read_at)]
        return sorted(own, key=lambda m: (m.created_at, m.id), reverse=True)[:limit]

    async def newer_than(self, patron_id: str, message_id: str, *, limit: int = 100) -> list[InboxMessage]:
        own = [m for m in self.messages if m.patron_id == patron_id]
        known = next((m for m in own if m.id == message_id), None)
        if known is None:
            return []
        return sorted((m for m in own if (m.created_at, m.id) > (known.created_at, known.id)),
                      key=lambda m: (m.created_at, m.id))[:limit]  # fmt: skip

    async def mark_read(self, patron_id: str, message_id: str, at: datetime | None = None) -> bool:
        for index, message in enumerate(self.messages):
            if message.patron_id == patron_id and message.id == message_id:
                if message.read_at is None:
                    self.messages[index] = dataclasses.replace(message, read_at=at or message.created_at)
                return True
        return False


class FakePatrons:
    def __init__(self, default_time_zone: str = "Asia/Ho_Chi_Minh") -> None:
        self.recipients: dict[str, Recipient] = {}
        self.preferences: dict[str, Preferences] = {}
        self.default_time_zone = default_time_zone

    async def patron(self, patron_id: str) -> tuple[Recipient, Preferences]:
        return (
            self.recipients.get(patron_id, Recipient(patron_id)),
            self.preferences.get(patron_id, Preferences(time_zone=self.default_time_zone)),
        )

    async def save_preferences(self, patron_id: str, preferences: Preferences) -> None:
        self.preferences[patron_id] = preferences


class FakeSubscriptions:
    def __init__(self) -> None:
        self.saved: dict[str, Subscription] = {}

    async def save(
        self, patron_id: str, *, endpoint: str, p256dh: str, auth: str, device_name: str, at: datetime
    ) -> Subscription:
        identifier = hashlib.sha256(endpoint.encode()).hexdigest()[:32]
        subscription = Subscription(identifier, patron_id, endpoint, p256dh, auth, device_name, at)
        self.saved[identifier] = subscription
        return subscription

    async def list_for(self, patron_id: str) -> list[Subscription]:
        return [s for s in self.saved.values() if s.patron_id == patron_id]

    async def delete(self, patron_id: str, identifier: str) -> bool:
        known = self.saved.get(identifier)
        if known is None or known.patron_id != patron_id:
            return False
        del self.saved[identifier]
        return True


class FakeEndpointGuard:
    """The real policy check, without DNS: hosts in ``unresolvable`` do not resolve."""

    def __init__(self, policy: PushEndpointPolicy, unresolvable: frozenset[str] = frozenset()) -> None:
        self.policy = policy
        self.unresolvable = unresolvable

    async def check(self, url: str) -> PushEndpoint:
        endpoint = checked_endpoint(url, self.policy)
        if endpoint.host in self.unresolvable:
            raise EndpointRefused(f"{endpoint.host} does not resolve to any address")
        return endpoint
