"""What a publication is made of, independent of how it was read: the input to the manifest builder."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import PurePosixPath

XML_WHITE_SPACE = " \t\r\n"
_XML_SPACE_RUN = re.compile(r"[ \t\r\n]+")


def clean_text(value: str) -> str:
    """A title, a name or a label as people read it: NFC, each run of XML white space (spaces, tabs, line
    breaks: layout in the source) one space, and every other space kept — a no-break space between a number and
    its unit, or in "Hồ Chí Minh", is typography the author chose."""
    return _XML_SPACE_RUN.sub(" ", unicodedata.normalize("NFC", value)).strip(XML_WHITE_SPACE)


def title_from_file_name(file_name: str) -> str:
    """A title made from an uploaded file's name: its stem, underscores read as spaces; "" when it has no letter
    or digit (``.pdf``, ``___.epub``)."""
    name = PurePosixPath(file_name.replace("\\", "/")).name
    title = clean_text((name.rsplit(".", 1)[0] if "." in name else name).replace("_", " "))
    return title if any(character.isalnum() for character in title) else ""


def choose_title(submitted: str, embedded: str, file_name: str | None) -> tuple[str, tuple[str, ...]]:
    """The title, and why it is worth a warning: the publisher's, else the file's own, else the uploaded file's
    name (a warning, so that staff can correct it); "" only when none of them gives one."""
    for title in (clean_text(submitted), clean_text(embedded)):
        if title:
            return title, ()
    from_name = title_from_file_name(file_name) if file_name else ""
    if from_name:
        return from_name, (f"the file has no title: {from_name!r} is taken from its name; give one in the metadata",)
    return "", ()


@dataclass(frozen=True)
class Contributor:
    name: str
    role: str = "aut"  # MARC relator code


@dataclass(frozen=True)
class Encryption:
    """An entry of META-INF/encryption.xml (LCP content encryption or font obfuscation)."""

    algorithm: str
    compression: str | None = None  # "deflate" when the resource was deflated before encryption
    original_length: int | None = None
    profile: str | None = None
    scheme: str | None = None


@dataclass(frozen=True)
class Item:
    """A manifest item of the package; ``href`` is its path inside the container."""

    id: str
    href: str
    media_type: str
    properties: tuple[str, ...] = ()
    size: int = 0
    present: bool = True
    encryption: Encryption | None = None


@dataclass(frozen=True)
class SpineItem:
    idref: str
    linear: bool = True
    properties: tuple[str, ...] = ()


@dataclass(frozen=True)
class NavEntry:
    title: str
    href: str  # container path, with fragment
    children: tuple[NavEntry, ...] = ()


@dataclass(frozen=True)
class Metadata:
    title: str
    identifier: str = ""
    subtitle: str = ""
    languages: tuple[str, ...] = ()
    contributors: tuple[Contributor, ...] = ()
    publisher: str = ""
    description: str = ""
    subjects: tuple[str, ...] = ()
    published: str = ""
    modified: str = ""
    isbn: str = ""


@dataclass(frozen=True)
class Rendition:
    layout: str = "reflowable"  # or "fixed"
    spread: str = "auto"
    orientation: str = "auto"
    flow: str = "auto"


@dataclass(frozen=True)
class EpubPackage:
    version: str
    metadata: Metadata
    items: tuple[Item, ...]
    spine: tuple[SpineItem, ...]
    page_progression: str = "default"  # ltr, rtl or default
    rendition: Rendition = field(default_factory=Rendition)
    toc: tuple[NavEntry, ...] = ()
    landmarks: tuple[NavEntry, ...] = ()
    page_list: tuple[NavEntry, ...] = ()
    cover_id: str | None = None
    warnings: tuple[str, ...] = ()

    def item(self, item_id: str) -> Item | None:
        return next((item for item in self.items if item.id == item_id), None)


@dataclass(frozen=True)
class PdfDocument:
    metadata: Metadata
    page_count: int
    outline: tuple[NavEntry, ...] = ()  # hrefs are "#page=N"
    size: int = 0
