"""What notify tells a patron: the kinds of notice, the channels they travel on, and the rules for each kind.

A :class:`Notice` is one thing worth telling one patron, caused by an event (its id is the event id) or by a
reminder coming due (its id is the reminder id). Deliveries and inbox messages are keyed by the notice id and
the channel, so a notice reaches each channel once whatever Kafka redelivers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Language(StrEnum):
    VI = "vi"
    EN = "en"

    @classmethod
    def parse(cls, value: str | None) -> Language:
        """The language for ``value`` (a BCP 47 tag such as ``en-GB``); Vietnamese when unknown."""
        primary = (value or "").split("-")[0].lower()
        return cls(primary) if primary in {language.value for language in cls} else cls.VI


class Channel(StrEnum):
    EMAIL = "email"
    PUSH = "push"
    INBOX = "inbox"


class NoticeKind(StrEnum):
    EMAIL_VERIFICATION = "email-verification"
    CARD_APPROVED = "card-approved"
    CARD_REJECTED = "card-rejected"
    HOLD_READY = "hold-ready"
    HOLD_LAPSING = "hold-lapsing"
    HOLD_EXPIRED = "hold-expired"
    LOAN_DUE_SOON = "loan-due-soon"
    LOAN_ENDED = "loan-ended"
    LICENSE_REVOKED = "license-revoked"


ALL_CHANNELS = frozenset(Channel)
_EMAIL = frozenset({Channel.EMAIL})


@dataclass(frozen=True)
class KindRules:
    """How one kind of notice may travel.

    ``allowed``: the channels a patron may choose for it; ``default``: what she gets before she chooses;
    ``urgent``: sent at once even in her quiet hours; ``fixed``: she cannot change the channels (an applicant
    has no account yet, so email is the only way to reach her); ``unverified_address``: the address is not proven
    to be the applicant's, so the message carries nothing she typed (no name): nobody can use it to send a stranger
    words of their choosing.
    """

    allowed: frozenset[Channel]
    default: frozenset[Channel]
    urgent: bool = False
    fixed: bool = False
    unverified_address: bool = False

    def addressee_name(self, display_name: str) -> str:
        """The name to greet and address the recipient with (none for an unverified address)."""
        return "" if self.unverified_address else display_name


RULES: Mapping[NoticeKind, KindRules] = {
    # Someone proving she owns an address must get the code now, and only there.
    NoticeKind.EMAIL_VERIFICATION: KindRules(_EMAIL, _EMAIL, urgent=True, fixed=True, unverified_address=True),
    # A rejected applicant never signs in: neither inbox nor push could reach her.
    NoticeKind.CARD_REJECTED: KindRules(_EMAIL, _EMAIL, fixed=True),
    # A new card holder has no push subscription yet; her inbox keeps the card number.
    NoticeKind.CARD_APPROVED: KindRules(ALL_CHANNELS, frozenset({Channel.EMAIL, Channel.INBOX})),
    NoticeKind.HOLD_READY: KindRules(ALL_CHANNELS, ALL_CHANNELS),
    NoticeKind.HOLD_LAPSING: KindRules(ALL_CHANNELS, ALL_CHANNELS),
    NoticeKind.HOLD_EXPIRED: KindRules(ALL_CHANNELS, frozenset({Channel.EMAIL, Channel.INBOX})),
    NoticeKind.LOAN_DUE_SOON: KindRules(ALL_CHANNELS, ALL_CHANNELS),
    NoticeKind.LOAN_ENDED: KindRules(ALL_CHANNELS, frozenset({Channel.INBOX})),
    NoticeKind.LICENSE_REVOKED: KindRules(ALL_CHANNELS, frozenset({Channel.EMAIL, Channel.INBOX})),
}


@dataclass(frozen=True)
class Recipient:
    """Who a notice is for, as notify's patron directory (or the event itself) knows her."""

    patron_id: str
    display_name: str = ""
    email: str = ""
    language: Language = Language.VI


@dataclass(frozen=True)
class Notice:
    """One thing to tell one patron.

    ``facts`` are the template variables (title, card number, deadline, …); ``deadline`` is when the notice
    stops being useful (the end of a hold window, a loan's due time, a code's expiry): quiet hours never hold
    a notice past it.
    """

    id: str
    kind: NoticeKind
    patron_id: str
    occurred_at: datetime
    facts: Mapping[str, Any] = field(default_factory=dict)
    deadline: datetime | None = None

    @property
    def rules(self) -> KindRules:
        return RULES[self.kind]


@dataclass(frozen=True)
class RenderedNotice:
    """A notice in words, in one language: the email subject and parts; ``summary`` serves inbox and push."""

    subject: str
    summary: str
    text: str
    html: str


def delivery_id(notice_id: str, channel: Channel, target: str | None = None) -> str:
    """The key of one delivery: a notice reaches a channel (a push device) once."""
    return f"{notice_id}:{channel.value}" + (f":{target}" if target else "")
