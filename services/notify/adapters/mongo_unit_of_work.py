"""Notify's unit of work on MongoDB: its repositories bound to the transaction's session.

The collections' adapters (``MongoProjections`` with its title cache, ``MongoReminders``, …) are shared; what a
unit of work holds are views of them that pass its session on every call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from notify.adapters.deliveries import MongoDeliveries, delivery_document
from notify.adapters.inbox_repository import MongoInbox
from notify.adapters.projections import MongoProjections
from notify.adapters.reminders import MongoReminders
from notify.adapters.subscriptions import MongoSubscriptions
from notify.domain.inbox import InboxMessage
from notify.domain.loans import LoanRecord
from notify.domain.notices import Language, Notice, Recipient, RenderedNotice
from notify.domain.planning import PlannedDelivery
from notify.domain.preferences import Preferences
from notify.domain.schedule import Reminder
from notify.service_layer.unit_of_work import NotifyUnitOfWork
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


class _Projections:
    def __init__(self, projections: MongoProjections, session: AsyncClientSession) -> None:
        self.projections, self.session = projections, session

    async def record_patron(
        self, patron_id: str, *, display_name: str, email: str, language: str, **extra: Any
    ) -> None:
        await self.projections.record_patron(
            patron_id, display_name=display_name, email=email, language=language, session=self.session, **extra
        )

    async def patron(self, patron_id: str) -> tuple[Recipient, Preferences]:
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
    def __init__(self, reminders: MongoReminders, session: AsyncClientSession) -> None:
        self.reminders, self.session = reminders, session

    async def schedule(self, reminder: Reminder) -> None:
        await self.reminders.schedule(reminder, self.session)

    async def cancel_for(self, subject_id: str) -> None:
        await self.reminders.cancel_for(subject_id, self.session)

    async def cancel_hold_reminders(self, patron_id: str, title_id: str) -> None:
        await self.reminders.cancel_hold_reminders(patron_id, title_id, self.session)

    async def fire(self, reminder_id: str, at: datetime) -> bool:
        return await self.reminders.fire(reminder_id, at, self.session)


class _Inbox:
    def __init__(self, inbox: MongoInbox, session: AsyncClientSession) -> None:
        self.inbox, self.session = inbox, session

    async def add(self, message: InboxMessage) -> None:
        await self.inbox.add(message, self.session)


class _Deliveries:
    def __init__(self, deliveries: MongoDeliveries, session: AsyncClientSession) -> None:
        self.deliveries, self.session = deliveries, session

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
        await self.deliveries.add(documents, self.session)


class _PushDevices:
    def __init__(self, subscriptions: MongoSubscriptions, session: AsyncClientSession) -> None:
        self.subscriptions, self.session = subscriptions, session

    async def active_ids(self, patron_id: str) -> list[str]:
        return await self.subscriptions.active_ids(patron_id, self.session)


class MongoNotifyUnitOfWork(MongoUnitOfWork, NotifyUnitOfWork):
    def __init__(self, outbox: Outbox, stores: NotifyStores, *, session: AsyncClientSession | None = None) -> None:
        super().__init__(outbox, session=session)
        self.stores = stores

    def _bind(self, session: AsyncClientSession) -> None:
        self.projections = _Projections(self.stores.projections, session)
        self.reminders = _Reminders(self.stores.reminders, session)
        self.inbox = _Inbox(self.stores.inbox, session)
        self.deliveries = _Deliveries(self.stores.deliveries, session)
        self.push_devices = _PushDevices(self.stores.subscriptions, session)
