"""Packages the corpus lacks, in the shapes of the W3C EPUB and IDPF tests, read as ingest reads them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reader.adapters.epub import read_epub
from reader.domain.manifest import epub_manifest
from tests.crafted import chapter, container, epub_bytes, package, write

CHAPTER_ITEM = '<item id="c" href="chapter.xhtml" media-type="application/xhtml+xml"/>'


def manifest_of(path: Path) -> dict[str, Any]:
    package_, _ = read_epub(path)
    return epub_manifest(package_)


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
