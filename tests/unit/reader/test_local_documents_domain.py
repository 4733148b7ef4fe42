"""Local documents: page order, image formats, who may manage them, descriptions, hOCR."""

from __future__ import annotations

import pytest

from reader.domain.hocr import corrected_layer, matching_boxes, parse_hocr
from reader.domain.local_documents import (
    DublinCore,
    PageFormat,
    Staff,
    check_page_pixels,
    ensure_staff_of,
    page_order,
    sniff_page,
)
from sachso.kit.errors import Forbidden, InvalidInput

HOCR = """<?xml version="1.0" encoding="UTF-8"?>
<html xmlns="http://www.w3.org/1999/xhtml"><body><div class='ocr_page' title='bbox 0 0 1000 800'>
<span class='ocr_line' title="bbox 10 10 400 50">
<span class='ocrx_word' title='bbox 10 10 100 50; x_wconf 91'>Cài</span>
<span class='ocrx_word' title='bbox 110 10 200 50; x_wconf 88'>đặt</span>
<span class='ocrx_word' title='bbox 210 10 400 50'>phần</span></span>
<span class='ocr_line' title="bbox 10 60 300 100"><span class='ocrx_word' title='bbox 10 60 300 100'>mềm.</span>
<span class='ocrx_word' title='bbox 300 60 300 100'> </span></span>
</div></body></html>"""


def test_pages_come_in_natural_order_without_folders_or_litter() -> None:
    names = ["scan/page10.tif", "scan/page2.tif", "scan/", "scan/page1.tif", "__MACOSX/scan/._page1.tif",
             "scan/.DS_Store", "scan/Page3.TIF"]  # fmt: skip
    assert page_order(names) == ["scan/page1.tif", "scan/page2.tif", "scan/Page3.TIF", "scan/page10.tif"]


def test_formats_are_sniffed_from_bytes() -> None:
    assert sniff_page(b"\xff\xd8\xff\xe0rest") is PageFormat.JPEG
    assert sniff_page(b"\x89PNG\r\n\x1a\nrest") is PageFormat.PNG
    assert sniff_page(b"II*\x00rest") is PageFormat.TIFF
    assert sniff_page(b"MM\x00*rest") is PageFormat.TIFF
    assert sniff_page(b"\x00\x00\x00\x0cjP  \r\n\x87\nrest") is PageFormat.JP2
    assert sniff_page(b"%PDF-1.7") is None
    assert sniff_page(b"GIF89a") is None


def test_a_decompression_bomb_is_refused_by_its_header() -> None:
    check_page_pixels("ok.tif", 4960, 7016)
    with pytest.raises(InvalidInput, match="decompression bomb"):
        check_page_pixels("bomb.png", 50_000, 50_000)


def test_only_staff_of_the_owning_library_manage_its_documents() -> None:
    ensure_staff_of(Staff("lan", frozenset({"librarian"}), "daklak"), "daklak")
    ensure_staff_of(Staff("an", frozenset({"library-admin"}), "daklak"), "daklak")
    for staff in (
        Staff("lan", frozenset({"librarian"}), "buon-ma-thuot"),  # another library
        Staff("nxb", frozenset({"publisher"}), "daklak"),  # publishers never
        Staff("nxb", frozenset({"publisher", "librarian"}), "daklak"),
        Staff("ana", frozenset({"patron"}), "daklak"),
        Staff("lan", frozenset({"librarian"}), None),
    ):
        with pytest.raises(Forbidden):
            ensure_staff_of(staff, "daklak")


def test_descriptions_are_nfc_and_tidy() -> None:
    decomposed = "Đa\u0301k La\u0302\u0301k"  # combining marks
    cleaned = DublinCore(
        title=f"  Địa chí  {decomposed} ", creators=("Nguyễn Du", " "), coverage_places=(decomposed,)
    ).cleaned()
    assert cleaned.title == "Địa chí Đák Lấk"
    assert cleaned.creators == ("Nguyễn Du",)
    assert cleaned.coverage_places == ("Đák Lấk",)


def test_hocr_words_lines_and_highlight_boxes() -> None:
    layer = parse_hocr(HOCR.encode())
    assert layer.text == "Cài đặt phần\nmềm."
    assert layer.lines[0].box == (10, 10, 390, 40)
    assert layer.words[0].confidence == 91
    assert matching_boxes(layer, "cai dat") == [(10, 10, 90, 40), (110, 10, 90, 40)]
    assert matching_boxes(layer, "mem") == [(10, 60, 290, 40)]
    assert matching_boxes(layer, "dat mem") == []
    assert parse_hocr(b"").lines == ()


def test_a_corrected_text_keeps_line_boxes_for_highlighting() -> None:
    layer = corrected_layer(parse_hocr(HOCR.encode()), "Cài đặt phần\nmềm máy")
    assert layer.text == "Cài đặt phần\nmềm máy"
    assert layer.lines[1].box[1] == 60
    assert matching_boxes(layer, "may")
