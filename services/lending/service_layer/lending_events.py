"""The envelopes of lending's events: by title for loans and holds, by patron for cards (order per key)."""

from __future__ import annotations

from typing import Any

from sachso.kit.events import OutboundEvent
from sachso.kit.topics import LENDING_EVENTS


def title_event(title_id: str, payload: Any) -> OutboundEvent:
    """Loan and hold events are keyed by title, so one title's pool changes stay in order."""
    return OutboundEvent(topic=LENDING_EVENTS.name, key=title_id, payload=payload, subject=title_id)


def patron_event(patron_id: str, payload: Any) -> OutboundEvent:
    """Patron events are keyed by patron, so one card's story stays in order."""
    return OutboundEvent(topic=LENDING_EVENTS.name, key=patron_id, payload=payload, subject=patron_id)
