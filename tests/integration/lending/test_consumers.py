"""Lending's event handlers against the real database: publications become titles, LSD returns end loans."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf.message import Message

from lending.entrypoints.consumers import LendingHandlers
from lending.errors import PublicationOwnerMismatch
from sachso.events.v1 import drm_events_pb2, reader_events_pb2
from sachso.kit.events import ReceivedEvent
from tests.integration.lending.conftest import Lending

pytestmark = pytest.mark.integration


def received(payload: Message, event_id: str) -> ReceivedEvent:
    return ReceivedEvent(
        id=event_id,
        type=payload.DESCRIPTOR.full_name,
        source="/sachso/test",
        subject=None,
        time=datetime.now(UTC),
        key=None,
        payload=payload,
        trace_headers={},
        topic="t",
        partition=0,
        offset=0,
    )


async def handle(lending: Lending, method: str, payload: Message, event_id: str) -> None:
    handlers = LendingHandlers(lending.catalogue, lending.circulation, lending.outbox)
    async with lending.outbox.client.start_session() as session:
        await session.with_transaction(lambda s: getattr(handlers, method)(received(payload, event_id), s))


async def test_a_publication_becomes_a_title_and_updates_it_in_place(lending: Lending) -> None:
    metadata = reader_events_pb2.PublicationMetadata(
        title="Nhật ký trong tù", authors=["Hồ Chí Minh"], language="vi", isbn="978-604-0-00000-1"
    )
    ingested = reader_events_pb2.PublicationIngested(publication_id="pub-1", metadata=metadata)
    await handle(lending, "publication_ingested", ingested, "e1")
    metadata.subtitle = "Ngục trung nhật ký"
    await handle(
        lending,
        "publication_updated",
        reader_events_pb2.PublicationUpdated(publication_id="pub-1", metadata=metadata),
        "e2",
    )

    (title,) = [document async for document in lending.store.titles.find({"publication_id": "pub-1"})]
    assert title["subtitle"] == "Ngục trung nhật ký"
    assert title["isbn"] == "9786040000001"
    assert len(await lending.events("TitleAdded")) == 1
    assert len(await lending.events("TitleUpdated")) == 1
    found = (await lending.http.get("/v1/titles", params={"q": "nhat ky tu"})).json()
    assert found["total"] == 1

    await handle(lending, "publication_withdrawn", reader_events_pb2.PublicationWithdrawn(publication_id="pub-1"), "e3")
    assert (await lending.http.get("/v1/titles", params={"q": "nhat ky"})).json()["total"] == 0


async def test_two_publications_of_one_book_are_two_titles_and_keep_their_publisher(lending: Lending) -> None:
    metadata = reader_events_pb2.PublicationMetadata(title="Nước nặng", language="vi", isbn="978-604-1-00000-1")
    for number, publisher in ((1, "nxb-tre"), (2, "nxb-kim-dong")):
        ingested = reader_events_pb2.PublicationIngested(
            publication_id=f"pub-{number}", publisher_id=publisher, metadata=metadata
        )
        await handle(lending, "publication_ingested", ingested, f"e{number}")
    titles = {t["publication_id"]: t async for t in lending.store.titles.find({"isbn": "9786041000001"})}
    assert {key: title["publisher_id"] for key, title in titles.items()} == {
        "pub-1": "nxb-tre",
        "pub-2": "nxb-kim-dong",
    }
    assert titles["pub-1"]["_id"] != titles["pub-2"]["_id"]

    hijack = reader_events_pb2.PublicationUpdated(
        publication_id="pub-1",
        publisher_id="nxb-kim-dong",
        metadata=reader_events_pb2.PublicationMetadata(title="Chiếm quyền", language="vi"),
    )
    with pytest.raises(PublicationOwnerMismatch):  # the consumer retries, then dead-letters it
        await handle(lending, "publication_updated", hijack, "e3")
    kept = await lending.store.titles.find_one({"publication_id": "pub-1"})
    assert kept is not None
    assert kept["title"] == "Nước nặng"
    assert kept["publisher_id"] == "nxb-tre"


async def test_a_licence_returned_through_its_status_document_returns_the_loan_once(lending: Lending) -> None:
    title_id = await lending.title_with_copies(copies=1)
    ana = await lending.active_patron("ana")
    loan = await lending.circulation.checkout(ana, title_id)
    returned = drm_events_pb2.LicenseReturned(license_id="lcp-1", loan_id=loan.id, device_id="kobo")
    await handle(lending, "license_returned", returned, "r1")
    await handle(lending, "license_returned", returned, "r2")  # a duplicate with another id: still one effect

    document = await lending.store.loans.find_one({"_id": loan.id})
    assert document is not None
    assert document["status"] == "returned"
    (event,) = await lending.events("LoanReturned")
    assert event["key"] == title_id
    (license_,) = await lending.store.licenses_for(title_id)
    assert license_.in_use == 0
