"""Readium Web Publication Manifests (RWPM) and positions lists, from an EPUB package or a PDF.

Follows the RWPM and its EPUB profile as Readium's own parsers do: ``readingOrder`` is the linear spine (every
entry: a repeated one too, told apart by ``?occurrence=n``),
``resources`` every other manifest item (non-linear spine items included), the
navigation document is ``contents``, the cover image ``cover``; fixed layout, spreads, orientation and page
progression become ``metadata.presentation`` and ``readingProgression`` (``ltr`` or ``rtl``, from the language when
the book does not say: :mod:`reader.domain.direction`); ``properties.page`` comes from
``page-spread-*``; ``contains`` lists MathML, SVG and scripts; encrypted resources say how.

Hrefs are container paths relative to the manifest's URL, so the manifest and its resources share one base.
"""

from __future__ import annotations

import math
from typing import Any

from reader.domain.direction import reading_progression
from reader.domain.publication import EpubPackage, Item, Metadata, NavEntry, PdfDocument

CONTEXT = "https://readium.org/webpub-manifest/context.jsonld"
WEBPUB = "application/webpub+json"
POSITION_CHARS = 1024  # Readium: one position per 1,024 bytes of a reflowable resource

_RELATORS = {"aut": "author", "trl": "translator", "edt": "editor", "ill": "illustrator", "art": "artist",
             "clr": "colorist", "nrt": "narrator", "pbl": "publisher"}  # fmt: skip
# A resource the spine repeats is read again at each place: the places after the first are told apart by a query
# (the RWPM wants reading-order links unique; the resource served is the same, a query does not change it).
OCCURRENCE = "occurrence"
_CONTAINS = {"mathml": "mathml", "svg": "svg", "scripted": "js", "remote-resources": "remote-resources"}


def path_of(href: str) -> str:
    """The resource an href of the manifest names (a repeated place's query left out)."""
    return href.split("?", 1)[0]


def _metadata(metadata: Metadata, *, book_type: str = "http://schema.org/Book") -> dict[str, Any]:
    result: dict[str, Any] = {"@type": book_type, "title": metadata.title}
    if metadata.identifier:
        result["identifier"] = metadata.identifier
    if metadata.subtitle:
        result["subtitle"] = metadata.subtitle
    if metadata.languages:
        result["language"] = list(metadata.languages) if len(metadata.languages) > 1 else metadata.languages[0]
    for contributor in metadata.contributors:
        role = _RELATORS.get(contributor.role, "contributor")
        result.setdefault(role, []).append({"name": contributor.name})
    if metadata.publisher and "publisher" not in result:
        result["publisher"] = [{"name": metadata.publisher}]
    if metadata.description:
        result["description"] = metadata.description
    if metadata.subjects:
        result["subject"] = [{"name": subject} for subject in metadata.subjects]
    if metadata.published:
        result["published"] = metadata.published
    if metadata.modified:
        result["modified"] = metadata.modified
    return result


def _link(item: Item, *, rel: str | None = None, properties: dict[str, Any] | None = None) -> dict[str, Any]:
    link: dict[str, Any] = {"href": item.href, "type": item.media_type}
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
        link: dict[str, Any] = {"href": entry.href, "title": entry.title}
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
            link["href"] = f"{item.href}?{OCCURRENCE}={occurrence}"
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
        "readingOrder": [{"href": href, "type": "application/pdf", "length": document.size}],
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
            count = max(1, math.ceil(lengths.get(path_of(link["href"]), 0) / POSITION_CHARS))
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
