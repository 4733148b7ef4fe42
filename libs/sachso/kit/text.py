"""Vietnamese-aware text comparison: "dak lak" finds "Đắk Lắk", "nguyen" finds "Nguyễn".

Text is stored in NFC; searches compare *folded* words: decomposed (NFD), combining marks removed, đ/Đ → d,
case-folded. Folding is lossy on purpose, so a query typed with or without diacritics finds the same text.
Pure functions, no I/O: service domains may use them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_WORD = re.compile(r"\w+", re.UNICODE)
_D = str.maketrans({"đ": "d", "Đ": "D"})


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.translate(_D))
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def distinct_words(*fields: str | Iterable[str]) -> list[str]:
    """Distinct folded words of every field, in first-seen order."""
    seen: dict[str, None] = {}
    for value in fields:
        for text in [value] if isinstance(value, str) else value:
            for word in words(text):
                seen.setdefault(word, None)
    return list(seen)
