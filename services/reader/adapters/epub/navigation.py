"""The EPUB's table of contents and other navigation: the EPUB 3 nav document and the EPUB 2 NCX."""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from typing import Any

from lxml import etree

from reader.adapters.epub.xml_safety import PARSER
from reader.domain.publication import (
    NavEntry,
    clean_text,
)
from reader.domain.resource_paths import resolve_reference

NS = {
    "opf": "http://www.idpf.org/2007/opf",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xhtml": "http://www.w3.org/1999/xhtml",
    "epub": "http://www.idpf.org/2007/ops",
    "ncx": "http://www.daisy.org/z3986/2005/ncx/",
    "enc": "http://www.w3.org/2001/04/xmlenc#",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "comp": "http://www.idpf.org/2016/encryption#compression",
}


def _text(element: Any) -> str:
    return clean_text("".join(element.itertext())) if element is not None else ""


Resolve = Callable[[str], str]  # a reference in one document -> the container path it names (fragment kept)


def resolver(document_path: str, entries: Mapping[str, str]) -> Resolve:
    base_dir = posixpath.dirname(document_path)
    return lambda href: resolve_reference(base_dir, href, entries)


def _nav_entries(ol: Any, resolve: Resolve) -> tuple[NavEntry, ...]:
    entries = []
    for li in ol.findall("xhtml:li", NS):
        anchor = li.find("xhtml:a", NS)
        label = anchor if anchor is not None else li.find("xhtml:span", NS)
        child = li.find("xhtml:ol", NS)
        href = resolve(anchor.get("href", "")) if anchor is not None else ""
        entries.append(NavEntry(_text(label), href, _nav_entries(child, resolve) if child is not None else ()))
    return tuple(entries)


def parse_nav(content: bytes, resolve: Resolve) -> dict[str, tuple[NavEntry, ...]]:
    root = etree.fromstring(content, PARSER)
    if root is None:
        return {}
    found: dict[str, tuple[NavEntry, ...]] = {}
    for nav in root.iter("{%s}nav" % NS["xhtml"]):  # noqa: UP031
        kind = nav.get("{%s}type" % NS["epub"], "")  # noqa: UP031
        ol = nav.find("xhtml:ol", NS)
        if ol is not None and kind in ("toc", "landmarks", "page-list"):
            found.setdefault(kind, _nav_entries(ol, resolve))
    return found


def _ncx_points(parent: Any, resolve: Resolve) -> tuple[NavEntry, ...]:
    entries = []
    for point in parent.findall("ncx:navPoint", NS):
        label = point.find("ncx:navLabel/ncx:text", NS)
        content = point.find("ncx:content", NS)
        href = resolve(content.get("src", "")) if content is not None else ""
        entries.append(NavEntry(_text(label), href, _ncx_points(point, resolve)))
    return tuple(entries)


def parse_ncx(content: bytes, resolve: Resolve) -> dict[str, tuple[NavEntry, ...]]:
    root = etree.fromstring(content, PARSER)
    if root is None:
        return {}
    result: dict[str, tuple[NavEntry, ...]] = {}
    nav_map = root.find("ncx:navMap", NS)
    if nav_map is not None:
        result["toc"] = _ncx_points(nav_map, resolve)
    page_list = root.find("ncx:pageList", NS)
    if page_list is not None:
        pages = []
        for target in page_list.findall("ncx:pageTarget", NS):
            content_el = target.find("ncx:content", NS)
            href = resolve(content_el.get("src", "")) if content_el is not None else ""
            pages.append(NavEntry(_text(target.find("ncx:navLabel/ncx:text", NS)), href))
        result["page-list"] = tuple(pages)
    return result
