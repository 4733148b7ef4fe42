"""The archive check, on small crafted EPUBs (files on disk, no servers): every entry is checked as XML."""

from __future__ import annotations

from pathlib import Path

import pytest

from reader.adapters.epub import check_archive
from reader.domain.packaging import Limits, sniffs_as_xml
from reader.errors import UnsafeFile
from tests.crafted import PACKAGE, container, epub_bytes, write

EXTERNAL = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'


@pytest.mark.parametrize(
    "head",
    [
        b"<?xml version='1.0'?><x/>",
        b"\n\t  <!DOCTYPE x><x/>",
        b"\xef\xbb\xbf<x/>",
        "\ufeff<x/>".encode("utf-16-le"),
        "\ufeff<x/>".encode("utf-16-be"),
        "<x/>".encode("utf-16-le"),
        "<x/>".encode("utf-16-be"),
    ],
)
def test_markup_is_recognised_by_its_bytes(head: bytes) -> None:
    assert sniffs_as_xml(head)


@pytest.mark.parametrize("head", [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"body { color: red }", b"", b"GIF89a"])
def test_other_bytes_are_not_markup(head: bytes) -> None:
    assert not sniffs_as_xml(head)


@pytest.mark.parametrize("name", ["OPS/package.dat", "OPS/images/cover.jpg", "OPS/notes", "OPS/style.css", "x.bin"])
def test_an_unsafe_document_is_refused_whatever_it_is_called(tmp_path: Path, name: str) -> None:
    book = write(tmp_path / "book.epub", epub_bytes([(name, EXTERNAL)]))
    with pytest.raises(UnsafeFile, match=f"{name}: declares the external entity"):
        check_archive(book, Limits())


def test_an_unsafe_entity_far_behind_white_space_is_still_seen(tmp_path: Path) -> None:
    padded = b" \n\t" * 300_000 + EXTERNAL.removeprefix(b'<?xml version="1.0"?>')
    book = write(tmp_path / "book.epub", epub_bytes([("OPS/padded.txt", padded)]))
    with pytest.raises(UnsafeFile, match="external entity"):
        check_archive(book, Limits())


def test_a_package_document_that_does_not_parse_is_reported_whatever_it_is_called(tmp_path: Path) -> None:
    broken = PACKAGE.replace(b"</metadata>", b"</metadta>")
    book = write(
        tmp_path / "book.epub",
        epub_bytes(
            [("OPS/images/photo.jpg", b"\xff\xd8\xff\xe0 not xml at all")],
            container=container("OPS/package.dat"),
            opf_path="OPS/package.dat",
            opf=broken,
        ),
    )
    warnings = check_archive(book, Limits())
    assert len(warnings) == 1
    assert warnings[0].startswith("OPS/package.dat is not well-formed XML (mismatched tag")
