"""License Status Documents: the states of a licence, what may happen next, and messages in vi and en.

ready (issued, no device yet) → active (a device registered) → returned | expired | revoked | cancelled.
Ending states are final: a late or repeated event never revives a licence. A licence that ends before any device
registered is *cancelled* when returned and *expired* when its loan runs out.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    READY = "ready"
    ACTIVE = "active"
    RETURNED = "returned"
    EXPIRED = "expired"
    REVOKED = "revoked"
    CANCELLED = "cancelled"


LIVE = frozenset({Status.READY, Status.ACTIVE})

MESSAGES = {
    "vi": {
        Status.READY: "Giấy phép đã sẵn sàng: hãy mở sách trong ứng dụng đọc.",
        Status.ACTIVE: "Giấy phép đang có hiệu lực.",
        Status.RETURNED: "Sách đã được trả.",
        Status.EXPIRED: "Lượt mượn đã hết hạn.",
        Status.REVOKED: "Thư viện đã thu hồi giấy phép này.",
        Status.CANCELLED: "Giấy phép đã bị hủy trước khi được dùng.",
    },
    "en": {
        Status.READY: "The licence is ready: open the book in your reading app.",
        Status.ACTIVE: "The licence is active.",
        Status.RETURNED: "The book has been returned.",
        Status.EXPIRED: "The loan has expired.",
        Status.REVOKED: "The library revoked this licence.",
        Status.CANCELLED: "The licence was cancelled before it was used.",
    },
}


def language(accept_language: str | None) -> str:
    """vi unless the client prefers English (Vietnamese first, as the platform is)."""
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("vi"):
            return "vi"
        if tag.startswith("en"):
            return "en"
    return "vi"


def after(status: Status, candidate: Status) -> Status:
    """The state after an event proposing ``candidate``: ending states are final."""
    return status if status not in LIVE else candidate
