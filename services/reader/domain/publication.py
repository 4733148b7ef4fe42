"""What a publication is made of, independent of how it was read: the input to the manifest builder."""

from __future__ import annotations

from dataclasses import dataclass, field


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
