"""The reader's use cases on the in-memory fakes: ingest (new, same file, same book, another publisher's, racing,
withdrawal), reading sync and revocations — no database, no S3 (the books are real files from the corpus)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reader.adapters.pdf import PdfEngine
from reader.errors import FileAlreadyPublished, PublicationNotFound
from reader.service_layer.ingest import Ingest, SubmittedMetadata
from reader.service_layer.reading import Reading
from reader.service_layer.revocations import (
    LoanEnded,
    PatronBlocked,
    Revocations,
    record_loan_ended,
    record_patron_block,
)
from sachso.kit.errors import NotFound
from tests.corpus import CORPUS
from tests.unit.reader.fakes import FakeRevocationReads, ReaderState, fake_units_of_work

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
TREES = CORPUS / "epub" / "trees.epub"
TINY = CORPUS / "epub" / "readium-Tiny-3.epub"

pytestmark = pytest.mark.skipif(not TREES.exists(), reason="the shared corpus is not here")


class FakeFileStore:
    """The bucket: what was put, by key (yields once, as a network call would)."""

    bucket = "reader-test"

    def __init__(self) -> None:
        self.files: dict[str, str] = {}

    async def put_file(self, key: str, path: Path, media_type: str) -> None:
        await asyncio.sleep(0)
        self.files[key] = path.name


@pytest.fixture
async def pdf() -> AsyncIterator[PdfEngine]:
    engine = PdfEngine()
    yield engine
    engine.close()


def events(state: ReaderState) -> list[str]:
    return [event.type.rsplit(".", 1)[-1] for event in state.published]


async def test_ingest_new_same_file_and_another_publishers(pdf: PdfEngine, tmp_path: Path) -> None:
    state, files = ReaderState(), FakeFileStore()
    ingest = Ingest(fake_units_of_work(state), files, pdf)
    first = await ingest.ingest("nxb-tre", TREES, SubmittedMetadata(title="Cây"))
    assert (first.created, first.file_replaced) == (True, False)
    again = await ingest.ingest("nxb-tre", TREES, SubmittedMetadata(title="Cây cối"))
    assert (again.publication_id, again.created, again.file_replaced) == (first.publication_id, False, False)
    assert len(files.files) == 1  # the same file is not uploaded twice
    assert state.publications[first.publication_id]["title"] == "Cây cối"
    other = await ingest.ingest("nxb-kim-dong", TREES, SubmittedMetadata())
    assert other.created
    assert other.publication_id != first.publication_id
    assert events(state) == ["PublicationIngested", "PublicationUpdated", "PublicationIngested"]


async def test_a_new_file_of_the_same_book_replaces_it(pdf: PdfEngine) -> None:
    state, files = ReaderState(), FakeFileStore()
    ingest = Ingest(fake_units_of_work(state), files, pdf)
    first = await ingest.ingest("nxb-tre", TREES, SubmittedMetadata(isbn="978-604-1-00000-1"))
    replaced = await ingest.ingest("nxb-tre", TINY, SubmittedMetadata(isbn="9786041000001"))
    assert (replaced.publication_id, replaced.file_replaced) == (first.publication_id, True)
    assert len(files.files) == 2
    second = await ingest.ingest("nxb-tre", TREES, SubmittedMetadata(title="Cây"))
    assert second.created  # the first file again, now without its ISBN: the book has moved on to another file
    with pytest.raises(FileAlreadyPublished):
        await ingest.ingest("nxb-tre", TINY, SubmittedMetadata(), publication_id=second.publication_id)
    with pytest.raises(PublicationNotFound):
        await ingest.ingest("nxb-kim-dong", TINY, SubmittedMetadata(), publication_id=first.publication_id)


async def test_the_same_file_twice_at_once_is_one_publication(pdf: PdfEngine, tmp_path: Path) -> None:
    state = ReaderState()
    ingest = Ingest(fake_units_of_work(state), FakeFileStore(), pdf)
    copy = tmp_path / "trees-copy.epub"
    shutil.copy(TREES, copy)
    results = await asyncio.gather(
        ingest.ingest("nxb-tre", TREES, SubmittedMetadata()), ingest.ingest("nxb-tre", copy, SubmittedMetadata())
    )
    assert len({result.publication_id for result in results}) == 1
    assert len(state.publications) == 1
    assert sorted(events(state)) == ["PublicationIngested", "PublicationUpdated"]


async def test_withdrawal_is_announced_once_and_only_to_the_owner(pdf: PdfEngine) -> None:
    state = ReaderState()
    ingest = Ingest(fake_units_of_work(state), FakeFileStore(), pdf)
    publication_id = (await ingest.ingest("nxb-tre", TREES, SubmittedMetadata())).publication_id
    with pytest.raises(PublicationNotFound):
        await ingest.withdraw("nxb-kim-dong", publication_id)
    await ingest.withdraw("nxb-tre", publication_id)
    await ingest.withdraw("nxb-tre", publication_id)
    assert events(state) == ["PublicationIngested", "PublicationWithdrawn"]
    assert (await ingest.owned("nxb-tre", publication_id))["status"] == "withdrawn"


async def test_the_position_read_latest_stays_whatever_order_devices_send() -> None:
    state = ReaderState()
    clock = [NOW]
    reading = Reading(fake_units_of_work(state), clock=lambda: clock[0])
    locator = {"href": "c1.xhtml", "type": "application/xhtml+xml"}
    await reading.save_position("ana", "kieu", locator, "tablet", "Máy tính bảng", NOW - timedelta(minutes=1))
    clock[0] = NOW + timedelta(seconds=5)
    old = await reading.save_position("ana", "kieu", locator, "phone", "Điện thoại", NOW - timedelta(minutes=10))
    assert (old.applied, old.device_id) == (False, "tablet")
    future = await reading.save_position("ana", "kieu", locator, "phone", "Điện thoại", NOW + timedelta(days=365))
    assert future.modified == clock[0]  # a device clock in the future cannot pin the position
    assert (await reading.position("ana", "kieu")).device_id == "phone"
    assert [p.device_id for p in await reading.changes_since("ana", NOW)] == ["phone"]
    with pytest.raises(NotFound):
        await reading.position("binh", "kieu")


async def test_annotations_are_her_own() -> None:
    reading = Reading(fake_units_of_work(ReaderState()))
    mark = await reading.add_annotation("ana", "kieu", "highlight", {"href": "c1.xhtml"}, "Trăm năm", "yellow")
    assert [a.note for a in await reading.annotations_of("ana", "kieu")] == ["Trăm năm"]
    assert await reading.annotations_of("binh", "kieu") == []
    with pytest.raises(NotFound):
        await reading.delete_annotation("binh", mark.id)
    await reading.delete_annotation("ana", mark.id)
    assert await reading.annotations_of("ana", "kieu") == []


async def test_the_later_block_change_wins_whatever_order_events_arrive_in() -> None:
    state = ReaderState()
    units = fake_units_of_work(state)
    await units().run(lambda uow: record_patron_block(uow, "ana", False, NOW + timedelta(minutes=1)))  # unblocked
    await units().run(lambda uow: record_patron_block(uow, "ana", True, NOW))  # the block, arriving late
    await Revocations(FakeRevocationReads(state), remember_seconds=0).ensure_open("loan-1", "ana")
    await units().run(lambda uow: record_patron_block(uow, "ana", True, NOW + timedelta(minutes=2)))
    with pytest.raises(PatronBlocked):
        await Revocations(FakeRevocationReads(state), remember_seconds=0).ensure_open("loan-1", "ana")


async def test_an_ended_loan_stops_reading_and_answers_are_remembered_briefly() -> None:
    state = ReaderState()
    reads = FakeRevocationReads(state)
    revocations = Revocations(reads, remember_seconds=60)
    for _ in range(10):  # a page turn: a dozen resource requests
        await revocations.ensure_open("loan-1", "ana")
    assert reads.reads == 2  # one read per question, then remembered
    await fake_units_of_work(state)().run(lambda uow: record_loan_ended(uow, "loan-1", NOW))
    with pytest.raises(LoanEnded):
        await Revocations(reads, remember_seconds=0).ensure_open("loan-1")
