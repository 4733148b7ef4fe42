"""The scans CLI packs a folder's page images in natural order (and sends a lone PDF as it is)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from reader.scans import pack


def test_pages_are_packed_in_natural_order_and_other_files_left_out(tmp_path: Path) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    for name in ("trang-10.png", "trang-2.png", "trang-1.png"):
        (folder / name).write_bytes(b"\x89PNG\r\n\x1a\n" + name.encode())
    (folder / "ghi-chu.txt").write_text("không phải ảnh", encoding="utf-8")
    packed = pack(folder, tmp_path / "out.zip")
    with zipfile.ZipFile(packed) as archive:
        assert archive.namelist() == ["trang-1.png", "trang-2.png", "trang-10.png"]


def test_a_lone_pdf_is_sent_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "so-hoa.pdf").write_bytes(b"%PDF-1.7\n")
    assert pack(tmp_path, tmp_path / "out.zip") == tmp_path / "so-hoa.pdf"
