"""Full-text search inside a publication, Vietnamese diacritic-insensitive, answering with Readium locators."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sachso.kit.text import fold, nfc

CONTEXT = 40


@dataclass(frozen=True)
class Passage:
    """The plain text of one reading-order resource (or PDF page) and where it sits."""

    href: str
    media_type: str
    text: str
    fragment: str | None = None  # "page=N" for a PDF page


def folded_with_map(text: str) -> tuple[str, list[int]]:
    """The folded text, and for each folded character the index of the character it came from."""
    folded: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for piece in fold(char):
            folded.append(piece)
            origin.append(index)
    return "".join(folded), origin


def search(passages: list[Passage], query: str, *, limit: int = 100) -> list[dict[str, Any]]:
    needle = " ".join(fold(nfc(query)).split())
    if not needle:
        return []
    results: list[dict[str, Any]] = []
    total = len(passages)
    for number, passage in enumerate(passages):
        text = " ".join(nfc(passage.text).split())
        folded, origin = folded_with_map(text)
        start = folded.find(needle)
        while start >= 0 and len(results) < limit:
            first, last = origin[start], origin[start + len(needle) - 1] + 1
            locations: dict[str, Any] = {
                "progression": first / max(len(text), 1),
                "totalProgression": (number + first / max(len(text), 1)) / total,
            }
            if passage.fragment:
                locations["fragments"] = [passage.fragment]
            results.append(
                {
                    "href": passage.href,
                    "type": passage.media_type,
                    "locations": locations,
                    "text": {
                        "before": text[max(0, first - CONTEXT) : first],
                        "highlight": text[first:last],
                        "after": text[last : last + CONTEXT],
                    },
                }
            )
            start = folded.find(needle, start + len(needle))
        if len(results) >= limit:
            break
    return results
