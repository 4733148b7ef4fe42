"""Local documents in the catalogue (full text, diacritics optional), open titles read without a card (and counted),
and the digitisation progress report against the province's targets — lending against the real database, the
reader's events delivered through lending's own consumer group."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from google.protobuf.message import Message

from lending.adapters.local_document_store import MongoLocalDocumentsUnitOfWork
from lending.adapters.local_document_store import ensure_indexes as ensure_local_document_indexes
from lending.domain.digitisation import month_of
from lending.entrypoints.consumers import LendingHandlers, lending_consumers
from lending.entrypoints.local_document_consumers import LocalDocumentHandlers
from sachso.events.v1 import lending_events_pb2
from sachso.events.v1 import local_document_events_pb2 as doc_events
from sachso.kit import events as ce
from sachso.kit.consumer import IdempotentConsumer
from sachso.kit.events import KafkaRecord
from sachso.kit.text import distinct_words
from tests.integration.lending.conftest import Lending

pytestmark = pytest.mark.integration
OPEN = doc_events.DOCUMENT_ACCESS_OPEN
ONLINE_ONLY = doc_events.DOCUMENT_ACCESS_ONLINE_ONLY


class NoDeadLetters:
    async def send_and_wait(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("nothing should be dead-lettered")


async def deliver(lending: Lending, payload: Message, key: str) -> None:
    """One reader event through lending's consumer group, as Kafka would hand it over."""
    await ensure_local_document_indexes(lending.store.database)
    registry = lending_consumers(
        LendingHandlers(lending.catalogue, lending.circulation, lending.outbox),
        LocalDocumentHandlers(
            lambda session: MongoLocalDocumentsUnitOfWork(lending.store.database, lending.outbox, session=session)
        ),
    )
    consumer = IdempotentConsumer(registry, client=lending.outbox.client, database=lending.store.database,
                                  dead_letters=NoDeadLetters(), max_attempts=1)  # fmt: skip
    message = ce.encode(event_id=uuid.uuid4().hex, event_type=payload.DESCRIPTOR.full_name, source="/sachso/reader",
                        key=key, data=payload.SerializeToString(), time=datetime.now(UTC))  # fmt: skip
    record = KafkaRecord("local-documents", 0, 0, key.encode(), message.value, tuple(message.headers.items()))
    assert await consumer.handle_record(record) == "handled"


def description(title: str, access: int) -> tuple[doc_events.DublinCore, int]:
    return doc_events.DublinCore(
        title=title, creators=["Phan Bội Châu"], subjects=["Địa chí Đắk Lắk"], coverage_places=["Buôn Ma Thuột"]
    ), access


async def a_document(
    lending: Lending, document_id: str, title: str, text: str, access: int, library: str = "buonmathuot"
) -> str:
    """A scanned document's whole life as the reader announces it; the catalogue title's id."""
    now = datetime.now(UTC)
    dc, access = description(title, access)
    digitised = doc_events.LocalDocumentDigitised(document_id=document_id, library_id=library, uploaded_by="lan",
                                                  page_count=3, title=title)  # fmt: skip
    digitised.digitised_at.FromDatetime(now)
    await deliver(lending, digitised, document_id)
    recognised = doc_events.LocalDocumentRecognised(document_id=document_id, library_id=library, page_count=3,
                                                    words=distinct_words(text))  # fmt: skip
    recognised.recognised_at.FromDatetime(now)
    await deliver(lending, recognised, document_id)
    for _ in range(2):  # the same page corrected twice counts once
        corrected = doc_events.LocalDocumentPageCorrected(document_id=document_id, library_id=library, page=2,
                                                          corrected_by="lan", words=distinct_words(text))  # fmt: skip
        corrected.corrected_at.FromDatetime(now)
        await deliver(lending, corrected, document_id)
    published = doc_events.LocalDocumentPublished(
        document_id=document_id, library_id=library, description=dc, access=access, page_count=3,  # type: ignore[arg-type]
        manifest_url=f"http://reader.test/v1/iiif/open/{document_id}/manifest.json",
    )  # fmt: skip
    published.published_at.FromDatetime(now)
    await deliver(lending, published, document_id)
    title_doc = await lending.store.titles.find_one({"publication_id": document_id})
    assert title_doc is not None
    return str(title_doc["_id"])


