"""HTTP conditional and range requests for one representation, per RFC 9110 (sections 13 and 14).

:func:`plan` decides what a GET or HEAD for a representation of ``length`` bytes gets:

- ``If-None-Match`` (weak comparison, ``*``) → 304 Not Modified;
- ``Range: bytes=…`` → 206 with one range, or ``multipart/byteranges`` for several; first-last, open-ended
  (``500-``) and suffix (``-500``) ranges; a last position past the end is clipped; a suffix longer than the
  representation is the whole of it; overlapping or adjacent ranges are coalesced;
- none of the ranges satisfiable → 416 with ``Content-Range: bytes */length``;
- ``If-Range`` with a strong ETag or the exact Last-Modified date: ranges only if it still matches, else 200;
- a Range header in another unit, malformed, or with more ranges than :data:`MAX_RANGES` is ignored (200), as
  section 14.2 allows (a server may ignore Range), rather than refused;
- positions are ASCII digits of any length (RFC 9110 sets no limit): one beyond every representation (more than
  :data:`MAX_POSITION_DIGITS` significant digits) means "past the end" and is never converted to an integer,
  so a 5,000-digit position is answered like any other (clipped, or unsatisfiable), not failed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

MAX_RANGES = 64
MAX_POSITION_DIGITS = 18  # 10**18 bytes is an exabyte: a longer position is past the end of any representation
BEYOND = 10**MAX_POSITION_DIGITS
# DIGIT is ASCII (RFC 5234); re.ASCII keeps \d and \s from matching other scripts' digits and spaces
_RANGE = re.compile(r"^[ \t]*([0-9]*)[ \t]*-[ \t]*([0-9]*)[ \t]*$", re.ASCII)
# The form nearly every client sends (one range, no white space, positions of at most MAX_POSITION_DIGITS digits),
# decided by one match; anything else takes the general parse, which gives the same answer for this form too.
_ONE_RANGE = re.compile(rf"bytes=([0-9]{{0,{MAX_POSITION_DIGITS}}})-([0-9]{{0,{MAX_POSITION_DIGITS}}})", re.ASCII)


def _position(digits: str) -> int:
    """A byte position; :data:`BEYOND` for one too long to be inside any representation."""
    significant = digits.lstrip("0")
    return int(significant or "0") if len(significant) <= MAX_POSITION_DIGITS else BEYOND


def _before(a: str, b: str) -> bool:
    """Whether the position written ``a`` is smaller than the one written ``b`` (any number of digits)."""
    a, b = a.lstrip("0"), b.lstrip("0")
    return (len(a), a) < (len(b), b)


@dataclass(frozen=True)
class ByteRange:
    first: int
    last: int  # inclusive, as in Content-Range

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    def content_range(self, total: int) -> str:
        return f"bytes {self.first}-{self.last}/{total}"


@dataclass(frozen=True)
class Full:
    """200 with the whole representation."""


@dataclass(frozen=True)
class NotModified:
    """304: the client's copy is current."""


@dataclass(frozen=True)
class Partial:
    """206 with these ranges (one: a plain body; several: multipart/byteranges)."""

    ranges: tuple[ByteRange, ...]


@dataclass(frozen=True)
class Unsatisfiable:
    """416 with ``Content-Range: bytes */length``."""


Plan = Full | NotModified | Partial | Unsatisfiable


def _etags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def _weak_match(a: str, b: str) -> bool:
    return a.removeprefix("W/") == b.removeprefix("W/")


def _one_range(first: str, last: str, length: int) -> list[ByteRange] | None:
    """The satisfiable range of ``bytes=first-last`` (each at most :data:`MAX_POSITION_DIGITS` digits, not both
    empty), as the general parse decides it."""
    if not first:
        suffix = int(last)
        return [ByteRange(max(0, length - suffix), length - 1)] if suffix > 0 and length > 0 else []
    start = int(first)
    if not last:
        return [ByteRange(start, length - 1)] if start < length else []
    end = int(last)
    if end < start:
        return None  # invalid range-spec: the whole header is invalid
    return [ByteRange(start, min(end, length - 1))] if start < length else []


def parse_ranges(header: str, length: int) -> list[ByteRange] | None:
    """The satisfiable ranges of a ``Range`` header, in request order; None when the header is to be ignored."""
    one = _ONE_RANGE.fullmatch(header)
    if one is not None and (one[1] or one[2]):
        return _one_range(one[1], one[2], length)
    unit, _, spec = header.partition("=")
    if unit.strip(" \t").lower() != "bytes" or not spec.strip(" \t"):
        return None
    parts = spec.split(",")
    if len(parts) > MAX_RANGES:
        return None
    ranges: list[ByteRange] = []
    for part in parts:
        if not part.strip(" \t"):
            continue  # RFC 9110 list syntax allows empty elements
        match = _RANGE.match(part)
        if match is None or (not match[1] and not match[2]):
            return None
        first, last = match[1], match[2]
        if first:
            if last and _before(last, first):
                return None  # invalid range-spec: the whole header is invalid
            start = _position(first)
            end = _position(last) if last else length - 1
            if start < length:
                ranges.append(ByteRange(start, min(end, length - 1)))
        else:
            suffix = _position(last)
            if suffix > 0 and length > 0:
                ranges.append(ByteRange(max(0, length - suffix), length - 1))
    return ranges


def coalesce(ranges: list[ByteRange]) -> tuple[ByteRange, ...]:
    """Merge overlapping and adjacent ranges, in ascending order."""
    if len(ranges) == 1:
        return (ranges[0],)
    merged: list[ByteRange] = []
    for current in sorted(ranges, key=lambda r: r.first):
        if merged and current.first <= merged[-1].last + 1:
            merged[-1] = ByteRange(merged[-1].first, max(merged[-1].last, current.last))
        else:
            merged.append(current)
    return tuple(merged)


def plan(length: int, etag: str, last_modified: str, headers: Mapping[str, str]) -> Plan:
    """What to answer to a GET/HEAD with these request headers (keys lower-case)."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = _etags(if_none_match)
        if "*" in tags or any(_weak_match(tag, etag) for tag in tags):
            return NotModified()
    header = headers.get("range")
    if header is None:
        return Full()
    if_range = headers.get("if-range")
    if if_range is not None:
        validator = if_range.strip()
        strong_etag = validator.startswith('"') and validator == etag and not etag.startswith("W/")
        if not strong_etag and validator != last_modified:
            return Full()
    ranges = parse_ranges(header, length)
    if ranges is None:
        return Full()
    if not ranges:
        return Unsatisfiable()
    return Partial(coalesce(ranges))
