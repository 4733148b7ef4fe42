"""Reader's local documents and OCR worker on in-memory ports (no servers, no Tesseract): once-only effects,
failures and retries, corrections with who and when, and who may do what."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from reader.domain.local_documents import Access, DublinCore, Staff, page_id
from reader.service_layer.local_documents import LocalDocuments, PageNotFailed
from reader.service_layer.ocr import PageRecognition
from reader.service_layer.resumable_uploads import ResumableUploads
from sachso.events.v1 import ocr_requests_pb2
from sachso.kit.errors import Conflict, Forbidden, InvalidInput
from tests.unit.reader.fakes import (
    FakeLocalDocumentRecords,
    FakeLocalDocumentsUnitOfWork,
    FakeMultipartStore,
    FakeObjectStorage,
    FakeRecogniser,
    FakeStoredFiles,
    FakeUploadStates,
    LocalDocumentState,
)

LAN = Staff("lan", frozenset({"librarian"}), "daklak")
MINH = Staff("minh", frozenset({"librarian"}), "eakar")


class Scans:
    def __init__(self, folder: Path, words: list[str]) -> None:
        self.state = LocalDocumentState()
        self.store = FakeObjectStorage()
        self.files = FakeStoredFiles(self.store, folder)
        self.recogniser = FakeRecogniser(words)
        reads = FakeLocalDocumentRecords(self.state)
        units = lambda: FakeLocalDocumentsUnitOfWork(self.state)  # noqa: E731
        uploads = ResumableUploads(FakeUploadStates(), FakeMultipartStore(), max_bytes=1024)
        self.documents = LocalDocuments(reads, units, uploads, self.store, self.files, folder)
        self.recognition = PageRecognition(reads, units, self.store, self.files, self.recogniser)
        self.state.documents["ld-1"] = {"_id": "ld-1", "library_id": "daklak", "title": "Địa chí", "page_count": 2,
                                        "pages_recognised": 0, "pages_corrected": 0, "published": False,
                                        "access": Access.ONLINE_ONLY.value, "description": {"title": "Địa chí"},
                                        "created_at": datetime.now(UTC), "uploaded_by": "lan"}  # fmt: skip
        for number in (1, 2):
            key = f"local-documents/ld-1/pages/{number:05d}.jpg"
            self.store.objects[key] = b"\xff\xd8\xff page"
            self.state.pages[page_id("ld-1", number)] = {
                "_id": page_id("ld-1", number), "document_id": "ld-1", "page": number, "image_key": key,
                "sha256": f"sha-{number}", "width": 800, "height": 600, "ocr": {"state": "queued"}, "corrected": None,
            }  # fmt: skip

    @staticmethod
    def request(number: int) -> ocr_requests_pb2.RecognisePage:
        return ocr_requests_pb2.RecognisePage(document_id="ld-1", page=number, image_sha256=f"sha-{number}",
                                              image_key=f"local-documents/ld-1/pages/{number:05d}.jpg")  # fmt: skip

    async def recognise(self, number: int) -> None:
        """As the consumer does: prepare outside, record in a unit of work."""
        await self.recognition.prepare(self.request(number))
        await FakeLocalDocumentsUnitOfWork(self.state).run(
            lambda uow: self.recognition.record(self.request(number), uow)
        )

    def events(self, name: str) -> list[object]:
        return [event.payload for event in self.state.published if event.payload.DESCRIPTOR.name == name]


async def test_each_page_is_recognised_once_in_effect_and_the_document_announced_once(tmp_path: Path) -> None:
    scans = Scans(tmp_path, ["Cài", "đặt"])
    await scans.recognise(1)
    await scans.recognise(1)  # a redelivery: Tesseract does not run again, nothing moves twice
    assert scans.recogniser.calls == 1
    assert scans.state.documents["ld-1"]["pages_recognised"] == 1
    assert scans.events("LocalDocumentRecognised") == []
    await scans.recognise(2)
    await scans.recognise(2)
    assert scans.state.documents["ld-1"]["pages_recognised"] == 2
    (announced,) = scans.events("LocalDocumentRecognised")
    assert {"cai", "dat"} <= set(announced.words)  # type: ignore[attr-defined]
    hits = await scans.documents.search("ld-1", "cai dat")
    assert [hit["page"] for hit in hits] == [1, 2]
    assert len(hits[0]["boxes"]) == 2  # the two words' boxes, to mark on the image


async def test_a_dead_lettered_page_shows_failed_and_staff_retry_it(tmp_path: Path) -> None:
    scans = Scans(tmp_path, ["Trang"])
    await scans.recognition.dead_lettered(scans.request(2), "FileNotFoundError: the master is missing")
    await scans.recognition.dead_lettered(scans.request(2), "again")  # counted once
    page = scans.state.pages[page_id("ld-1", 2)]
    assert (page["ocr"]["state"], page["ocr"]["error"]) == ("failed", "FileNotFoundError: the master is missing")
    progress = await scans.documents.progress(scans.state.documents["ld-1"])
    assert progress.failed == 1
    with pytest.raises(Forbidden):
        await scans.documents.retry_ocr(MINH, "ld-1", 2)
    with pytest.raises(PageNotFailed):
        await scans.documents.retry_ocr(LAN, "ld-1", 1)
    await scans.documents.retry_ocr(LAN, "ld-1", 2)
    (request,) = scans.events("RecognisePage")
    assert (request.page, request.image_sha256) == (2, "sha-2")  # type: ignore[attr-defined]
    assert scans.state.documents["ld-1"]["pages_failed"] == 0
    await scans.recognise(2)
    assert scans.state.pages[page_id("ld-1", 2)]["ocr"]["state"] == "done"


async def test_corrections_keep_who_when_and_what_they_replaced(tmp_path: Path) -> None:
    scans = Scans(tmp_path, ["Bao", "cao"])
    await scans.recognise(1)
    saved = await scans.documents.correct(LAN, "ld-1", 1, "  Báo   cáo\nnăm 2025 ")
    assert (saved["text"], saved["corrected_by"]) == ("Báo cáo\nnăm 2025", "lan")
    await scans.documents.correct(LAN, "ld-1", 1, "Báo cáo năm 2025")
    history = await scans.documents.corrections(LAN, "ld-1", 1)
    assert [c["previous"] for c in history] == ["Báo cáo\nnăm 2025", "Bao cao"]
    assert scans.state.documents["ld-1"]["pages_corrected"] == 1  # one page, however often corrected
    assert len(scans.events("LocalDocumentPageCorrected")) == 2
    with pytest.raises(Forbidden):
        await scans.documents.correct(MINH, "ld-1", 1, "không phải của tôi")
    with pytest.raises(InvalidInput):
        await scans.documents.correct(LAN, "ld-1", 1, "x" * 200_001)


async def test_publishing_needs_a_description_and_nothing_half_written_on_refusal(tmp_path: Path) -> None:
    scans = Scans(tmp_path, [])
    with pytest.raises(Conflict):
        await scans.documents.publish(LAN, "ld-1", "https://reader/m.json")
    with pytest.raises(InvalidInput):
        await scans.documents.describe(LAN, "ld-1", DublinCore(title="  "), Access.OPEN)
    assert scans.state.published == []
    await scans.documents.describe(LAN, "ld-1", DublinCore(title="Địa chí  Đắk Lắk", creators=("A", " ")),
                                   Access.OPEN)  # fmt: skip
    await scans.documents.publish(LAN, "ld-1", "https://reader/m.json")
    document = scans.state.documents["ld-1"]
    assert (document["title"], document["access"], document["published"]) == ("Địa chí Đắk Lắk", "open", True)
    assert [e.payload.DESCRIPTOR.name for e in scans.state.published] == [
        "LocalDocumentDescribed", "LocalDocumentPublished"]  # fmt: skip
    assert [d["_id"] for d in await scans.documents.library_documents(LAN)] == ["ld-1"]
    assert await scans.documents.library_documents(MINH) == []
