"""Scanned local documents (tài liệu địa chí): the rules, with no I/O.

Who may manage a document, which entries of a zip of scans are pages and in what order, which image formats are
accepted, how a Dublin Core description is cleaned, and how far a document has come (digitised → recognised →
corrected → published).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum

from sachso.kit.errors import Forbidden, InvalidInput
from sachso.kit.text import nfc

STAFF_ROLES = frozenset({"librarian", "library-admin"})
MAX_PAGES = 5_000
MAX_PAGE_PIXELS = 120_000_000  # 600 dpi A2 is ~70 MP; more than this is a decompression bomb, not a scan
_DIGITS = re.compile(r"(\d+)")


class PageFormat(StrEnum):
    JPEG = "image/jpeg"
    PNG = "image/png"
    TIFF = "image/tiff"
    JP2 = "image/jp2"


class Access(StrEnum):
    OPEN = "open"  # anyone reads it, no card, no loan
    ONLINE_ONLY = "online-only"  # lent; read online as watermarked page images


class OcrState(StrEnum):
    QUEUED = "queued"
    DONE = "done"
    FAILED = "failed"


def sniff_page(head: bytes) -> PageFormat | None:
    """The image format from the first bytes (the file name is not trusted)."""
    if head.startswith(b"\xff\xd8\xff"):
        return PageFormat.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PageFormat.PNG
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return PageFormat.TIFF
    if head.startswith((b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")):
        return PageFormat.JP2
    return None


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key putting ``page2`` before ``page10`` (numbers compare as numbers, text case-insensitively)."""
    return tuple((0, int(part)) if part.isdigit() else (1, part.casefold()) for part in _DIGITS.split(name) if part)


def is_page_candidate(name: str) -> bool:
    """Entries that could be pages: files, not folders, not the litter of Finder or Explorer."""
    base = name.rsplit("/", 1)[-1]
    return bool(base) and not name.endswith("/") and not base.startswith(".") and not name.startswith("__MACOSX/")


def page_order(names: list[str]) -> list[str]:
    """The page entries of an archive in reading order: natural sort on the whole path."""
    return sorted((name for name in names if is_page_candidate(name)), key=natural_key)


def check_page_count(count: int) -> None:
    if count == 0:
        raise InvalidInput("the upload holds no page image (TIFF, JPEG, PNG or JPEG 2000) and no PDF page")
    if count > MAX_PAGES:
        raise InvalidInput(f"the upload holds {count} pages; one document may have at most {MAX_PAGES}")


def check_page_pixels(name: str, width: int, height: int) -> None:
    if width * height > MAX_PAGE_PIXELS:
        raise InvalidInput(
            f"{name} is {width}×{height} pixels, more than {MAX_PAGE_PIXELS:,} (refused as a decompression bomb)"
        )


@dataclass(frozen=True)
class Staff:
    """The caller as the lending service's token describes them."""

    subject: str
    roles: frozenset[str]
    library_id: str | None


def ensure_staff_of(staff: Staff, library_id: str) -> None:
    """Only librarians and library admins of the owning library manage its documents; publishers never do."""
    if "publisher" in staff.roles or not staff.roles & STAFF_ROLES:
        raise Forbidden("only the owning library's staff manage its local documents")
    if not staff.library_id or staff.library_id != library_id:
        raise Forbidden(f"this document belongs to library {library_id}, not to yours")


@dataclass(frozen=True)
class DublinCore:
    """The fifteen-element set as local-documents librarians use it (coverage split into place and period)."""

    title: str = ""
    creators: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()
    description: str = ""
    publisher: str = ""
    date: str = ""
    type: str = "Text"
    format: str = ""
    identifier: str = ""
    source: str = ""
    languages: tuple[str, ...] = ("vi",)
    coverage_places: tuple[str, ...] = ()
    coverage_period: str = ""
    rights: str = ""

    def cleaned(self) -> DublinCore:
        """Every text in NFC with its spaces collapsed; empty list items dropped."""
        changes: dict[str, object] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, str):
                changes[item.name] = " ".join(nfc(value).split())
            else:
                changes[item.name] = tuple(" ".join(nfc(v).split()) for v in value if v.strip())
        return replace(self, **changes)  # type: ignore[arg-type]

    def searchable(self) -> list[str]:
        """The fields a catalogue search looks in."""
        return [self.title, *self.creators, *self.subjects, self.description, self.publisher, self.identifier,
                *self.coverage_places, self.coverage_period, self.source]  # fmt: skip


@dataclass(frozen=True)
class Progress:
    """How far one document has come, page by page."""

    pages: int
    recognised: int = 0
    failed: int = 0
    corrected: int = 0
    published: bool = False

    @property
    def recognition_complete(self) -> bool:
        return self.pages > 0 and self.recognised + self.failed >= self.pages

    @property
    def percent_recognised(self) -> float:
        return round(100 * self.recognised / self.pages, 1) if self.pages else 0.0


@dataclass(frozen=True)
class Correction:
    """One staff correction of a page's text, kept for the record."""

    page: int
    text: str
    corrected_by: str
    previous: str = ""
    note: str = field(default="")


def page_id(document_id: str, page: int) -> str:
    return f"{document_id}:{page:05d}"
