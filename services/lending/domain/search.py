"""Catalogue search terms: folded words (see :mod:`sachso.kit.text`) of a title's searchable fields."""

from __future__ import annotations

import re

from sachso.kit.text import distinct_words as search_terms
from sachso.kit.text import fold, nfc, words

__all__ = ["fold", "nfc", "normalize_isbn", "search_terms", "words"]


def normalize_isbn(text: str) -> str:
    return re.sub(r"[^0-9Xx]", "", text).upper()
