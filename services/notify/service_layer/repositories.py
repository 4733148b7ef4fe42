"""What notify's patron-facing use cases need from storage, as small Protocols (MongoDB adapters in
``notify.adapters``; in-memory fakes in ``tests/unit/notify/fakes.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from notify.domain.inbox import InboxMessage
from notify.domain.notices import Recipient
from notify.domain.preferences import Preferences
from notify.domain.push_endpoints import PushEndpoint
from notify.domain.subscriptions import Subscription


class InboxRepository(Protocol):
    async def list_for(self, patron_id: str, *, limit: int, unread_only: bool = False) -> list[InboxMessage]:
        """Newest first."""

    async def newer_than(self, patron_id: str, message_id: str, *, limit: int = 100) -> list[InboxMessage]:
        """What arrived after ``message_id``, oldest first (a reconnecting live stream)."""

    async def mark_read(self, patron_id: str, message_id: str) -> bool:
        """False when the patron has no such message."""


class PatronRepository(Protocol):
    async def patron(self, patron_id: str) -> tuple[Recipient, Preferences]:
        """How to reach the patron and what she chose; defaults when notify has not heard of her."""

    async def save_preferences(self, patron_id: str, preferences: Preferences) -> None: ...


class SubscriptionRepository(Protocol):
    async def save(
        self, patron_id: str, *, endpoint: str, p256dh: str, auth: str, device_name: str, at: datetime
    ) -> Subscription:
        """One subscription per endpoint: subscribing again updates it (and makes it active again)."""

    async def list_for(self, patron_id: str) -> list[Subscription]: ...

    async def delete(self, patron_id: str, identifier: str) -> bool:
        """False when the patron has no such subscription."""


class EndpointGuard(Protocol):
    """Which push endpoints notify may store and later send to (https, public addresses)."""

    async def check(self, url: str) -> PushEndpoint: ...
