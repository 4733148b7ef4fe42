"""What the sender hands to the mail relay and to push services, and how they refuse (the ports of
``notify.adapters.email`` and ``notify.adapters.webpush``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class OutgoingEmail:
    delivery_id: str
    to_address: str
    to_name: str
    language: str
    subject: str
    text: str
    html: str


class EmailRejected(Exception):
    """The server refused for good. ``bounced``: the address itself was refused (stop writing to it)."""

    def __init__(self, message: str, *, bounced: bool) -> None:
        super().__init__(message)
        self.bounced = bounced


class EmailDeferred(Exception):
    """A temporary failure (4xx, timeout, connection lost): try again later."""


@dataclass(frozen=True)
class PushTarget:
    """A browser's push subscription: where to POST and the keys to encrypt for."""

    endpoint: str
    p256dh: str
    auth: str


class PushGone(Exception):
    """404/410, or an endpoint notify may not send to (any more): the subscription is unusable."""


class PushRejected(Exception):
    """The push service refused this message for good (400, 403, 413, …)."""


class PushDeferred(Exception):
    """Temporary: 429, 5xx, a timeout or a refused connection."""


class Mailer(Protocol):
    async def send(self, email: OutgoingEmail) -> None:
        """Hand ``email`` to the mail relay; raise :class:`EmailRejected` or :class:`EmailDeferred`."""


class Pusher(Protocol):
    async def send(self, target: PushTarget, payload: dict[str, Any]) -> None:
        """POST ``payload`` to ``target``; raise :class:`PushGone`, :class:`PushRejected` or :class:`PushDeferred`."""
