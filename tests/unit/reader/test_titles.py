"""Titles as authors wrote them (NFC, no-break spaces kept), and where a title comes from when a file has none."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from reader.adapters.epub import read_epub
from reader.adapters.pdf import read_pdf
from reader.domain.manifest import epub_manifest
from reader.domain.publication import choose_title, clean_text, title_from_file_name
from tests.crafted import epub_bytes, package, pdf_bytes, write

NBSP, NNBSP = "\u00a0", "\u202f"


def test_layout_white_space_collapses_and_typographic_spaces_stay() -> None:
    assert clean_text(f"  Hồ{NBSP}Chí{NBSP}Minh \n\t toàn tập ") == f"Hồ{NBSP}Chí{NBSP}Minh toàn tập"
    assert clean_text(f"100{NNBSP}km") == f"100{NNBSP}km"
    assert clean_text(unicodedata.normalize("NFD", "Truyện Kiều")) == "Truyện Kiều"


@pytest.mark.parametrize(
    ("name", "title"),
    [("Truyen_Kieu.pdf", "Truyen Kieu"), ("R-intro.pdf", "R-intro"), ("scans/Đắk Lắk.tar.pdf", "Đắk Lắk.tar"),
     (".pdf", ""), ("__.epub", ""), ("noextension", "noextension"), ("C:\\books\\sổ tay.pdf", "sổ tay")],
)  # fmt: skip
def test_titles_from_file_names(name: str, title: str) -> None:
    assert title_from_file_name(name) == title


def test_a_title_comes_from_the_publisher_then_the_file_then_its_name() -> None:
    assert choose_title("Nước nặng", "Heavy Water", "hefty.epub") == ("Nước nặng", ())
    assert choose_title(" ", "Heavy Water", "hefty.epub") == ("Heavy Water", ())
    title, warnings = choose_title("", "", "R-intro.pdf")
    assert title == "R-intro"
    assert "taken from its name" in warnings[0]
    assert choose_title("", "", None) == ("", ())
    assert choose_title("", "\n", "") == ("", ())


def test_an_epub_title_keeps_its_no_break_spaces_in_nfc(tmp_path: Path) -> None:
    title = unicodedata.normalize("NFD", f"Hồ{NBSP}Chí{NBSP}Minh\n   toàn tập")
    opf = package('<item id="c" href="chapter.xhtml" media-type="application/xhtml+xml"/>', '<itemref idref="c"/>',
                  title=title, metadata=f"<dc:creator>Nguyễn{NBSP}Du</dc:creator>")  # fmt: skip
    package_, _ = read_epub(write(tmp_path / "book.epub", epub_bytes(opf=opf)))
    manifest = epub_manifest(package_)
    assert manifest["metadata"]["title"] == f"Hồ{NBSP}Chí{NBSP}Minh toàn tập"
    assert manifest["metadata"]["author"] == [{"name": f"Nguyễn{NBSP}Du"}]


def test_a_pdf_title_keeps_its_no_break_spaces(tmp_path: Path) -> None:
    pdf = write(tmp_path / "book.pdf", pdf_bytes(info={"Title": f" Sổ tay{NBSP}Debian ", "Author": "Nhóm\n dịch"}))
    document = read_pdf(pdf)
    assert document.metadata.title == f"Sổ tay{NBSP}Debian"
    assert document.metadata.contributors[0].name == "Nhóm dịch"
    assert read_pdf(write(tmp_path / "untitled.pdf", pdf_bytes())).metadata.title == ""
