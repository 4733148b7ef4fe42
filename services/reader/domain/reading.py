"""Reading state that follows a patron across devices: positions (Readium Locators) and annotations.

A position is kept unless a later one — by the time the device says it read there — is stored, so an old device
coming back online cannot drag the reader back; a device clock in the future cannot pin the position forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Position:
    publication_id: str
    locator: dict[str, Any]
    device_id: str
    device_name: str
    modified: datetime
    applied: bool = True


@dataclass(frozen=True)
class Annotation:
    """A bookmark or a highlight, with an optional note."""

    id: str
    patron_id: str
    publication_id: str
    kind: str
    locator: dict[str, Any]
    note: str
    color: str
    created_at: datetime


def credible_modified(modified: datetime, now: datetime) -> datetime:
    """The device's time of reading, never later than now."""
    return min(modified, now)


def later_block_change(known: datetime | None, at: datetime) -> bool:
    """Whether a card block change made ``at`` should replace the one ``known`` (the later change wins, whatever
    order lending's events arrive in)."""
    return known is None or at >= known
