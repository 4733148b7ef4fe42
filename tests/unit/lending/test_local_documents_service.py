"""Lending's local documents, open titles and digitisation report on in-memory repositories (no servers)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lending.domain.digitisation import (
    TOTAL,
    StageCounts,
    Target,
    month_of,
    months_between,
    progress_csv,
    progress_report,
)
from lending.errors import LocalDocumentAccess, TitleIsOnlineOnly, TitleNotFound, TitleNotOpen
from lending.service_layer.local_documents import LocalDocumentCatalogue, OpenCollections, TitleAccess
from sachso.events.v1 import lending_events_pb2
from sachso.events.v1 import local_document_events_pb2 as doc_events
from sachso.kit.errors import InvalidInput
from sachso.kit.text import distinct_words
from tests.unit.lending.local_document_fakes import (
    DigitisationState,
    FakeLocalDocumentsUnitOfWork,
    fake_local_document_units_of_work,
)

NOW = datetime(2026, 11, 30, 18, 30, tzinfo=UTC)  # already December in Vietnam


async def run_events(state: DigitisationState, *payloads: object) -> None:
    catalogue = LocalDocumentCatalogue()
    handlers = {
        doc_events.LocalDocumentDigitised: catalogue.digitised,
        doc_events.LocalDocumentRecognised: catalogue.recognised,
        doc_events.LocalDocumentPageCorrected: catalogue.page_corrected,
        doc_events.LocalDocumentDescribed: catalogue.described,
        doc_events.LocalDocumentPublished: catalogue.published,
    }
    for payload in payloads:
        handler = handlers[type(payload)]
        await FakeLocalDocumentsUnitOfWork(state).run(lambda uow, p=payload, h=handler: h(uow, p))  # type: ignore[misc]


def lifecycle(document_id: str, access: int, text: str = "Cài đặt máy") -> list[object]:
    digitised = doc_events.LocalDocumentDigitised(document_id=document_id, library_id="bmt", page_count=4)
    recognised = doc_events.LocalDocumentRecognised(document_id=document_id, library_id="bmt", page_count=4,
                                                    words=distinct_words(text))  # fmt: skip
    corrected = doc_events.LocalDocumentPageCorrected(document_id=document_id, library_id="bmt", page=1,
                                                      words=distinct_words(text, "sửa"))  # fmt: skip
    published = doc_events.LocalDocumentPublished(
        document_id=document_id, library_id="bmt", access=access, page_count=4,  # type: ignore[arg-type]
        description=doc_events.DublinCore(title="Địa chí", creators=["Nguyễn Văn A"]), manifest_url="https://r/m.json",
    )  # fmt: skip
    for message, field in ((digitised, "digitised_at"), (recognised, "recognised_at"), (corrected, "corrected_at"),
                           (published, "published_at")):  # fmt: skip
        getattr(message, field).FromDatetime(NOW)
    return [digitised, recognised, corrected, corrected, published]


async def test_a_published_document_becomes_a_title_with_its_full_text_and_counts_once() -> None:
    state = DigitisationState()
    await run_events(state, *lifecycle("ld-1", doc_events.DOCUMENT_ACCESS_OPEN))
    (title,) = state.titles.values()
    assert (title.open_access, title.online_only, title.local_document) == (True, False, True)
    assert {"cai", "dat", "sua"} <= set(state.fulltext["ld-1"])
    assert state.counts == {("bmt", "2026-12"): StageCounts(1, 4, 1, 4, 1, 1, 4)}  # the page corrected twice: once
    types = [event.payload.DESCRIPTOR.name for event in state.published]
    assert types.count("TitleAdded") == 1
    assert types.count("TitleAccessChanged") == 1

    described = doc_events.LocalDocumentDescribed(document_id="ld-1", library_id="bmt", described_by="lan",
                                                  access=doc_events.DOCUMENT_ACCESS_ONLINE_ONLY,
                                                  description=doc_events.DublinCore(title="Địa chí (sửa)"))  # fmt: skip
    await run_events(state, described)
    (title,) = state.titles.values()
    assert (title.open_access, title.online_only) == (False, True)
    changes = [e.payload for e in state.published if isinstance(e.payload, lending_events_pb2.TitleAccessChanged)]
    assert [change.open for change in changes] == [True, False]


async def test_open_reading_is_counted_and_refused_for_closed_or_online_only_titles() -> None:
    state = DigitisationState()
    await run_events(state, *lifecycle("ld-open", doc_events.DOCUMENT_ACCESS_OPEN),
                     *lifecycle("ld-rare", doc_events.DOCUMENT_ACCESS_ONLINE_ONLY))  # fmt: skip
    collections = OpenCollections(fake_local_document_units_of_work(state), lambda: NOW)
    reading = await collections.open_reading("title-ld-open")
    assert (reading.local_document, reading.manifest_url) == (True, "https://r/m.json")
    await collections.open_reading("title-ld-open")
    assert state.reads == {("2026-12", "bmt", "title-ld-open"): 2}
    with pytest.raises(TitleNotOpen):
        await collections.open_reading("title-ld-rare")
    with pytest.raises(TitleIsOnlineOnly):
        await collections.set_open("title-ld-rare", True, by="lan")
    with pytest.raises(TitleNotFound):
        await collections.set_open("nothing", True, by="lan")
    with pytest.raises(LocalDocumentAccess):  # its description (in the reader) decides, never lending's tick
        await collections.set_open("title-ld-open", False, by="lan")
    assert (await collections.set_open("title-ld-open", True, by="lan")).open_access  # unchanged: answered as is
    counts = await collections.open_reads(["bmt"], "2026-12", "2026-12")
    assert [(c.title_id, c.reads) for c in counts] == [("title-ld-open", 2)]


async def test_opening_a_book_emits_its_change_once_and_a_failed_use_case_leaves_nothing() -> None:
    state = DigitisationState()
    state.titles["t"] = TitleAccess("t", "pub-1", online_only=False, open_access=False, withdrawn=False,
                                    readable=True, library_ids=("bmt",))  # fmt: skip
    collections = OpenCollections(fake_local_document_units_of_work(state), lambda: NOW)
    await collections.set_open("t", True, by="lan")
    await collections.set_open("t", True, by="lan")  # already open: nothing new to say
    assert [e.payload.publication_id for e in state.published] == ["pub-1"]  # type: ignore[attr-defined]
    reading = await collections.open_reading("t")
    assert (reading.local_document, reading.publication_id) == (False, "pub-1")
    with pytest.raises(InvalidInput):
        await collections.set_target(Target("bmt", 2026, 0, 0), by="admin")
    assert state.targets == {}


async def test_the_report_adds_up_libraries_and_months_against_targets() -> None:
    state = DigitisationState()
    await run_events(state, *lifecycle("ld-1", doc_events.DOCUMENT_ACCESS_OPEN))
    state.counts[("bmt", "2026-01")] = StageCounts(items_digitised=2, pages_digitised=10)
    state.counts[("eakar", "2026-12")] = StageCounts(items_digitised=1, pages_digitised=6)
    collections = OpenCollections(fake_local_document_units_of_work(state), lambda: NOW)
    await collections.set_target(Target("bmt", 2026, 40, 5), by="admin")
    report = await collections.progress(["bmt", "eakar"], "2026-06", "2026-12")
    summary = {row.library_id: row for row in report.rows if row.month == ""}
    assert (summary["bmt"].pages_to_date, summary["bmt"].percent_of_target) == (14, 35.0)  # 10 before + 4
    assert summary["eakar"].percent_of_target is None
    assert summary[TOTAL].counts.pages_digitised == 10  # in the window only
    assert summary[TOTAL].pages_to_date == 20
    text = progress_csv(report, {"bmt": "Thư viện Buôn Ma Thuột"})
    assert text.startswith("\ufeffTháng,Thư viện,Tài liệu số hóa")
    assert "Cả kỳ,Thư viện Buôn Ma Thuột,1,4,1,4,1,1,4,40,5,14,35" in text


def test_months_are_vietnamese_calendar_months_and_windows_are_checked() -> None:
    assert month_of(NOW) == "2026-12"
    assert months_between("2025-11", "2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]
    with pytest.raises(InvalidInput):
        months_between("2026-03", "2026-02")
    empty = progress_report(["x"], ["2026-01"], {}, {}, {})
    assert [row.library_id for row in empty.rows] == ["x", TOTAL]
