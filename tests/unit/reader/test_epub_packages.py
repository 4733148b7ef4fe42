"""Packages the corpus lacks, in the shapes of the W3C EPUB and IDPF tests, read as ingest reads them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reader.adapters.epub import read_epub
from reader.domain.manifest import epub_manifest
from tests.crafted import chapter, container, epub_bytes, package, write
from tests.official_schemas import PUBLICATION, assert_valid

CHAPTER_ITEM = '<item id="c" href="chapter.xhtml" media-type="application/xhtml+xml"/>'


def manifest_of(path: Path) -> dict[str, Any]:
    """The manifest of a crafted book, which must be valid against the official RWPM schema."""
    package_, _ = read_epub(path)
    manifest = epub_manifest(package_)
    assert_valid(manifest, PUBLICATION)
    return manifest


def test_the_first_package_in_the_container_is_the_default_rendition(tmp_path: Path) -> None:
    """EPUB 3 Multiple-Rendition: a reading system uses the first rootfile (W3C ocf-package_multiple)."""
    default = package(CHAPTER_ITEM, '<itemref idref="c"/>', title="Bản mặc định")
    braille = package(
        '<item id="b" href="braille.xhtml" media-type="application/xhtml+xml"/>', '<itemref idref="b"/>',
        title="Bản chữ nổi",
    )  # fmt: skip
    book = epub_bytes(
        [("OPS/braille.opf", braille), ("OPS/braille.xhtml", chapter("⠃⠗⠁⠊⠇⠇⠑"))],
        container=container("OPS/package.opf", "OPS/braille.opf"),
        opf=default,
    )
    manifest = manifest_of(write(tmp_path / "book.epub", book))
    assert manifest["metadata"]["title"] == "Bản mặc định"
    assert [link["href"] for link in manifest["readingOrder"]] == ["OPS/chapter.xhtml"]


def test_references_from_the_container_root_are_resolved(tmp_path: Path) -> None:
    """A reference starting with '/' is relative to the container's root (W3C pkg-manifest root-relative)."""
    opf = package(
        '<item id="c" href="/OPS/chapter.xhtml" media-type="application/xhtml+xml"/>'
        '<item id="n" href="/OPS/nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'
        '<item id="s" href="/Styles/book%20style.css" media-type="text/css"/>',
        '<itemref idref="c"/>',
    )
    nav = """<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">
<head><title>nav</title></head><body><nav epub:type="toc"><ol><li><a href="/OPS/chapter.xhtml#p1">Một</a></li>
</ol></nav></body></html>""".encode()
    book = epub_bytes([("OPS/nav.xhtml", nav), ("Styles/book style.css", b"p { margin: 0 }")], opf=opf)
    package_, sizes = read_epub(write(tmp_path / "book.epub", book))
    manifest = manifest_of(tmp_path / "book.epub")
    assert [link["href"] for link in manifest["readingOrder"]] == ["OPS/chapter.xhtml"]
    assert sorted(link["href"] for link in manifest["resources"]) == ["OPS/nav.xhtml", "Styles/book%20style.css"]
    assert manifest["toc"] == [{"href": "OPS/chapter.xhtml#p1", "title": "Một"}]
    assert all(item.present and item.href in sizes for item in package_.items)
    assert package_.warnings == ()


def test_every_spine_entry_is_in_the_reading_order_a_repeated_one_too(tmp_path: Path) -> None:
    """W3C pkg-spine-duplicate-item: four spine entries over two items are four reading-order entries."""
    opf = package(
        CHAPTER_ITEM + '<item id="d" href="second.xhtml" media-type="application/xhtml+xml"/>',
        '<itemref idref="c"/><itemref idref="d"/><itemref idref="c"/><itemref idref="d" linear="no"/>'
        '<itemref idref="d"/>',
    )
    book = epub_bytes([("OPS/second.xhtml", chapter("Hai"))], opf=opf)
    manifest = manifest_of(write(tmp_path / "book.epub", book))
    assert [link["href"] for link in manifest["readingOrder"]] == [
        "OPS/chapter.xhtml",
        "OPS/second.xhtml",
        "OPS/chapter.xhtml?occurrence=2",  # the RWPM wants reading-order links unique: a query tells them apart
        "OPS/second.xhtml?occurrence=2",
    ]
    assert manifest["resources"] == []  # the items are in the reading order, so not among the resources


@pytest.mark.parametrize(("language", "expected"), [("ar", "rtl"), ("he", "rtl"), ("vi", "ltr"), ("", "ltr")])
def test_a_book_that_does_not_say_turns_as_its_language_is_written(
    tmp_path: Path, language: str, expected: str
) -> None:
    """W3C pkg-spine-ppd: no page-progression-direction, so the primary language decides; never 'auto'."""
    book = epub_bytes(opf=package(CHAPTER_ITEM, '<itemref idref="c"/>', language=language))
    assert manifest_of(write(tmp_path / "book.epub", book))["metadata"]["readingProgression"] == expected
