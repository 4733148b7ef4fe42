"""Tesseract's hOCR output read into words with boxes, lines of text and the page's plain text (no I/O).

hOCR (http://kba.cloud/hocr-spec/1.2/) is XHTML whose ``ocrx_word`` spans carry ``title="bbox x0 y0 x1 y1; x_wconf
NN"``. It is kept as produced (the text layer with word boxes); this module turns it into what search, screen
readers and IIIF annotations need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from sachso.kit.text import fold, nfc

_BBOX = re.compile(r"bbox (\d+) (\d+) (\d+) (\d+)")
_CONF = re.compile(r"x_wconf (\d+)")
LINE_CLASSES = frozenset({"ocr_line", "ocr_caption", "ocr_header", "ocr_textfloat"})
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=True)


@dataclass(frozen=True)
class Word:
    text: str
    box: tuple[int, int, int, int]  # x, y, width, height in page pixels
    confidence: int = 0


@dataclass(frozen=True)
class Line:
    words: tuple[Word, ...]

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)

    @property
    def box(self) -> tuple[int, int, int, int]:
        x0 = min(w.box[0] for w in self.words)
        y0 = min(w.box[1] for w in self.words)
        x1 = max(w.box[0] + w.box[2] for w in self.words)
        y1 = max(w.box[1] + w.box[3] for w in self.words)
        return x0, y0, x1 - x0, y1 - y0


@dataclass(frozen=True)
class TextLayer:
    lines: tuple[Line, ...]

    @property
    def text(self) -> str:
        """The page's text, one line per line (NFC)."""
        return "\n".join(line.text for line in self.lines)

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(word for line in self.lines for word in line.words)


def _box(title: str) -> tuple[int, int, int, int] | None:
    found = _BBOX.search(title)
    if not found:
        return None
    x0, y0, x1, y1 = (int(value) for value in found.groups())
    return x0, y0, x1 - x0, y1 - y0


def parse_hocr(data: bytes) -> TextLayer:
    """Lines of words with their boxes; empty words (Tesseract emits some) are dropped."""
    root = etree.fromstring(data, _PARSER) if data.strip() else None
    if root is None:
        return TextLayer(())
    lines: list[Line] = []
    for line in root.iter():
        if not isinstance(line.tag, str) or not LINE_CLASSES & set((line.get("class") or "").split()):
            continue
        words: list[Word] = []
        for span in line.iter():
            if not isinstance(span.tag, str) or "ocrx_word" not in (span.get("class") or "").split():
                continue
            text = nfc(" ".join("".join(span.itertext()).split()))
            box = _box(span.get("title") or "")
            if text and box is not None:
                confidence = _CONF.search(span.get("title") or "")
                words.append(Word(text, box, int(confidence.group(1)) if confidence else 0))
        if words:
            lines.append(Line(tuple(words)))
    return TextLayer(tuple(lines))


def corrected_layer(layer: TextLayer, text: str) -> TextLayer:
    """A layer for staff-corrected text: lines keep their boxes where the line count still matches, words are
    re-split evenly across the old line box (good enough to highlight a hit on the page)."""
    new_lines = [" ".join(nfc(line).split()) for line in text.splitlines() if line.strip()]
    result: list[Line] = []
    for index, line_text in enumerate(new_lines):
        old = layer.lines[index] if index < len(layer.lines) else None
        x, y, width, height = old.box if old is not None else (0, 0, 0, 0)
        tokens = line_text.split()
        total = sum(len(token) for token in tokens) + max(len(tokens) - 1, 0)
        cursor = 0
        words = []
        for token in tokens:
            left = x + (width * cursor // total if total else 0)
            right = x + (width * (cursor + len(token)) // total if total else 0)
            words.append(Word(token, (left, y, max(right - left, 0), height), 100))
            cursor += len(token) + 1
        result.append(Line(tuple(words)))
    return TextLayer(tuple(result))


def matching_boxes(layer: TextLayer, query: str) -> list[tuple[int, int, int, int]]:
    """Boxes of every run of consecutive words that matches the query, diacritics optional."""
    needle = fold(nfc(query)).split()
    if not needle:
        return []
    words = layer.words
    folded = [fold(word.text).strip(".,;:!?\"'()[]«»“”") for word in words]
    boxes: list[tuple[int, int, int, int]] = []
    for start in range(len(words) - len(needle) + 1):
        window = folded[start : start + len(needle)]
        # every word but the last is whole; the last may be the start of a word ("dat" finds "đặt," and "đặtt")
        if window[:-1] == needle[:-1] and window[-1].startswith(needle[-1]):
            boxes.extend(word.box for word in words[start : start + len(needle)])
    return boxes
