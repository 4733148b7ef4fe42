"""Which channels a notice goes to, to which addresses and devices, and from when: the routing rule."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from notify.domain.notices import Channel, Notice, Recipient, delivery_id
from notify.domain.preferences import Preferences


@dataclass(frozen=True)
class PlannedDelivery:
    """One message to send: by email to an address, or by Web Push to one device (a subscription id)."""

    id: str
    channel: Channel
    target: str
    not_before: datetime


@dataclass(frozen=True)
class Plan:
    inbox: bool
    deliveries: tuple[PlannedDelivery, ...]

    @property
    def empty(self) -> bool:
        return not self.inbox and not self.deliveries


NOTHING = Plan(inbox=False, deliveries=())


def plan_notice(
    notice: Notice,
    recipient: Recipient,
    preferences: Preferences,
    *,
    now: datetime,
    push_devices: Sequence[str] = (),
) -> Plan:
    """Where ``notice`` goes. A notice past its deadline goes nowhere (a hold-ready note after the hold lapsed
    would mislead); a patron without an address gets no email; every push device of hers gets its own delivery.
    (Bounced addresses are the sender's to refuse: it checks them when it sends.)"""
    if notice.deadline is not None and now >= notice.deadline:
        return NOTHING
    channels = preferences.channels_for(notice.kind)
    send_at = preferences.send_at(notice, now)
    deliveries: list[PlannedDelivery] = []
    if Channel.EMAIL in channels and recipient.email:
        deliveries.append(
            PlannedDelivery(delivery_id(notice.id, Channel.EMAIL), Channel.EMAIL, recipient.email, send_at)
        )
    if Channel.PUSH in channels:
        deliveries += [
            PlannedDelivery(delivery_id(notice.id, Channel.PUSH, device), Channel.PUSH, device, send_at)
            for device in push_devices
        ]
    return Plan(inbox=Channel.INBOX in channels, deliveries=tuple(deliveries))
