"""Notify's unit of work on MongoDB: its repositories bound to the transaction's session.

The collections' adapters (``MongoProjections`` with its title cache, ``MongoReminders``, …) are shared; what a
unit of work holds are views of them that pass its session on every call.

The consumer's transactions (one per batch of events) go through :class:`ConsumerTransactions`: it reads the
patrons of all the batch's events with one query (and, when Web Push is on, their active push devices with
another), and keeps the inbox messages, deliveries and new reminders the handlers write until the end of the
transaction, then writes each kind with one command. Nothing in the transaction reads them back except
reminders, so a reminder query or change first writes the reminders kept; no handler writes push devices.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession

from notify.adapters.deliveries import MongoDeliveries, delivery_document
from notify.adapters.inbox_repository import MongoInbox, inbox_document
from notify.adapters.projections import MongoProjections, recipient_and_preferences
from notify.adapters.reminders import MongoReminders, reminder_document
from notify.adapters.subscriptions import MongoSubscriptions
from notify.domain.deliveries import Delivery, Outcome
from notify.domain.inbox import InboxMessage
from notify.domain.loans import LoanRecord
from notify.domain.notices import Language, Notice, Recipient, RenderedNotice
from notify.domain.planning import PlannedDelivery
from notify.domain.preferences import Preferences
from notify.domain.schedule import Reminder
from notify.domain.subscriptions import Subscription
from notify.service_layer.unit_of_work import NotifyUnitOfWork
from sachso.kit.events import ReceivedEvent
from sachso.kit.mongo_unit_of_work import MongoUnitOfWork
from sachso.kit.outbox import Outbox

Document = dict[str, Any]


@dataclass(frozen=True)
class NotifyStores:
    """Notify's collections, one adapter each (built once at bootstrap)."""

    projections: MongoProjections
    reminders: MongoReminders
    inbox: MongoInbox
    deliveries: MongoDeliveries
    subscriptions: MongoSubscriptions


@dataclass
class _Pending:
    """What a consumer transaction read ahead, and the writes it keeps for its end."""

    patrons: dict[str, tuple[Recipient, Preferences]] = field(default_factory=dict)
    push_devices: dict[str, list[str]] = field(default_factory=dict)  # patron id -> active subscription ids
    inbox: list[Document] = field(default_factory=list)
    deliveries: list[Document] = field(default_factory=list)
    reminders: dict[str, Document] = field(default_factory=dict)


class _Projections:
    def __init__(
        self, projections: MongoProjections, session: AsyncClientSession, pending: _Pending | None = None
    ) -> None:
        self.projections, self.session, self.pending = projections, session, pending

    async def record_patron(
        self, patron_id: str, *, display_name: str, email: str, language: str, **extra: Any
    ) -> None:
        if self.pending is not None:
            self.pending.patrons.pop(patron_id, None)  # read again after this write
        await self.projections.record_patron(
            patron_id, display_name=display_name, email=email, language=language, session=self.session, **extra
        )

    async def patron(self, patron_id: str) -> tuple[Recipient, Preferences]:
        if self.pending is not None and patron_id in self.pending.patrons:
            return self.pending.patrons[patron_id]
        return await self.projections.patron(patron_id, self.session)

    async def record_title(self, title_id: str, title: str, authors: Iterable[str]) -> None:
        await self.projections.record_title(title_id, title, authors, self.session)

    async def title(self, title_id: str) -> str | None:
        return await self.projections.title(title_id, self.session)

    async def record_loan(self, loan_id: str, patron_id: str, title_id: str, due_at: datetime) -> Document | None:
        return await self.projections.record_loan(loan_id, patron_id, title_id, due_at, self.session)

    async def park_revocation(self, loan_id: str, revocation: Document) -> None:
        await self.projections.park_revocation(loan_id, revocation, self.session)

    async def end_loan(self, loan_id: str) -> None:
        await self.projections.end_loan(loan_id, self.session)

    async def loan(self, loan_id: str) -> LoanRecord | None:
        return await self.projections.loan(loan_id, self.session)


class _Reminders:
    def __init__(self, reminders: MongoReminders, session: AsyncClientSession, pending: _Pending | None = None) -> None:
        self.reminders, self.session, self.pending = reminders, session, pending

    async def schedule(self, reminder: Reminder) -> None:
        if self.pending is not None:
            self.pending.reminders.setdefault(reminder.id, reminder_document(reminder))  # the first one counts
            return
        await self.reminders.schedule(reminder, self.session)

    async def write_pending(self) -> None:
        """Write the reminders kept so far (before anything in the transaction looks at reminders)."""
        if self.pending is not None and self.pending.reminders:
            kept, self.pending.reminders = self.pending.reminders, {}
            await self.reminders.collection.bulk_write(
                [UpdateOne({"_id": key}, {"$setOnInsert": value}, upsert=True) for key, value in kept.items()],
                ordered=True,
                session=self.session,
            )

    async def cancel_for(self, subject_id: str) -> None:
        await self.write_pending()
        await self.reminders.cancel_for(subject_id, self.session)

    async def cancel_hold_reminders(self, patron_id: str, title_id: str) -> None:
        await self.write_pending()
        await self.reminders.cancel_hold_reminders(patron_id, title_id, self.session)

    async def fire(self, reminder_id: str, at: datetime) -> bool:
        await self.write_pending()
        return await self.reminders.fire(reminder_id, at, self.session)


class _Inbox:
    def __init__(self, inbox: MongoInbox, session: AsyncClientSession, pending: _Pending | None = None) -> None:
        self.inbox, self.session, self.pending = inbox, session, pending

    async def add(self, message: InboxMessage) -> None:
        if self.pending is not None:
            self.pending.inbox.append(inbox_document(message, stored_at=datetime.now(UTC)))
            return
        await self.inbox.add(message, self.session)


