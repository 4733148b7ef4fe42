"""A Web Push subscription: one per device (browser), as the browser gave it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Subscription:
    id: str
    patron_id: str
    endpoint: str
    p256dh: str
    auth: str
    device_name: str
    created_at: datetime
    expired_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.expired_at is None
