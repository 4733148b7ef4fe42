"""MARC21 against the real MongoDB-protocol server: import from an ILS (UTF-8, MARC-8, MARCXML, bad records) with
its report; the library's export in full and as a day's delta, re-read by pymarc and by yaz-marcdump (Debian yaz,
an independent reader), Vietnamese intact."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pymarc
import pytest

from lending.adapters.marc_io import iso2709, marcxml
from lending.domain.licensing import License, LicenseModel, LicenseTerms
from lending.domain.network import Sharing
from lending.service_layer.catalogue import TitleMetadata
from tests.integration.lending.conftest import Lending

pytestmark = pytest.mark.integration
VIETNAM = timezone(timedelta(hours=7))
YAZ = shutil.which("yaz-marcdump")


def ils_record(
    control: str, title: str, *, isbn: str = "", subjects: tuple[str, ...] = (), nfd: bool = False
) -> pymarc.Record:
    """A record as Vietbiblio or Koha exports it (decomposed text when ``nfd``: what MARC-8 converters need)."""

    def text(value: str) -> str:
        return unicodedata.normalize("NFD", value) if nfd else value

    record = pymarc.Record(force_utf8=True, leader="00000nam a2200000 i 4500")
    record.add_field(pymarc.Field("001", data=control))
    record.add_field(pymarc.Field("003", data="VN-DLK-ILS"))
    if isbn:
        record.add_field(pymarc.Field("020", pymarc.Indicators(" ", " "), [pymarc.Subfield("a", f"{isbn} (bìa mềm)")]))
    record.add_field(pymarc.Field("041", pymarc.Indicators("0", " "), [pymarc.Subfield("a", "vie")]))
    record.add_field(pymarc.Field("245", pymarc.Indicators("1", "0"), [pymarc.Subfield("a", text(title) + " /")]))
    record.add_field(pymarc.Field("264", pymarc.Indicators(" ", "1"), [pymarc.Subfield("b", text("NXB Kim Đồng,"))]))
    for subject in subjects:
        record.add_field(pymarc.Field("650", pymarc.Indicators(" ", "7"), [pymarc.Subfield("a", text(subject))]))
    return record


async def yaz(*args: str, data: bytes) -> bytes:
    """yaz-marcdump (Debian yaz): an independent MARC reader and the MARC-8 converter an ILS would use."""
    assert YAZ, "Debian yaz is installed by deploy/local/system-packages.sh"
    command = [YAZ, *args, "/dev/stdin"]
    done = await asyncio.to_thread(subprocess.run, command, input=data, capture_output=True, check=True)
    return done.stdout


async def test_import_from_an_ils_reports_matched_new_and_refused(lending: Lending) -> None:
    kim_dong = await lending.catalogue.add_title(TitleMetadata(title="Dế Mèn phiêu lưu ký", isbn="978-604-2-00001-7"))
    mat_biec = await lending.catalogue.add_title(TitleMetadata(title="Mắt biếc", language="und", isbn="9786041111110"))
    utf8 = iso2709([
        ils_record("1001", "Dế Mèn phiêu lưu ký", isbn="9786042000017", subjects=("Văn học thiếu nhi",)),
        ils_record("1002", "Sách in chưa có bản điện tử", isbn="9786040000009"),
        ils_record("1003", ""),  # no title
    ])  # fmt: skip
    mat_biec_record = ils_record("1004", "Mắt biếc", isbn="9786041111110", subjects=("Tiểu thuyết",), nfd=True)
    to_marc8 = ("-i", "marc", "-o", "marc", "-f", "utf-8", "-t", "marc8", "-l", "9=32")  # leader/09 blank: MARC-8
    marc8 = await yaz(*to_marc8, data=iso2709([mat_biec_record]))
    assert marc8[9:10] == b" "
    kieu = iso2709([ils_record("1005", "Kiều", isbn="9786049999991")])
    bad_utf8 = kieu.replace("Kiều".encode(), b"Ki\xff\xfe\xfdu")  # same length, not UTF-8
    staff = await lending.staff_headers("admin.daklak")

    report = (
        await lending.http.post(
            "/v1/libraries/daklak/marc-imports",
            content=utf8 + marc8 + bad_utf8,
            headers={**staff, "content-type": "application/marc"},
        )
    ).json()
    assert report["matched"] == [
        {"record": 1, "title_id": kim_dong, "by": "isbn", "enriched": ["publisher", "subjects"]},
        {"record": 4, "title_id": mat_biec, "by": "isbn", "enriched": ["language", "publisher", "subjects"]},
    ]
    assert report["new"] == [
        {"record": 2, "title": "Sách in chưa có bản điện tử", "isbns": ["9786040000009"],
         "control_number": "(VN-DLK-ILS)1002", "title_id": None},
    ]  # fmt: skip
    assert [(r["record"], r["reason"]) for r in report["refused"]] == [
        (3, "no title (245 $a)"),
        (5, "says it is UTF-8 (leader/09 'a') but holds bytes that are not UTF-8"),
    ]
    enriched = await lending.catalogue.title(mat_biec)  # from MARC-8, Vietnamese in NFC
    assert enriched["subjects"] == ["Tiểu thuyết"]
    assert enriched["publisher"] == "NXB Kim Đồng"
    assert unicodedata.is_normalized("NFC", enriched["publisher"])
    assert enriched["language"] == "vi"
    found = (await lending.http.get("/v1/titles", params={"q": "tieu thuyet"})).json()
    assert [item["id"] for item in found["items"]] == [mat_biec]  # enriched subjects are searchable
    assert len(await lending.events("TitleUpdated")) == 2

    again = (
        await lending.http.post(
            "/v1/libraries/daklak/marc-imports?create_missing=true",
            content=marcxml([ils_record("1001", "Dế Mèn phiêu lưu ký"), ils_record("1002", "Sách in")]),
            headers={**staff, "content-type": "application/marcxml+xml"},
        )
    ).json()
    assert again["matched"] == [{"record": 1, "title_id": kim_dong, "by": "control-number", "enriched": []}]
    assert again["new"][0]["title_id"]  # added, without licences
    assert (await lending.catalogue.title(again["new"][0]["title_id"]))["ils_control_numbers"] == ["(VN-DLK-ILS)1002"]


async def licensed(
    lending: Lending, title: str, owner: str, *, acquired: datetime, expires: datetime | None = None
) -> str:
    title_id = await lending.catalogue.add_title(
        TitleMetadata(title=title, authors=("Tô Hoài",), isbn="", subjects=("Văn học Việt Nam",))
    )
    model = LicenseModel.TIME_LIMITED if expires else LicenseModel.ONE_COPY_ONE_USER
    terms = LicenseTerms(model, concurrency=1, expires_at=expires)
    await lending.store.add_license(License(f"lic-{title_id}", title_id, owner, Sharing.SUBTREE, terms, acquired))
    return title_id


async def test_full_and_daily_exports_read_by_pymarc_and_yaz(lending: Lending) -> None:
    now = datetime.now(VIETNAM)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    kept = await licensed(lending, "Vợ chồng A Phủ", "daklak", acquired=yesterday.astimezone(UTC))
    ended = await licensed(lending, "Miền Tây", "daklak", acquired=yesterday, expires=now - timedelta(seconds=1))
    tomorrow = today + timedelta(days=1)
    ending = await licensed(lending, "Tây Tiến", "daklak", acquired=yesterday, expires=tomorrow + timedelta(hours=1))
    withdrawn = await licensed(lending, "Cát bụi chân ai", "buonmathuot", acquired=yesterday)
    other = await licensed(lending, "Sách của Ea Kar", "eakar", acquired=yesterday)
    new = await licensed(lending, "Truyện Kiều", "daklak", acquired=now)
    for title_id in (kept, ended, ending, withdrawn, other):  # unchanged since yesterday
        await lending.store.titles.update_one({"_id": title_id}, {"$set": {"changed_at": yesterday}})
    publication = (await lending.catalogue.title(withdrawn))["publication_id"]
    await lending.outbox.transaction(lambda session, _: lending.catalogue.withdraw_publication_in(session, publication))
    staff = await lending.staff_headers("thu.bmt")

    full = await lending.http.get("/v1/libraries/buonmathuot/marc", headers=staff)
    assert full.status_code == 200, full.text
    assert full.headers["content-type"] == "application/marc"
    records = list(pymarc.MARCReader(full.content, to_unicode=True))
    titles = {record["001"].data: record.title for record in records}
    assert set(titles) == {kept, ending, new}  # the province's pools serve the commune, Ea Kar's do not
    assert titles[new] == "Truyện Kiều /"
    assert f"https://sachso.test/#/title/{new}" in {record["856"]["u"] for record in records}
    dumped = (await yaz(data=full.content)).decode()
    assert "245 10 $a Truyện Kiều / $c Tô Hoài." in dumped
    assert "003 VN-DLK" in dumped
    xml = await lending.http.get("/v1/libraries/buonmathuot/marc", params={"format": "marcxml"}, headers=staff)
    assert xml.headers["content-type"] == "application/marcxml+xml"
    by_yaz = (await yaz("-i", "marcxml", data=xml.content)).decode()
    assert by_yaz.count("\n001 ") == 3
    assert "Vợ chồng A Phủ" in by_yaz

    delta = await lending.http.get(
        "/v1/libraries/buonmathuot/marc/delta", params={"day": today.strftime("%Y-%m-%d")}, headers=staff
    )
    changes = {record["001"].data: record.leader[5] for record in pymarc.MARCReader(delta.content)}
    assert changes == {new: "n", withdrawn: "d", ended: "d"}
    later = await lending.http.get(
        "/v1/libraries/buonmathuot/marc/delta", params={"day": tomorrow.strftime("%Y-%m-%d")}, headers=staff
    )
    assert {record["001"].data: record.leader[5] for record in pymarc.MARCReader(later.content)} == {ending: "d"}
    assert delta.headers["x-deleted-count"] == "2"


async def test_who_may_import_and_export(lending: Lending) -> None:
    patron = lending.patron_headers(await lending.active_patron("ana", library_id="buonmathuot"))
    other_librarian = await lending.staff_headers("lan.eakar")
    body = iso2709([ils_record("1", "Sách")])
    for headers, status in (({}, 401), (patron, 403), (other_librarian, 403)):
        assert (await lending.http.get("/v1/libraries/buonmathuot/marc", headers=headers)).status_code == status
        delta = await lending.http.get("/v1/libraries/buonmathuot/marc/delta?day=2026-12-01", headers=headers)
        assert delta.status_code == status
        imported = await lending.http.post("/v1/libraries/buonmathuot/marc-imports", content=body, headers=headers)
        assert imported.status_code == status
    own = await lending.staff_headers("thu.bmt")
    assert (
        await lending.http.post("/v1/libraries/buonmathuot/marc-imports", content=body, headers=own)
    ).status_code == 200
    empty = await lending.http.post("/v1/libraries/buonmathuot/marc-imports", content=b"", headers=own)
    assert empty.status_code == 400
    bad_day = await lending.http.get("/v1/libraries/buonmathuot/marc/delta?day=2026-02-31", headers=own)
    assert bad_day.status_code == 400
