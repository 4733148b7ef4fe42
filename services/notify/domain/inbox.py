"""In-app inbox messages and the words they carry, in the patron's language (Vietnamese by default)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Language(StrEnum):
    VI = "vi"
    EN = "en"

    @classmethod
    def parse(cls, value: str | None) -> Language:
        """The language for ``value`` (a BCP 47 tag such as ``en-GB``); Vietnamese when unknown."""
        primary = (value or "").split("-")[0].lower()
        return cls(primary) if primary in {language.value for language in cls} else cls.VI


class MessageKind(StrEnum):
    CARD_APPROVED = "card-approved"


@dataclass(frozen=True)
class InboxMessage:
    """One message in a patron's inbox. ``id`` is derived from the causing event, so it is written once."""

    id: str
    patron_id: str
    kind: MessageKind
    language: Language
    title: str
    body: str
    created_at: datetime
    read_at: datetime | None = None


_CARD_APPROVED = {
    Language.VI: (
        "Thẻ bạn đọc đã được duyệt",
        "Chào {name}, thẻ bạn đọc số {card} của bạn đã được duyệt. Bạn có thể mượn sách điện tử ngay bây giờ.",
    ),
    Language.EN: (
        "Your reader card is approved",
        "Hello {name}, your reader card {card} has been approved. You can borrow e-books now.",
    ),
}


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def card_approved(
    *, message_id: str, patron_id: str, display_name: str, card_number: str, language: Language, at: datetime
) -> InboxMessage:
    title, body = _CARD_APPROVED[language]
    return InboxMessage(
        id=message_id,
        patron_id=patron_id,
        kind=MessageKind.CARD_APPROVED,
        language=language,
        title=_nfc(title),
        body=_nfc(body.format(name=display_name, card=card_number)),
        created_at=at,
    )
