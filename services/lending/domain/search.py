"""Vietnamese-aware search terms: "dak lak" finds "Đắk Lắk", "nguyen" finds "Nguyễn".

Text is stored in NFC; search compares *folded* words: decomposed (NFD), combining marks removed, đ/Đ → d,
case-folded. Folding is lossy on purpose, so a search with diacritics also finds text typed without them.
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


def search_terms(*fields: str | Iterable[str]) -> list[str]:
    """Distinct folded words of every field, in first-seen order (what the catalogue indexes)."""
    seen: dict[str, None] = {}
    for value in fields:
        for text in [value] if isinstance(value, str) else value:
            for word in words(text):
                seen.setdefault(word, None)
    return list(seen)


def normalize_isbn(text: str) -> str:
    return re.sub(r"[^0-9Xx]", "", text).upper()
