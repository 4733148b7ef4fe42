"""A delivery the sender claimed, and how sending it went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from notify.domain.notices import Channel, Language


def email_key(address: str) -> str:
    """How an address is compared (bounces are kept per address, whatever its case)."""
    return address.strip().lower()


@dataclass(frozen=True)
class Delivery:
    id: str
    notice_id: str
    kind: str
    patron_id: str
    channel: Channel
    target: str
    recipient_name: str
    language: Language
    subject: str
    summary: str
    text: str
    html: str
    attempts: int
    claim: str | None
    # when it became due (planned, after quiet hours, or a retry): its latency is measured from here
    due_at: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    """How one send went: ``retry_at`` set means try again then; ``failed`` means give up. ``bounced``: the
    address was refused for good (recorded, no more email goes there); ``expired_device``: the push
    subscription with this id is gone (marked, no more push goes there)."""

    delivery: Delivery
    sent: bool = False
    failed: bool = False
    retry_at: datetime | None = None
    error: str = ""
    bounced: bool = False
    expired_device: str | None = None
