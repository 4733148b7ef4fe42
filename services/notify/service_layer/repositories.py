"""What notify's patron-facing use cases need from storage, as small Protocols (MongoDB adapters in
``notify.adapters``; in-memory fakes in ``tests/unit/notify/fakes.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from notify.domain.deliveries import Delivery, Outcome
from notify.domain.inbox import InboxMessage
from notify.domain.loans import LoanRecord
from notify.domain.notices import Language, Notice, Recipient, RenderedNotice
from notify.domain.planning import PlannedDelivery
from notify.domain.preferences import Preferences
from notify.domain.push_endpoints import PushEndpoint
from notify.domain.schedule import Reminder
from notify.domain.subscriptions import Subscription

Document = dict[str, Any]


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


# -- what a notice and the events that cause it write, in one unit of work -----------------------------------


class ProjectionRepository(Protocol):
    """Notify's read models built from events: patrons, titles, loans."""

    async def record_patron(
        self, patron_id: str, *, display_name: str, email: str, language: str, **extra: Any
    ) -> None: ...

    async def patron(self, patron_id: str) -> tuple[Recipient, Preferences]: ...

    async def record_title(self, title_id: str, title: str, authors: Iterable[str]) -> None: ...

    async def title(self, title_id: str) -> str | None: ...

    async def record_loan(self, loan_id: str, patron_id: str, title_id: str, due_at: datetime) -> Document | None:
        """Remember the loan; return a revocation that arrived before it."""

    async def park_revocation(self, loan_id: str, revocation: Document) -> None: ...

    async def end_loan(self, loan_id: str) -> None: ...

    async def loan(self, loan_id: str) -> LoanRecord | None: ...


class ReminderRepository(Protocol):
    async def schedule(self, reminder: Reminder) -> None: ...

    async def cancel_for(self, subject_id: str) -> None: ...

    async def cancel_hold_reminders(self, patron_id: str, title_id: str) -> None: ...

    async def fire(self, reminder_id: str, at: datetime) -> bool:
        """Mark the reminder fired; False when another replica fired it first or it was cancelled."""


class ReminderQueue(Protocol):
    """The reminders falling due, read outside any unit of work."""

    async def due(self, now: datetime, limit: int) -> list[Reminder]: ...

    async def next_fire_at(self) -> datetime | None: ...


class InboxWriter(Protocol):
    async def add(self, message: InboxMessage) -> None: ...


class DeliveryRepository(Protocol):
    async def add_planned(
        self,
        planned: Sequence[PlannedDelivery],
        notice: Notice,
        *,
        recipient_name: str,
        language: Language,
        rendered: RenderedNotice,
        created_at: datetime,
    ) -> None:
        """Store the deliveries a notice plans (the sender sends them once committed)."""

    async def claim_due(self, now: datetime, *, limit: int, lease: timedelta) -> list[Delivery]:
        """Claim up to ``limit`` deliveries due at ``now`` (and any whose sender's lease ran out), oldest first."""

    async def settle(self, outcomes: Sequence[Outcome], now: datetime) -> None:
        """Record how each claimed delivery went (only where this sender still holds its claim)."""


class DueDeliveries(Protocol):
    """When the next delivery falls due, read outside any unit of work."""

    async def next_due(self) -> datetime | None: ...


class Bounces(Protocol):
    async def bounced_among(self, addresses: Iterable[str]) -> set[str]:
        """Which of ``addresses`` (as :func:`notify.domain.deliveries.email_key`) bounced before."""

    async def record_bounce(self, address: str, reason: str, at: datetime) -> None: ...


class PushDevices(Protocol):
    async def active_ids(self, patron_id: str) -> list[str]: ...

    async def by_ids(self, ids: Iterable[str]) -> dict[str, Subscription]: ...

    async def mark_expired(self, identifier: str, reason: str, at: datetime) -> None:
        """The subscription is gone: no more push goes there."""


class InboxChangesUnavailable(Exception):
    """The database cannot follow new inbox messages as they are written (no change streams): poll instead."""


class InboxStoreUnavailable(Exception):
    """The inbox could not be read just now (the live feed tries again at its next poll)."""


class InboxChanges(Protocol):
    """New inbox messages, for the live feed (outside any unit of work)."""

    async def follow(self, stop: Any, publish: Callable[[InboxMessage], None], opened: Callable[[], None]) -> None:
        """Hand each message inserted from now on to ``publish`` until ``stop`` (an ``asyncio.Event``) is set;
        call ``opened`` once following; raise :class:`InboxChangesUnavailable` when the server cannot."""

    async def stored_since(self, patron_ids: Iterable[str], since: datetime) -> list[InboxMessage]:
        """Messages of ``patron_ids`` stored at or after ``since``, oldest first; raise
        :class:`InboxStoreUnavailable` when the database does not answer."""