async def test_an_open_local_document_is_found_by_its_text_and_read_without_signing_in(lending: Lending) -> None:
    title_id = await a_document(lending, "ld-open-1", "Hướng dẫn trồng cà phê", "Cài đặt máy xay cà phê ở Ea Kar",
                                OPEN)  # fmt: skip

    found = (await lending.http.get("/v1/titles", params={"q": "cai dat"})).json()  # only in the OCR text
    assert [item["id"] for item in found["items"]] == [title_id]
    item = found["items"][0]
    assert item["open_access"] is True
    assert item["local_document"] is True
    assert item["online_only"] is False
    by_description = (await lending.http.get("/v1/titles", params={"q": "phan boi chau"})).json()
    assert [item["id"] for item in by_description["items"]] == [title_id]

    reading = await lending.http.post(f"/v1/titles/{title_id}/open-reading")  # no Authorization header
    assert reading.status_code == 200, reading.text
    assert reading.json() == {"title_id": title_id, "kind": "iiif",
                              "manifest_url": "http://reader.test/v1/iiif/open/ld-open-1/manifest.json"}  # fmt: skip
    link = await lending.http.get(f"/v1/titles/{title_id}/open-reading")
    assert link.status_code == 303
    assert link.headers["location"].endswith("/ld-open-1/manifest.json")

    feed = (await lending.http.get(f"/opds/publications/{title_id}")).json()
    open_links = [lk for lk in feed["links"] if lk["rel"] == "http://opds-spec.org/acquisition/open-access"]
    assert open_links
    assert open_links[0]["href"].endswith(f"/v1/titles/{title_id}/open-reading")

    staff = await lending.staff_headers("thu.bmt")
    month = month_of(datetime.now(UTC))
    reads = await lending.http.get("/v1/reports/open-reads", params={"library": "buonmathuot", "from": month,
                                                                     "to": month}, headers=staff)  # fmt: skip
    assert reads.status_code == 200, reads.text
    assert reads.json() == [{"month": month, "library_id": "buonmathuot", "title_id": title_id, "reads": 2}]
    opened = await lending.events("TitleAccessChanged")
    assert len(opened) == 1


async def test_a_read_online_only_document_is_never_opened(lending: Lending) -> None:
    title_id = await a_document(lending, "ld-rare-1", "Gia phả họ Lê", "Bản chép tay", ONLINE_ONLY)
    refused = await lending.http.post(f"/v1/titles/{title_id}/open-reading")
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/title-not-open")
    staff = await lending.staff_headers("thu.bmt")
    opening = await lending.http.put(f"/v1/titles/{title_id}/open", json={"open": True}, headers=staff)
    assert opening.status_code == 409
    assert opening.json()["type"].endswith("/title-online-only")
    assert not await lending.events("TitleAccessChanged")


async def test_a_local_documents_access_is_never_changed_by_lendings_ticks(lending: Lending) -> None:
    """The reader serves a scanned document by the access in its description and ignores TitleAccessChanged:
    lending refuses to change it, so the two never disagree (a tick that changes nothing is answered as is)."""
    title_id = await a_document(lending, "ld-open-2", "Địa chí Ea Kar", "Cài đặt", OPEN)
    staff = await lending.staff_headers("thu.bmt")
    before = len(await lending.events("TitleAccessChanged"))
    closing = await lending.http.put(f"/v1/titles/{title_id}/open", json={"open": False}, headers=staff)
    assert closing.status_code == 409, closing.text
    assert closing.json()["type"].endswith("/local-document-access"), closing.text
    assert (await lending.http.get(f"/v1/titles/{title_id}")).json()["open_access"] is True
    same = await lending.http.put(f"/v1/titles/{title_id}/open", json={"open": True}, headers=staff)
    assert same.json() == {"title_id": title_id, "open_access": True}
    marking = await lending.http.put(f"/v1/titles/{title_id}/online-only", json={"online_only": True}, headers=staff)
    assert marking.status_code == 409, marking.text  # nor lent online only by a tick: the description says
    assert marking.json()["type"].endswith("/local-document-access"), marking.text
    assert (await lending.http.get(f"/v1/titles/{title_id}")).json()["online_only"] is False
    assert len(await lending.events("TitleAccessChanged")) == before


