"""In-memory fakes of notify's repositories, endpoint guard and unit of work, with the semantics the use cases
rely on: patrons reach only their own messages and devices, one subscription per endpoint, newest messages
first, one reminder per deadline fired once, deliveries and inbox messages written once per notice."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from notify.domain.deliveries import Delivery, Outcome, email_key
from notify.domain.inbox import InboxMessage
from notify.domain.loans import LoanRecord
from notify.domain.notices import Language, Notice, NoticeKind, Recipient, RenderedNotice
from notify.domain.planning import PlannedDelivery
from notify.domain.preferences import Preferences
from notify.domain.push_endpoints import EndpointRefused, PushEndpoint, PushEndpointPolicy, checked_endpoint
from notify.domain.schedule import Reminder
from notify.domain.subscriptions import Subscription
from notify.service_layer.unit_of_work import NotifyUnitOfWork
from sachso.kit.events import OutboundEvent


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


# -- the consumer path: a unit of work over in-memory read models, reminders, inbox and deliveries --------------


@dataclasses.dataclass
class FakeNotifyState:
    recipients: dict[str, Recipient] = dataclasses.field(default_factory=dict)
    preferences: dict[str, Preferences] = dataclasses.field(default_factory=dict)
    titles: dict[str, str] = dataclasses.field(default_factory=dict)
    loans: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    reminders: dict[str, tuple[Reminder, str]] = dataclasses.field(default_factory=dict)  # (reminder, status)
    inbox: dict[str, InboxMessage] = dataclasses.field(default_factory=dict)
    deliveries: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    devices: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    subscriptions: dict[str, Subscription] = dataclasses.field(default_factory=dict)  # by id, for the sender
    bounces: dict[str, str] = dataclasses.field(default_factory=dict)  # email key -> reason

    def copy(self) -> FakeNotifyState:
        return copy.deepcopy(self)


class FakeProjections:
    def __init__(self, state: FakeNotifyState) -> None:
        self.state = state

    async def record_patron(
        self, patron_id: str, *, display_name: str, email: str, language: str, **extra: Any
    ) -> None:
        known = self.state.recipients.get(patron_id, Recipient(patron_id))
        self.state.recipients[patron_id] = Recipient(
            patron_id, display_name or known.display_name, email or known.email,
            Language.parse(language) if language else known.language,
        )  # fmt: skip

    async def patron(self, patron_id: str) -> tuple[Recipient, Preferences]:
        return (self.state.recipients.get(patron_id, Recipient(patron_id)),
                self.state.preferences.get(patron_id, Preferences()))  # fmt: skip

    async def record_title(self, title_id: str, title: str, authors: Iterable[str]) -> None:
        self.state.titles[title_id] = title

    async def title(self, title_id: str) -> str | None:
        return self.state.titles.get(title_id)

    async def record_loan(self, loan_id: str, patron_id: str, title_id: str, due_at: datetime) -> dict[str, Any] | None:
        before = self.state.loans.get(loan_id, {})
        self.state.loans[loan_id] = {"patron_id": patron_id, "title_id": title_id, "due_at": due_at, "ended": False}
        parked: dict[str, Any] | None = before.get("parked_revocation")
        return parked

    async def park_revocation(self, loan_id: str, revocation: dict[str, Any]) -> None:
        self.state.loans.setdefault(loan_id, {})["parked_revocation"] = revocation

    async def end_loan(self, loan_id: str) -> None:
        if loan_id in self.state.loans:
            self.state.loans[loan_id]["ended"] = True

    async def loan(self, loan_id: str) -> LoanRecord | None:
        known = self.state.loans.get(loan_id)
        if known is None or "patron_id" not in known:
            return None
        return LoanRecord(loan_id, known["patron_id"], known["title_id"])


class FakeReminders:
    def __init__(self, state: FakeNotifyState) -> None:
        self.state = state

    async def schedule(self, reminder: Reminder) -> None:
        self.state.reminders.setdefault(reminder.id, (reminder, "scheduled"))

    def _cancel(self, matches: Callable[[Reminder], bool]) -> None:
        for key, (reminder, status) in list(self.state.reminders.items()):
            if status == "scheduled" and matches(reminder):
                self.state.reminders[key] = (reminder, "cancelled")

    async def cancel_for(self, subject_id: str) -> None:
        self._cancel(lambda reminder: reminder.subject_id == subject_id)

    async def cancel_hold_reminders(self, patron_id: str, title_id: str) -> None:
        self._cancel(
            lambda r: r.patron_id == patron_id and r.title_id == title_id and r.kind is NoticeKind.HOLD_LAPSING
        )

    async def fire(self, reminder_id: str, at: datetime) -> bool:
        known = self.state.reminders.get(reminder_id)
        if known is None or known[1] != "scheduled":
            return False
        self.state.reminders[reminder_id] = (known[0], "fired")
        return True

    async def due(self, now: datetime, limit: int) -> list[Reminder]:
        due = [r for r, status in self.state.reminders.values() if status == "scheduled" and r.fire_at <= now]
        return sorted(due, key=lambda r: r.fire_at)[:limit]

    async def next_fire_at(self) -> datetime | None:
        return min((r.fire_at for r, status in self.state.reminders.values() if status == "scheduled"), default=None)


class FakeInboxWriter:
    def __init__(self, state: FakeNotifyState) -> None:
        self.state = state

    async def add(self, message: InboxMessage) -> None:
        self.state.inbox.setdefault(message.id, message)  # the id comes from the notice: written once


class FakeDeliveries:
    def __init__(self, state: FakeNotifyState) -> None:
        self.state = state

    async def add_planned(
        self, planned: Sequence[PlannedDelivery], notice: Notice, *, recipient_name: str, language: Language,
        rendered: RenderedNotice, created_at: datetime,
    ) -> None:  # fmt: skip
        for one in planned:
            if one.id in self.state.deliveries:
                raise ValueError(f"duplicate delivery {one.id}")  # MongoDB's unique _id
            self.state.deliveries[one.id] = {
                "notice_id": notice.id, "kind": notice.kind, "patron_id": notice.patron_id, "channel": one.channel,
                "target": one.target, "recipient_name": recipient_name, "language": language,
                "subject": rendered.subject, "summary": rendered.summary, "text": rendered.text,
                "html": rendered.html, "not_before": one.not_before, "status": "pending", "attempts": 0,
            }  # fmt: skip

    async def claim_due(self, now: datetime, *, limit: int, lease: timedelta) -> list[Delivery]:
        due = sorted(
            (key for key, d in self.state.deliveries.items()
             if (d["status"] == "pending" and d["not_before"] <= now)
             or (d["status"] == "sending" and d["lease_until"] < now)),
            key=lambda key: self.state.deliveries[key]["not_before"],
        )[:limit]  # fmt: skip
        claim = uuid.uuid4().hex
        claimed = []
        for key in due:
            d = self.state.deliveries[key]
            d.update(status="sending", claim=claim, lease_until=now + lease)
            claimed.append(Delivery(
                key, d["notice_id"], d["kind"].value, d["patron_id"], d["channel"], d["target"], d["recipient_name"],
                d["language"], d["subject"], d["summary"], d["text"], d["html"], d["attempts"], claim, d["not_before"],
            ))  # fmt: skip
        return claimed

    async def settle(self, outcomes: Sequence[Outcome], now: datetime) -> None:
        for outcome in outcomes:
            d = self.state.deliveries[outcome.delivery.id]
            if d.get("claim") != outcome.delivery.claim:
                continue  # another sender took it over
            d.pop("claim")
            d["attempts"] = outcome.delivery.attempts + 1
            d["last_error"] = outcome.error or None
            if outcome.sent:
                d.update(status="sent", sent_at=now)
            elif outcome.failed or outcome.retry_at is None:
                d.update(status="failed", failed_at=now)
            else:
                d.update(status="pending", not_before=outcome.retry_at)

    async def next_due(self) -> datetime | None:
        due = [d["not_before"] for d in self.state.deliveries.values() if d["status"] == "pending"]
        return min(due, default=None)


class FakeBounces:
    def __init__(self, state: FakeNotifyState) -> None:
        self.state = state

    async def bounced_among(self, addresses: Iterable[str]) -> set[str]:
        return {email_key(address) for address in addresses} & set(self.state.bounces)

    async def record_bounce(self, address: str, reason: str, at: datetime) -> None:
        self.state.bounces[email_key(address)] = reason


class FakePushDevices:
    def __init__(self, state: FakeNotifyState) -> None:
        self.state = state

    async def active_ids(self, patron_id: str) -> list[str]:
        return sorted(self.state.devices.get(patron_id, []))

    async def by_ids(self, ids: Iterable[str]) -> dict[str, Subscription]:
        return {key: self.state.subscriptions[key] for key in ids if key in self.state.subscriptions}

    async def mark_expired(self, identifier: str, reason: str, at: datetime) -> None:
        known = self.state.subscriptions.get(identifier)
        if known is not None and known.expired_at is None:
            self.state.subscriptions[identifier] = dataclasses.replace(known, expired_at=at)


class FakeNotifyUnitOfWork(NotifyUnitOfWork):
    """Works on a copy of ``database``; commit replaces it (what a failed use case wrote vanishes)."""

    def __init__(self, database: FakeNotifyState) -> None:
        super().__init__()
        self.database = database
        self._bind(FakeNotifyState())

    def _bind(self, state: FakeNotifyState) -> None:
        self.working = state
        self.projections = FakeProjections(state)
        self.reminders = FakeReminders(state)
        self.inbox = FakeInboxWriter(state)
        self.deliveries = FakeDeliveries(state)
        self.push_devices = FakePushDevices(state)
        self.bounces = FakeBounces(state)

    async def _begin(self) -> None:
        self._bind(self.database.copy())

    async def _commit(self, events: list[OutboundEvent]) -> None:
        self.database.__dict__.update(self.working.copy().__dict__)

    async def _rollback(self) -> None:
        self._bind(FakeNotifyState())