class _Deliveries:
    def __init__(
        self, deliveries: MongoDeliveries, session: AsyncClientSession, pending: _Pending | None = None
    ) -> None:
        self.deliveries, self.session, self.pending = deliveries, session, pending

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
        documents = [
            delivery_document(
                one, notice, recipient_name=recipient_name, language=language, rendered=rendered, created_at=created_at
            )
            for one in planned
        ]
        if self.pending is not None:
            self.pending.deliveries.extend(documents)
            return
        await self.deliveries.add(documents, self.session)

    async def claim_due(self, now: datetime, *, limit: int, lease: timedelta) -> list[Delivery]:
        return await self.deliveries.claim_due(now, limit=limit, lease=lease, session=self.session)

    async def settle(self, outcomes: Sequence[Outcome], now: datetime) -> None:
        await self.deliveries.settle(outcomes, now, self.session)


class _Bounces:
    def __init__(self, projections: MongoProjections, session: AsyncClientSession) -> None:
        self.projections, self.session = projections, session

    async def bounced_among(self, addresses: Iterable[str]) -> set[str]:
        return await self.projections.bounced_among(addresses, self.session)

    async def record_bounce(self, address: str, reason: str, at: datetime) -> None:
        await self.projections.record_bounce(address, reason, at, self.session)


class _PushDevices:
    def __init__(
        self, subscriptions: MongoSubscriptions, session: AsyncClientSession, pending: _Pending | None = None
    ) -> None:
        self.subscriptions, self.session, self.pending = subscriptions, session, pending

    async def active_ids(self, patron_id: str) -> list[str]:
        if self.pending is not None and patron_id in self.pending.push_devices:
            return self.pending.push_devices[patron_id]
        return await self.subscriptions.active_ids(patron_id, self.session)

    async def by_ids(self, ids: Iterable[str]) -> dict[str, Subscription]:
        return await self.subscriptions.by_ids(ids, self.session)

    async def mark_expired(self, identifier: str, reason: str, at: datetime) -> None:
        await self.subscriptions.mark_expired(identifier, reason, at, self.session)


class MongoNotifyUnitOfWork(MongoUnitOfWork, NotifyUnitOfWork):
    def __init__(
        self,
        outbox: Outbox,
        stores: NotifyStores,
        *,
        session: AsyncClientSession | None = None,
        pending: _Pending | None = None,
    ) -> None:
        super().__init__(outbox, session=session)
        self.stores = stores
        self.pending = pending

    def _bind(self, session: AsyncClientSession) -> None:
        self.projections = _Projections(self.stores.projections, session, self.pending)
        self.reminders = _Reminders(self.stores.reminders, session, self.pending)
        self.inbox = _Inbox(self.stores.inbox, session, self.pending)
        self.deliveries = _Deliveries(self.stores.deliveries, session, self.pending)
        self.push_devices = _PushDevices(self.stores.subscriptions, session, self.pending)
        self.bounces = _Bounces(self.stores.projections, session)


class ConsumerTransactions:
    """The consumer's transactions (a :class:`sachso.kit.consumer.TransactionScope`): patrons, title names and
    (with ``push_enabled``) push devices read ahead for a batch of events, inbox messages, deliveries and
    reminders written once per batch."""

    def __init__(self, outbox: Outbox, stores: NotifyStores, *, push_enabled: bool = False) -> None:
        self.outbox, self.stores = outbox, stores
        self.push_enabled = push_enabled
        self._open: dict[int, tuple[AsyncClientSession, _Pending]] = {}

    def unit_of_work(self, session: AsyncClientSession) -> MongoNotifyUnitOfWork:
        """A unit of work joined to the consumer's transaction ``session``."""
        opened = self._open.get(id(session))
        pending = opened[1] if opened is not None and opened[0] is session else None
        return MongoNotifyUnitOfWork(self.outbox, self.stores, session=session, pending=pending)

    async def begin(self, session: AsyncClientSession, events: Sequence[ReceivedEvent]) -> None:
        pending = _Pending()
        self._open[id(session)] = (session, pending)
        titles = {str(title) for event in events if (title := getattr(event.payload, "title_id", ""))}
        if len(titles) > 1:
            await self.stores.projections.read_titles_ahead(titles, session)
        patron_ids = sorted({str(patron) for event in events if (patron := getattr(event.payload, "patron_id", ""))})
        if len(patron_ids) > 1:
            cursor = self.stores.projections.patrons.find({"_id": {"$in": patron_ids}}, session=session)
            found = {document["_id"]: document async for document in cursor}
            default_zone = self.stores.projections.default_time_zone
            pending.patrons = {
                patron_id: recipient_and_preferences(patron_id, found.get(patron_id), default_zone)
                for patron_id in patron_ids
            }
            if self.push_enabled:
                pending.push_devices = await self.stores.subscriptions.active_ids_of(patron_ids, session)

    async def before_commit(self, session: AsyncClientSession) -> None:
        opened = self._open.get(id(session))
        if opened is None:
            return
        pending = opened[1]
        await _Reminders(self.stores.reminders, session, pending).write_pending()
        if pending.inbox:
            stored_at = datetime.now(UTC)  # as late as possible: the live feed's polling reads by it
            for document in pending.inbox:
                document["stored_at"] = stored_at
            await self.stores.inbox.collection.insert_many(pending.inbox, ordered=True, session=session)
        if pending.deliveries:
            await self.stores.deliveries.add(pending.deliveries, session)

    def end(self, session: AsyncClientSession) -> None:
        self._open.pop(id(session), None)
