"""Readium Web Publication Manifests (RWPM) and positions lists, from an EPUB package or a PDF.

Follows the RWPM and its EPUB profile as Readium's own parsers do: ``readingOrder`` is the linear spine (every
entry: a repeated one too, told apart by ``?occurrence=n``),
``resources`` every other manifest item (non-linear spine items included), the
navigation document is ``contents``, the cover image ``cover``; fixed layout, spreads, orientation and page
progression become ``metadata.presentation`` and ``readingProgression`` (``ltr`` or ``rtl``, from the language when
the book does not say: :mod:`reader.domain.direction`); ``properties.page`` comes from
``page-spread-*``; ``contains`` lists MathML, SVG and scripts; encrypted resources say how.

Hrefs are the URLs of container paths relative to the manifest's URL (percent-encoded: :func:`url_of`), so the
manifest and its resources share one base.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from reader.domain.direction import reading_progression
from reader.domain.publication import EpubPackage, Item, Metadata, NavEntry, PdfDocument
from reader.domain.resource_paths import container_path_of, url_of

CONTEXT = "https://readium.org/webpub-manifest/context.jsonld"
WEBPUB = "application/webpub+json"
POSITION_CHARS = 1024  # Readium: one position per 1,024 bytes of a reflowable resource

_RELATORS = {"aut": "author", "trl": "translator", "edt": "editor", "ill": "illustrator", "art": "artist",
             "clr": "colorist", "nrt": "narrator", "pbl": "publisher"}  # fmt: skip
# A resource the spine repeats is read again at each place: the places after the first are told apart by a query
# (the RWPM wants reading-order links unique; the resource served is the same, a query does not change it).
OCCURRENCE = "occurrence"
_CONTAINS = {"mathml": "mathml", "svg": "svg", "scripted": "js", "remote-resources": "remote-resources"}


_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=%-]+")
_UUID = re.compile(r"(?:urn:uuid:)?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", re.IGNORECASE)
_ISBN = re.compile(r"(?:urn:isbn:|isbn:?\s*)?([0-9][0-9 -]{8,16}[0-9X])", re.IGNORECASE)
_PARTIAL_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
_LANGUAGE = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")


def identifiers(identifier: str) -> dict[str, Any]:
    """The package identifier as the RWPM wants it: ``identifier`` is a URI (a bare UUID or ISBN becomes its URN);
    any other identifier is kept as an ``altIdentifier`` value."""
    value = identifier.strip()
    if not value:
        return {}
    if uuid := _UUID.fullmatch(value):
        return {"identifier": f"urn:uuid:{uuid[1].lower()}"}
    isbn = _ISBN.fullmatch(value)
    digits = re.sub(r"[^0-9X]", "", isbn[1].upper()) if isbn else ""
    if len(digits) in (10, 13):
        return {"identifier": f"urn:isbn:{digits}"}
    if _URI.fullmatch(value):
        return {"identifier": value}
    return {"altIdentifier": [{"value": value}]}


def _moment(value: str) -> datetime | None:
    """A date or date and time as written in a package (``2012``, ``2012-03``, ISO 8601), or None."""
    value = value.strip()
    partial = _PARTIAL_DATE.fullmatch(value)
    if partial:
        value = f"{partial[1]}-{partial[2] or '01'}-{partial[3] or '01'}"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _date_time(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def published(value: str) -> str | None:
    """RFC 3339 ``date`` (a year or month alone is its first day) or ``date-time``, or None when not a date."""
    moment = _moment(value)
    if moment is None:
        return None
    return moment.date().isoformat() if _PARTIAL_DATE.fullmatch(value.strip()) else _date_time(moment)


def modified(value: str) -> str | None:
    """RFC 3339 ``date-time`` (a date alone is its midnight, UTC), or None when not a date."""
    moment = _moment(value)
    return _date_time(moment) if moment is not None else None


def languages(tags: tuple[str, ...]) -> list[str]:
    """BCP 47 tags (``en_US`` written ``en-US``); what is not a language tag is left out."""
    return [tag for tag in (raw.strip().replace("_", "-") for raw in tags) if _LANGUAGE.fullmatch(tag)]


def _metadata(metadata: Metadata, *, book_type: str = "http://schema.org/Book") -> dict[str, Any]:
    result: dict[str, Any] = {"@type": book_type, "title": metadata.title, **identifiers(metadata.identifier)}
    if metadata.subtitle:
        result["subtitle"] = metadata.subtitle
    tags = languages(metadata.languages)
    if tags:
        result["language"] = tags if len(tags) > 1 else tags[0]
    for contributor in metadata.contributors:
        role = _RELATORS.get(contributor.role, "contributor")
        result.setdefault(role, []).append({"name": contributor.name})
    if metadata.publisher and "publisher" not in result:
        result["publisher"] = [{"name": metadata.publisher}]
    if metadata.description:
        result["description"] = metadata.description
    if metadata.subjects:
        result["subject"] = [{"name": subject} for subject in metadata.subjects]
    if published(metadata.published):
        result["published"] = published(metadata.published)
    if modified(metadata.modified):
        result["modified"] = modified(metadata.modified)
    return result


def _link(item: Item, *, rel: str | None = None, properties: dict[str, Any] | None = None) -> dict[str, Any]:
    link: dict[str, Any] = {"href": url_of(item.href), "type": item.media_type}
    if rel:
        link["rel"] = rel
    props = dict(properties or {})
    contains = sorted({_CONTAINS[p] for p in item.properties if p in _CONTAINS})
    if contains:
        props["contains"] = contains
    if item.encryption is not None:
        encrypted: dict[str, Any] = {"algorithm": item.encryption.algorithm}
        for key in ("compression", "profile", "scheme"):
            value = getattr(item.encryption, key)
            if value:
                encrypted[key] = value
        if item.encryption.original_length is not None:
            encrypted["originalLength"] = item.encryption.original_length
        props["encrypted"] = encrypted
    if props:
        link["properties"] = props
    return link


def _nav(entries: tuple[NavEntry, ...]) -> list[dict[str, Any]]:
    links = []
    for entry in entries:
        link: dict[str, Any] = {"href": url_of(entry.href), "title": entry.title}
        if entry.children:
            link["children"] = _nav(entry.children)
        links.append(link)
    return links


def epub_manifest(package: EpubPackage, *, self_href: str = "manifest.json") -> dict[str, Any]:
    """The RWPM of an EPUB package."""
    metadata = _metadata(package.metadata)
    metadata["readingProgression"] = reading_progression(package.page_progression, package.metadata.languages)
    rendition = package.rendition
    presentation: dict[str, Any] = {"layout": "fixed" if rendition.layout == "pre-paginated" else "reflowable"}
    if rendition.spread != "auto":
        presentation["spread"] = {"none": "none", "landscape": "landscape", "both": "both"}.get(
            rendition.spread, "auto"
        )
    if rendition.orientation != "auto":
        presentation["orientation"] = rendition.orientation
    if rendition.flow != "auto":
        presentation["overflow"] = {"paginated": "paginated", "scrolled-continuous": "scrolled",
                                    "scrolled-doc": "scrolled"}.get(rendition.flow, "auto")  # fmt: skip
    metadata["presentation"] = presentation

    in_spine: set[str] = set()
    occurrences: dict[str, int] = {}
    reading_order = []
    for spine_item in package.spine:
        item = package.item(spine_item.idref)
        if item is None or not spine_item.linear:
            continue  # a spine item repeated is read again: every entry is kept, in order
        in_spine.add(item.id)
        properties: dict[str, Any] = {}
        for prop in spine_item.properties:
            if prop.startswith("page-spread-") or prop.startswith("rendition:page-spread-"):
                properties["page"] = prop.rsplit("-", 1)[1]
            elif prop == "rendition:layout-pre-paginated":
                properties["layout"] = "fixed"
            elif prop == "rendition:layout-reflowable":
                properties["layout"] = "reflowable"
        link = _link(item, properties=properties)
        occurrence = occurrences[item.href] = occurrences.get(item.href, 0) + 1
        if occurrence > 1:
            link["href"] = f"{url_of(item.href)}?{OCCURRENCE}={occurrence}"
        reading_order.append(link)

    resources = []
    for item in package.items:
        if item.id in in_spine:
            continue
        rel = None
        if "nav" in item.properties:
            rel = "contents"
        elif item.id == package.cover_id or "cover-image" in item.properties:
            rel = "cover"
        resources.append(_link(item, rel=rel))

    manifest: dict[str, Any] = {
        "@context": CONTEXT,
        "metadata": metadata,
        "links": [{"rel": "self", "href": self_href, "type": WEBPUB}],
        "readingOrder": reading_order,
        "resources": resources,
    }
    if package.toc:
        manifest["toc"] = _nav(package.toc)
    if package.landmarks:
        manifest["landmarks"] = _nav(package.landmarks)
    if package.page_list:
        manifest["pageList"] = _nav(package.page_list)
    return manifest


def pdf_manifest(
    document: PdfDocument, *, href: str = "publication.pdf", self_href: str = "manifest.json"
) -> dict[str, Any]:
    metadata = _metadata(document.metadata)
    metadata["numberOfPages"] = document.page_count
    metadata["readingProgression"] = "ltr"
    manifest: dict[str, Any] = {
        "@context": CONTEXT,
        "metadata": metadata,
        "links": [{"rel": "self", "href": self_href, "type": WEBPUB}],
        "readingOrder": [{"href": url_of(href), "type": "application/pdf", "length": document.size}],
        "resources": [],
    }
    if document.outline:
        manifest["toc"] = _nav(tuple(_prefixed(entry, href) for entry in document.outline))
    return manifest


def _prefixed(entry: NavEntry, href: str) -> NavEntry:
    return NavEntry(entry.title, f"{href}{entry.href}", tuple(_prefixed(child, href) for child in entry.children))


def positions(manifest: dict[str, Any], lengths: dict[str, int]) -> list[dict[str, Any]]:
    """Readium positions: one per page of a fixed layout or PDF, one per 1,024 bytes of a reflowable resource."""
    layout = manifest["metadata"].get("presentation", {}).get("layout", "reflowable")
    counted: list[tuple[dict[str, Any], int]] = []
    for link in manifest["readingOrder"]:
        if link["type"] == "application/pdf":
            count = manifest["metadata"].get("numberOfPages", 1)
        elif link.get("properties", {}).get("layout", layout) == "fixed":
            count = 1
        else:
            count = max(1, math.ceil(lengths.get(container_path_of(link["href"]), 0) / POSITION_CHARS))
        counted.append((link, count))
    total = sum(count for _, count in counted)
    result = []
    position = 1
    for link, count in counted:
        for index in range(count):
            locations: dict[str, Any] = {
                "progression": index / count,
                "position": position,
                "totalProgression": (position - 1) / total,
            }
            if link["type"] == "application/pdf":
                locations["fragments"] = [f"page={index + 1}"]
            result.append({"href": link["href"], "type": link["type"], "locations": locations})
            position += 1
    return result
