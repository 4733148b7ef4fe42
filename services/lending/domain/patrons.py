"""Reader cards: applying remotely, verifying the email, approval, expiry and blocks."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from lending.errors import ApplicationStateError, CardCannotBorrow, VerificationFailed
from sachso.kit.errors import InvalidInput

VERIFICATION_CODE_LIFETIME = timedelta(minutes=15)
MAX_VERIFICATION_ATTEMPTS = 5


class CardStatus(StrEnum):
    PENDING_VERIFICATION = "pending-verification"  # applied, email not verified yet
    PENDING_APPROVAL = "pending-approval"  # verified, waiting for a librarian
    ACTIVE = "active"
    REJECTED = "rejected"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class Patron:
    id: str
    library_id: str
    display_name: str
    email: str
    preferred_language: str
    status: CardStatus
    card_number: str | None = None
    card_expires_at: datetime | None = None
    time_zone: str = "Asia/Ho_Chi_Minh"

    def borrowing_refusal(self, now: datetime) -> str | None:
        """Why this card cannot borrow now, or None when it can."""
        if self.status is CardStatus.BLOCKED:
            return "your card is blocked; please contact your library"
        if self.status is not CardStatus.ACTIVE:
            return "your card has not been approved yet"
        if self.card_expires_at is not None and self.card_expires_at <= now:
            return "your card has expired; renew it at your library"
        return None

    def ensure_can_borrow(self, now: datetime) -> None:
        refusal = self.borrowing_refusal(now)
        if refusal:
            raise CardCannotBorrow(refusal)


_NAME_PUNCTUATION = frozenset(" .'’-")
_LINK_LIKE = re.compile(r"[^\W\d_]\.[^\W\d_]", re.UNICODE)  # "evil.example": a dot between letters


def person_name(raw: str) -> str:
    """A reader's name as she gives it, NFC, or :class:`InvalidInput`: letters (any script, with Vietnamese
    diacritics), spaces and the punctuation names use. No digits, symbols or link-like text: the name is shown to
    staff and other services, and must never carry a message."""
    name = " ".join(unicodedata.normalize("NFC", raw).split())
    if not name or len(name) > 100:
        raise InvalidInput("give your name (at most 100 characters)")
    if any(not (char.isalpha() or char in _NAME_PUNCTUATION or unicodedata.category(char) == "Mn") for char in name):
        raise InvalidInput("a name has letters, spaces, apostrophes, hyphens and dots only")
    if _LINK_LIKE.search(name):
        raise InvalidInput("a name cannot look like a web address")
    return name


def hash_code(patron_id: str, code: str) -> str:
    """Codes are stored hashed; the patron id salts them."""
    return hashlib.sha256(f"{patron_id}:{code}".encode()).hexdigest()


@dataclass(frozen=True)
class Verification:
    code_hash: str
    expires_at: datetime
    attempts: int = 0

    def check(self, patron_id: str, code: str, now: datetime) -> None:
        if self.attempts >= MAX_VERIFICATION_ATTEMPTS:
            raise VerificationFailed("too many wrong codes; apply again for a new one")
        if now >= self.expires_at:
            raise VerificationFailed("the code has expired; ask for a new one")
        if not hmac.compare_digest(self.code_hash, hash_code(patron_id, code.strip())):
            raise VerificationFailed("the code is wrong")


def after_verification(status: CardStatus, *, auto_approve: bool) -> CardStatus:
    if status is not CardStatus.PENDING_VERIFICATION:
        raise ApplicationStateError(f"the application is {status}, not waiting for email verification")
    return CardStatus.ACTIVE if auto_approve else CardStatus.PENDING_APPROVAL


def ensure_decidable(status: CardStatus) -> None:
    if status is not CardStatus.PENDING_APPROVAL:
        raise ApplicationStateError(f"the application is {status}; only verified applications can be decided")


def card_number(library_code: str, sequence: int) -> str:
    """Card numbers name the library and a sequence: ``DL-000123``."""
    return f"{library_code.upper()}-{sequence:06d}"
