"""Is an uploaded file safe to open, and what is it? Decided from its first bytes and its zip directory.

Refusals (the file is not accepted): not an EPUB or PDF; zip bombs (an entry or the whole archive expanding more
than :attr:`Limits.max_ratio` times, or beyond :attr:`Limits.max_total_bytes`), too many entries, path traversal
(``..``), absolute paths, drive letters or backslashes, duplicate names, symbolic links, encrypted entries.
"""

from __future__ import annotations

import posixpath
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

EPUB = "application/epub+zip"
PDF = "application/pdf"
_S_IFMT = 0o170000
_S_IFLNK = 0o120000


class Format(StrEnum):
    EPUB = EPUB
    PDF = PDF


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 512 * 1024 * 1024
    max_total_bytes: int = 2 * 1024 * 1024 * 1024  # uncompressed, all entries together
    max_entries: int = 20_000
    max_ratio: int = 200  # uncompressed / compressed, per entry and overall


@dataclass(frozen=True)
class ZipEntry:
    name: str
    compressed_size: int
    size: int
    external_attr: int = 0
    flag_bits: int = 0
    create_system: int = 3


def sniff(head: bytes, zip_names: list[str] | None = None) -> Format | None:
    """The format from the file's own bytes and zip directory (the declared type and file name are not trusted).

    An EPUB is a zip holding ``META-INF/container.xml``; real books sometimes lack the ``mimetype`` entry or do
    not put it first, which :func:`ocf_warnings` reports without refusing the book.
    """
    if head.startswith(b"%PDF-"):
        return Format.PDF
    if head.startswith(b"PK\x03\x04") and zip_names is not None and "META-INF/container.xml" in zip_names:
        return Format.EPUB
    return None


def ocf_warnings(zip_names: list[str], mimetype: bytes | None) -> list[str]:
    if mimetype is None:
        return ["the archive has no mimetype entry"]
    problems = []
    if zip_names[0] != "mimetype":
        problems.append("the mimetype entry is not the first in the archive")
    if mimetype.strip() != EPUB.encode():
        problems.append(f"the mimetype entry says {mimetype[:40]!r}, not {EPUB}")
    return problems


_BYTE_ORDER_MARKS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)


def sniffs_as_xml(head: bytes) -> bool:
    """Whether the first bytes of an entry start a markup document ('<' after a byte order mark and white
    space), whatever the entry is called."""
    encoding = "latin-1"
    for mark, marked in _BYTE_ORDER_MARKS:
        if head.startswith(mark):
            head, encoding = head[len(mark) :], marked
            break
    else:
        if head[:2] == b"\x00<":
            encoding = "utf-16-be"
        elif head[:2] == b"<\x00":
            encoding = "utf-16-le"
    return head.decode(encoding, errors="ignore").lstrip(" \t\r\n").startswith("<")


_DRIVE = re.compile(r"^[A-Za-z]:")


def path_problem(name: str) -> str | None:
    if not name or "\x00" in name:
        return "an entry has an empty name or a NUL byte"
    if "\\" in name:
        return f"entry {name!r} uses a backslash (a Windows path)"
    if name.startswith("/") or _DRIVE.match(name):
        return f"entry {name!r} has an absolute path"
    if ".." in name.split("/"):
        return f"entry {name!r} climbs out of the archive (path traversal)"
    return None


def zip_problems(entries: list[ZipEntry], limits: Limits) -> list[str]:
    """Every reason to refuse this archive (empty when it is safe to open)."""
    problems: list[str] = []
    if len(entries) > limits.max_entries:
        return [f"the archive has {len(entries)} entries, more than the {limits.max_entries} allowed"]
    seen: set[str] = set()
    total = compressed = 0
    for entry in entries:
        problem = path_problem(entry.name)
        if problem:
            problems.append(problem)
        # names that differ only in case or Unicode form would be one resource to a reading system
        normalised = unicodedata.normalize("NFC", posixpath.normpath(entry.name)).casefold()
        if normalised in seen:
            problems.append(f"entry {entry.name!r} appears twice")
        seen.add(normalised)
        if entry.create_system == 3 and (entry.external_attr >> 16) & _S_IFMT == _S_IFLNK:
            problems.append(f"entry {entry.name!r} is a symbolic link")
        if entry.flag_bits & 0x1:
            problems.append(f"entry {entry.name!r} is encrypted")
        if entry.size > limits.max_ratio * max(entry.compressed_size, 1) and entry.size > 1024 * 1024:
            ratio = entry.size // max(entry.compressed_size, 1)
            problems.append(f"entry {entry.name!r} expands {ratio} times (zip bomb)")
        total += entry.size
        compressed += entry.compressed_size
    if total > limits.max_total_bytes:
        problems.append(f"the archive expands to {total} bytes, more than the {limits.max_total_bytes} allowed")
    elif total > limits.max_ratio * max(compressed, 1) and total > 1024 * 1024:
        problems.append(f"the archive expands {total // max(compressed, 1)} times as a whole (zip bomb)")
    return problems
