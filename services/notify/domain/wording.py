"""How notices put times and names into words, in the patron's language and time zone. NFC throughout."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from notify.domain.notices import Language
from sachso.kit.text import nfc

_EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def moment(value: datetime, language: Language, time_zone: ZoneInfo) -> str:
    """``14:30 ngày 06/03/2025`` or ``14:30 on 6 March 2025``, in the patron's own time zone."""
    local = value.astimezone(time_zone)
    if language is Language.VI:
        return f"{local:%H:%M} ngày {local:%d/%m/%Y}"
    return f"{local:%H:%M} on {local.day} {_EN_MONTHS[local.month - 1]} {local.year}"


def normalized(text: str) -> str:
    """Text as patrons get it: NFC (so "ệ" is one code point), no trailing spaces, one final newline at most."""
    lines = [line.rstrip() for line in nfc(text).strip("\n").splitlines()]
    return "\n".join(lines)