async def test_staff_who_look_after_a_book_open_it_and_anyone_then_reads_it(lending: Lending) -> None:
    title_id = await lending.title_with_copies("Lục Vân Tiên", owner="buonmathuot")
    title: dict[str, Any] | None = await lending.store.titles.find_one({"_id": title_id})
    assert title is not None
    assert (await lending.http.post(f"/v1/titles/{title_id}/open-reading")).status_code == 409

    other = await lending.staff_headers("lan.eakar")  # another commune's librarian
    denied = await lending.http.put(f"/v1/titles/{title_id}/open", json={"open": True}, headers=other)
    assert denied.status_code == 403
    assert (await lending.http.put(f"/v1/titles/{title_id}/open", json={"open": True})).status_code == 401
    staff = await lending.staff_headers("thu.bmt")
    opened = await lending.http.put(f"/v1/titles/{title_id}/open", json={"open": True}, headers=staff)
    assert opened.status_code == 200, opened.text
    assert opened.json() == {"title_id": title_id, "open_access": True}

    (event,) = await lending.events("TitleAccessChanged")
    payload = lending_events_pb2.TitleAccessChanged.FromString(bytes(event["data"]))
    assert (payload.publication_id, payload.open) == (title["publication_id"], True)
    assert payload.changed_by  # the staff member's subject
    reading = (await lending.http.post(f"/v1/titles/{title_id}/open-reading")).json()
    assert reading["kind"] == "webpub"
    assert reading["manifest_url"].endswith(f"/v1/read/open-{title['publication_id']}/manifest.json")
    detail = (await lending.http.get(f"/v1/titles/{title_id}")).json()
    assert detail["open_access"] is True

    closed = await lending.http.put(f"/v1/titles/{title_id}/open", json={"open": False}, headers=staff)
    assert closed.json()["open_access"] is False
    assert (await lending.http.post(f"/v1/titles/{title_id}/open-reading")).status_code == 409
    assert len(await lending.events("TitleAccessChanged")) == 2


async def test_the_progress_report_counts_each_step_once_against_the_provinces_target(lending: Lending) -> None:
    await a_document(lending, "ld-p-1", "Địa chí Buôn Ma Thuột", "Cài đặt", OPEN)
    await a_document(lending, "ld-p-2", "Sử thi Đam San", "Đam San", ONLINE_ONLY, library="eakar")
    month = month_of(datetime.now(UTC))
    admin = await lending.staff_headers("admin.daklak")
    librarian = await lending.staff_headers("thu.bmt")
    body = {"year": int(month[:4]), "pages": 12, "items": 4}
    denied = await lending.http.put("/v1/libraries/buonmathuot/digitisation-target", json=body, headers=librarian)
    assert denied.status_code == 403
    bad = await lending.http.put("/v1/libraries/buonmathuot/digitisation-target", json=body | {"pages": -1},
                                 headers=admin)  # fmt: skip
    assert bad.status_code == 422
    set_ = await lending.http.put("/v1/libraries/buonmathuot/digitisation-target", json=body, headers=admin)
    assert set_.status_code == 200, set_.text

    report = await lending.http.get("/v1/reports/digitisation", params={"library": "daklak", "from": month,
                                                                        "to": month}, headers=admin)  # fmt: skip
    assert report.status_code == 200, report.text
    rows = {(row["library_id"], row["month"]): row for row in report.json()["rows"]}
    bmt = rows[("buonmathuot", month)]
    stages = ("items_digitised", "pages_digitised", "items_recognised", "pages_recognised", "pages_corrected",
              "items_published", "pages_published")  # fmt: skip
    assert tuple(bmt[stage] for stage in stages) == (1, 3, 1, 3, 1, 1, 3)
    summary = rows[("buonmathuot", None)]
    assert (summary["target_pages"], summary["pages_to_date"], summary["percent_of_target"]) == (12, 3, 25.0)
    total = rows[("*", None)]
    assert (total["pages_digitised"], total["items_published"], total["target_pages"]) == (6, 2, 12)

    mine = await lending.http.get("/v1/reports/digitisation", params={"library": "buonmathuot", "from": month,
                                                                      "to": month}, headers=librarian)  # fmt: skip
    assert {row["library_id"] for row in mine.json()["rows"]} == {"buonmathuot", "*"}
    elsewhere = await lending.http.get("/v1/reports/digitisation", params={"library": "eakar", "from": month,
                                                                           "to": month}, headers=librarian)  # fmt: skip
    assert elsewhere.status_code == 403

    as_csv = await lending.http.get("/v1/reports/digitisation", params={"library": "daklak", "from": month,
                                    "to": month, "format": "csv"}, headers=admin)  # fmt: skip
    assert as_csv.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(as_csv.text.removeprefix("\ufeff"))))
    assert table[0][:4] == ["Tháng", "Thư viện", "Tài liệu số hóa", "Trang số hóa"]
    assert ["Cả kỳ", "Thư viện TP Buôn Ma Thuột", "1", "3", "1", "3", "1", "1", "3", "12", "4", "3", "25"] in table
