"""A licence follows its loan: the rules of its life, as pure functions over a frozen :class:`Licence`.

Lending's events drive the licence (a loan created makes a licence ``ready``; returned or expired ends it). A
return through the status document ends the licence here and tells lending, whose consumer returns the loan;
whichever side ends first, both end in the same state, and duplicates or out-of-order events change nothing once
a licence has ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from drm.domain.status import LIVE, Status, after
from drm.errors import LicenceEnded, LicenceNotFound, OnlineOnly, PassphraseRefused, StatusRequestRefused

MIN_PASSPHRASE = 4


@dataclass(frozen=True)
class LoanFacts:
    """A loan as lending states it (its event, or its answer when asked directly)."""

    loan_id: str
    patron_id: str
    publication_id: str
    starts_at: datetime
    due_at: datetime
    online_only: bool = False
    local_document: bool = False  # a scanned local document: read through IIIF, whatever DRM heard from the reader


@dataclass(frozen=True)
class DeviceEvent:
    """What a reading app did through the status document (LSD ``events``)."""

    type: str  # register | return | renew
    name: str
    id: str
    timestamp: datetime


@dataclass(frozen=True)
class Licence:
    """One licence per loan. ``patron_id`` is None for a licence that learnt of its loan's end first."""

    id: str
    loan_id: str
    status: Status
    issued: datetime
    status_updated: datetime
    patron_id: str | None = None
    publication_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    updated: datetime | None = None
    online_only: bool = False
    local_document: bool = False
    delivered: bool = False
    devices: tuple[str, ...] = ()
    events: tuple[DeviceEvent, ...] = ()

    @property
    def live(self) -> bool:
        return self.status in LIVE

    @property
    def last_updated(self) -> datetime:
        """When the licence itself (not its status) last changed."""
        return self.updated or self.issued


@dataclass(frozen=True)
class BlockChange:
    """Lending blocked or unblocked a card at ``at``; the later change wins."""

    blocked: bool
    at: datetime


def aware(moment: datetime) -> datetime:
    """MongoDB gives naive UTC datetimes back; every rule compares aware ones."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def status_when_loan_ends(status: Status, returned: bool) -> Status:
    """Lending returned (or let expire) the loan: the licence's next state; an ended licence stays as it is."""
    if returned:
        return after(status, Status.RETURNED if status is Status.ACTIVE else Status.CANCELLED)
    return after(status, Status.EXPIRED)


def status_created_ended(returned: bool) -> Status:
    """The loan ended before DRM heard of its creation: the licence is born ended."""
    return Status.CANCELLED if returned else Status.EXPIRED


def block_change_applies(known: BlockChange | None, change: BlockChange) -> bool:
    """Events may arrive out of order: a change older than the one recorded changes nothing."""
    return known is None or aware(known.at) <= aware(change.at)


def check_passphrase(passphrase: str, hint: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise PassphraseRefused(f"the passphrase needs at least {MIN_PASSPHRASE} characters")
    if not hint.strip() or passphrase.lower() in hint.lower():
        raise PassphraseRefused("give a hint that does not contain the passphrase")


def check_owned_and_live(licence: Licence | None, loan_id: str, patron_id: str) -> Licence:
    """The patron's own licence, still live (the card's block is checked by the caller, who can look it up)."""
    if licence is None or licence.patron_id != patron_id:
        raise LicenceNotFound(f"you have no licence for loan {loan_id}")
    if not licence.live:
        raise LicenceEnded(f"the licence is {licence.status.value}")
    return licence


def check_downloadable(licence: Licence, local_document: bool = False) -> None:
    """No LCP licence for a title read online only, nor for a scanned local document (read as page images)."""
    if licence.online_only or local_document:
        raise OnlineOnly("this document is read online only, as watermarked pages")


def streaming_expiry(now: datetime, seconds: float, licence: Licence) -> datetime:
    """A streaming token lives a few minutes, never past the loan's end."""
    expires = now + timedelta(seconds=seconds)
    return min(expires, aware(licence.end)) if licence.end is not None else expires


def check_device_named(device_id: str, device_name: str) -> None:
    if not device_id or not device_name:
        raise StatusRequestRefused("registration", "register needs the device id and name")


def registration(licence: Licence, device_id: str, device_name: str, now: datetime) -> DeviceEvent | None:
    """A device says it holds the licence: the event to record (ready → active), or None for a known device."""
    check_device_named(device_id, device_name)
    if not licence.live:
        raise StatusRequestRefused("registration", f"the licence is {licence.status.value}")
    if device_id in licence.devices:
        return None
    return DeviceEvent("register", device_name, device_id, now)


def giving_back(licence: Licence, device_id: str, device_name: str, now: datetime) -> tuple[Status, DeviceEvent] | None:
    """The reading app returns the book: the licence's ending state and the event, or None when this very
    device already returned it (one return, however often it is asked)."""
    if licence.status in (Status.RETURNED, Status.CANCELLED) and any(
        event.type == "return" and event.id == device_id for event in licence.events
    ):
        return None
    if not licence.live:
        raise StatusRequestRefused("return", f"the licence is already {licence.status.value}")
    ended = Status.RETURNED if licence.status is Status.ACTIVE else Status.CANCELLED
    return ended, DeviceEvent("return", device_name or "", device_id or "", now)


def check_renewable(licence: Licence) -> None:
    """Only a live licence may ask lending for more time (lending then applies its own renewal rules)."""
    if not licence.live:
        raise StatusRequestRefused("renew", f"the licence is {licence.status.value}")


def renewal_event(device_id: str, device_name: str, now: datetime) -> DeviceEvent:
    return DeviceEvent("renew", device_name or "", device_id or "", now)
