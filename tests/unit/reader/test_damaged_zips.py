"""Zips whose directory lies (sizes, CRCs, offsets, methods, counts): refused with a reason, never a crash.

The archive is read as ingest reads it (:func:`reader.service_layer.ingest.describe`): every outcome is a
description or one of the reader's own errors, which the HTTP edge turns into problem details.
"""

from __future__ import annotations

import io
import struct
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reader.domain.packaging import Limits
from reader.errors import UnreadableFile
from reader.service_layer.ingest import describe
from sachso.kit.errors import ServiceError
from tests.crafted import chapter, epub_bytes

BOOK = epub_bytes(
    [("OPS/notes.xhtml", chapter("Ghi chú " * 200)), ("OPS/cover.png", b"\x89PNG\r\n\x1a\n" + bytes(300))]
)
LOCAL, CENTRAL, END = b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"
# (offset in the record, width in bytes) of the fields a directory can lie about
LOCAL_FIELDS = {"flags": (6, 2), "method": (8, 2), "crc": (14, 4), "compressed": (18, 4), "size": (22, 4),
                "name length": (26, 2), "extra length": (28, 2)}  # fmt: skip
CENTRAL_FIELDS = {"flags": (8, 2), "method": (10, 2), "crc": (16, 4), "compressed": (20, 4), "size": (24, 4),
                  "name length": (28, 2), "extra length": (30, 2), "comment length": (32, 2), "disk": (34, 2),
                  "attributes": (38, 4), "offset": (42, 4)}  # fmt: skip
END_FIELDS = {"disk": (4, 2), "entries here": (8, 2), "entries": (10, 2), "directory size": (12, 4),
              "directory offset": (16, 4), "comment length": (20, 2)}  # fmt: skip


def records(data: bytes, signature: bytes) -> list[int]:
    found, start = [], 0
    while (at := data.find(signature, start)) >= 0:
        found.append(at)
        start = at + 1
    return found


def patched(data: bytes, at: int, width: int, value: int) -> bytes:
    packed = struct.pack("<H" if width == 2 else "<I", value % (1 << (8 * width)))
    return data[:at] + packed + data[at + width :]


def outcome(data: bytes) -> str:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload"
        path.write_bytes(data)
        try:
            describe(path, Limits())
        except ServiceError as error:  # refused with a reason: what the HTTP edge answers as a problem
            return f"{error.status} {error.problem}"
    return "described"


def chapter_entry(data: bytes) -> tuple[int, int]:
    """Where the chapter's local header and central directory record start."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo("OPS/chapter.xhtml")
    central = next(at for at in records(data, CENTRAL) if data[at + 46 : at + 46 + 17] == b"OPS/chapter.xhtml")
    return info.header_offset, central


@pytest.mark.parametrize(
    ("field", "change"),
    [("crc", 1), ("size", -1), ("size", +1), ("size", +100_000), ("compressed", -5)],
)
def test_a_directory_that_lies_about_an_entry_is_a_damaged_archive(field: str, change: int) -> None:
    data = lying(field, change)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "upload"
        path.write_bytes(data)
        with pytest.raises(UnreadableFile, match=r"OPS/chapter\.xhtml: the archive is damaged"):
            describe(path, Limits())


def test_spare_compressed_bytes_after_a_complete_entry_do_no_harm() -> None:
    """The entry's deflate stream ends, whole and with its CRC, before the declared compressed size: it is read
    as it is, so the book is accepted."""
    assert outcome(lying("compressed", +5)) == "described"


def lying(field: str, change: int) -> bytes:
    """The book with the chapter's ``field`` changed by ``change`` in its local header and its directory."""
    local, central = chapter_entry(BOOK)
    data = BOOK
    for record, fields in ((local, LOCAL_FIELDS), (central, CENTRAL_FIELDS)):  # both agree, and both lie
        offset, width = fields[field]
        (value,) = struct.unpack("<H" if width == 2 else "<I", data[record + offset : record + offset + width])
        data = patched(data, record + offset, width, value + change)
    return data


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    data = BOOK
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["local", "central", "end", "bytes", "truncate"]))
        value = draw(st.one_of(st.integers(0, 0xFFFFFFFF), st.sampled_from([0, 1, 8, 12, 14, 99, 0xFFFF, 0xFFFFFFFF])))
        if kind == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
            continue
        if kind == "bytes":
            at = draw(st.integers(0, max(0, len(data) - 1)))
            data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
            continue
        signature, fields = {"local": (LOCAL, LOCAL_FIELDS), "central": (CENTRAL, CENTRAL_FIELDS),
                             "end": (END, END_FIELDS)}[kind]  # fmt: skip
        found = records(data, signature)
        if not found:
            continue
        offset, width = fields[draw(st.sampled_from(sorted(fields)))]
        record = draw(st.sampled_from(found))
        if record + offset + width <= len(data):
            data = patched(data, record + offset, width, value)
    return data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged())
def test_any_damaged_zip_is_described_or_refused_with_a_reason(data: bytes) -> None:
    assert outcome(data).split()[0] in ("described", "400", "413", "415")
