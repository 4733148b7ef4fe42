"""Notify's unit of work: what an event (or a reminder falling due) causes — read models, reminders, inbox
messages, deliveries — written together, once (the consumer's unit of work joins its handled-event marker)."""

from __future__ import annotations

from collections.abc import Callable

from notify.service_layer.repositories import (
    DeliveryWriter,
    InboxWriter,
    ProjectionRepository,
    PushDevices,
    ReminderRepository,
)
from sachso.kit.unit_of_work import UnitOfWork


class NotifyUnitOfWork(UnitOfWork):
    projections: ProjectionRepository
    reminders: ReminderRepository
    inbox: InboxWriter
    deliveries: DeliveryWriter
    push_devices: PushDevices


UnitOfWorkFactory = Callable[[], NotifyUnitOfWork]
