"""Notify's unit of work: what an event (or a reminder falling due) causes — read models, reminders, inbox
messages, deliveries — written together, once (the consumer's unit of work joins its handled-event marker); and
what the sender claims and records (deliveries settled with the bounces and gone devices they revealed)."""

from __future__ import annotations

from collections.abc import Callable

from notify.service_layer.repositories import (
    Bounces,
    DeliveryRepository,
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
    deliveries: DeliveryRepository
    push_devices: PushDevices
    bounces: Bounces


UnitOfWorkFactory = Callable[[], NotifyUnitOfWork]
