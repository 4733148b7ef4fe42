"""MARC21 records built for the ILS and read from it, without servers."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pymarc
import pytest

from lending.adapters.marc_io import iso2709, marcxml, read_records
from lending.domain.marc import (
    CatalogueTitle,
    ExportContext,
    ImportedRecord,
    RecordRefused,
    TitleFields,
    bcp47_language,
    enriched,
    imported_record,
    marc_language,
    title_record,
)

CONTEXT = ExportContext("VN-DLK", "https://sachso.test/", "Thư viện tỉnh Đắk Lắk")
KIEU = CatalogueTitle(
    id="t1",
    title="Truyện Kiều",
    subtitle="Đoạn trường tân thanh",
    authors=("Nguyễn Du", "Đào Duy Anh"),
    language="vi",
    isbn="9786041000001",
    publisher="NXB Văn học",
    subjects=("Thơ Việt Nam",),
    description="Truyện thơ nổi tiếng.",
    added_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    changed_at=datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC),
)


def test_the_exported_record_has_what_an_opac_needs() -> None:
    record = title_record(KIEU, CONTEXT)
    assert record.leader[5:10] == "cam a"  # changed, language material, monograph, UTF-8
    tags = [field.tag for field in record.fields]
    assert tags == sorted(tags)
    assert set(tags) >= {"001", "003", "005", "008", "020", "041", "100", "245", "264", "300", "338", "506", "540",
                         "650", "700", "856"}  # fmt: skip
    fixed = record["008"].data or ""
    assert fixed[35:38] == "vie"
    assert len(fixed) == 40
    assert fixed[23] == "o"  # online
    assert record["245"].get_subfields("a", "b", "c") == [
        "Truyện Kiều :",
        "Đoạn trường tân thanh /",
        "Nguyễn Du, Đào Duy Anh.",
    ]
    assert record["856"]["u"] == "https://sachso.test/#/title/t1"
    assert record["005"].data == "20260203040506.0"
    online_only = title_record(CatalogueTitle("t2", "Địa chí Đắk Lắk", online_only=True), CONTEXT)
    assert "Chỉ đọc trực tuyến" in online_only["506"]["a"]
    assert online_only["245"].indicators == pymarc.Indicators("0", "0")  # no author: title main entry


@pytest.mark.parametrize("write", [iso2709, marcxml])
def test_round_trip_keeps_vietnamese_in_nfc(write: object) -> None:
    data = write([title_record(KIEU, CONTEXT)])  # type: ignore[operator]
    (read,) = list(read_records(data))
    assert read.problem == ""
    assert read.record is not None
    back = imported_record(read.record)
    assert back == ImportedRecord(
        control_number="(VN-DLK)t1",
        isbns=("9786041000001",),
        title="Truyện Kiều",
        subtitle="Đoạn trường tân thanh",
        authors=("Nguyễn Du", "Đào Duy Anh"),
        language="vi",
        publisher="NXB Văn học",
        subjects=("Thơ Việt Nam",),
        description="Truyện thơ nổi tiếng.",
    )
    assert all(unicodedata.is_normalized("NFC", text) for text in (back.title, back.subtitle, *back.authors))


def test_decomposed_text_from_an_ils_becomes_nfc() -> None:
    record = pymarc.Record(force_utf8=True, leader="00000nam a2200000 i 4500")
    decomposed = unicodedata.normalize("NFD", "Nhật ký trong tù")
    record.add_field(pymarc.Field("245", pymarc.Indicators("1", "0"), [pymarc.Subfield("a", decomposed + " /")]))
    assert imported_record(record).title == "Nhật ký trong tù"


def test_refusals_say_why() -> None:
    empty = pymarc.Record(force_utf8=True)
    empty.add_field(pymarc.Field("001", data="42"))
    with pytest.raises(RecordRefused, match="no title"):
        imported_record(empty)
    good = iso2709([title_record(KIEU, CONTEXT)])
    broken = good.replace("Kiều".encode(), b"Ki\xff\xfe\xfdu")  # same length, not UTF-8
    assert [r.problem for r in read_records(broken)] == [
        "says it is UTF-8 (leader/09 'a') but holds bytes that are not UTF-8"
    ]
    mislabelled = good[:9] + b" " + good[10:]  # leader/09 blank (MARC-8) over UTF-8 text
    assert "says it is MARC-8" in next(read_records(mislabelled)).problem
    assert "not a valid ISO 2709" in next(read_records(b"00012garbage")).problem
    assert "not well-formed MARCXML" in next(read_records(b"<collection><record>")).problem


def test_enrichment_fills_gaps_and_keeps_what_we_wrote() -> None:
    ours = TitleFields(title="Truyện Kiều", authors=("Nguyễn Du",), language="und", subjects=("Thơ",))
    theirs = ImportedRecord("(VN)1", ("9786041000001",), "Truyen Kieu", "Đoạn trường tân thanh", ("Nguyen Du",),
                            "vi", "NXB Văn học", ("Thơ", "Văn học cổ điển"), "Mô tả")  # fmt: skip
    result = enriched(ours, theirs)
    assert result.title == "Truyện Kiều"
    assert result.authors == ("Nguyễn Du",)
    assert result.subjects == ("Thơ", "Văn học cổ điển")
    assert result.changed == ("description", "isbn", "language", "publisher", "subjects", "subtitle")
    assert enriched(result, theirs).changed == ()


def test_language_codes() -> None:
    assert marc_language("vi") == "vie"
    assert marc_language("en-US") == "eng"
    assert marc_language("xx") == "und"
    assert bcp47_language("vie") == "vi"
    assert bcp47_language("und") == ""
    assert bcp47_language("haw") == "haw"
