"""A page whose OCR fails every attempt is dead-lettered, shown failed (with the error) for its item, and staff
retry it once the cause is fixed — with the real Tesseract, database and S3."""

from __future__ import annotations

from typing import Any

import pytest

from reader.entrypoints.ocr_consumer import ocr_consumers
from sachso.kit import events as ce
from sachso.kit.consumer import IdempotentConsumer
from sachso.kit.events import KafkaRecord
from tests.integration.reader.local_documents_fixture import (
    LocalDocumentsUnderTest,
    image_bytes,
    rendered_page,
    scans,
    zip_of,
)

pytestmark = pytest.mark.integration
__all__ = ["scans"]


class DeadLetters:
    """Where the consumer sends what failed every attempt (the producer's one call it makes)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_and_wait(
        self, topic: str, value: bytes | None, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        self.sent.append({"topic": topic, "value": value, "key": key, "headers": headers})


async def work_the_queue(scans: LocalDocumentsUnderTest, document_id: str, dead_letters: DeadLetters) -> list[str]:
    """Every RecognisePage of the document through the OCR group's real consumer (two attempts each)."""
    consumer = IdempotentConsumer(
        ocr_consumers(scans.ocr_handlers()), client=scans.outbox.client, database=scans.repository.documents.database,
        dead_letters=dead_letters, max_attempts=2, initial_backoff_seconds=0.01,
    )  # fmt: skip
    outcomes = []
    async for stored in scans.outbox.collection.find(
        {"type": "sachso.events.v1.RecognisePage", "subject": document_id}
    ).sort("_id", 1):
        message = ce.encode(event_id=stored["event_id"], event_type=stored["type"], source="/sachso/reader",
                            key=stored["key"], data=bytes(stored["data"]), time=stored["time"])  # fmt: skip
        record = KafkaRecord("ocr", 0, 0, stored["key"].encode(), message.value, tuple(message.headers.items()))
        outcomes.append(await consumer.handle_record(record))
    return outcomes


async def test_a_page_that_fails_every_attempt_shows_failed_and_staff_retry_it(scans: LocalDocumentsUnderTest) -> None:
    pages = {f"{n}.png": image_bytes(rendered_page([f"Trang {n}: Cài đặt"], width=900), "PNG") for n in (1, 2)}
    document_id = await scans.digitise(zip_of(pages))
    staff = scans.staff()
    broken = await scans.repository.page(document_id, 2)
    assert broken is not None
    good_image = (await scans.s3.get_object(Bucket=scans.bucket, Key=broken["image_key"]))["Body"]
    async with good_image as body:
        original = await body.read()
    # the stored master of page 2 is missing (a storage fault, a restore in progress): its OCR cannot run
    await scans.s3.delete_object(Bucket=scans.bucket, Key=broken["image_key"])

    dead_letters = DeadLetters()
    assert await work_the_queue(scans, document_id, dead_letters) == ["handled", "dead-lettered"]
    assert len(dead_letters.sent) == 1
    listed = (await scans.http.get(f"/v1/local-documents/{document_id}/pages", headers=staff)).json()
    assert [page["ocr"] for page in listed] == ["done", "failed"]
    assert listed[1]["ocr_error"]
    status = (await scans.http.get(f"/v1/local-documents/{document_id}", headers=staff)).json()
    assert status["pages_failed"] == 1
    assert status["progress"]["failed"] == 1
    assert status["progress"]["recognised"] == 1
    assert status["progress"]["complete"]  # every page has an outcome: nothing is silently pending

    not_failed = await scans.http.post(f"/v1/local-documents/{document_id}/pages/1/ocr-retry", headers=staff)
    assert not_failed.status_code == 409
    assert not_failed.json()["type"].endswith("/ocr-page-not-failed")
    other_library = scans.staff("minh", library="eakar")
    denied = await scans.http.post(f"/v1/local-documents/{document_id}/pages/2/ocr-retry", headers=other_library)
    assert denied.status_code == 403

    await scans.s3.put_object(Bucket=scans.bucket, Key=broken["image_key"], Body=original)  # the fault is fixed
    retried = await scans.http.post(f"/v1/local-documents/{document_id}/pages/2/ocr-retry", headers=staff)
    assert retried.status_code == 202, retried.text
    assert len(await scans.events("RecognisePage")) == 3  # a new request for the worker pool
    await work_the_queue(scans, document_id, DeadLetters())
    listed = (await scans.http.get(f"/v1/local-documents/{document_id}/pages", headers=staff)).json()
    assert [page["ocr"] for page in listed] == ["done", "done"]
    text = (await scans.http.get(f"/v1/local-documents/{document_id}/pages/2/text", headers=staff)).json()
    assert "Trang 2" in text["text"]
    status = (await scans.http.get(f"/v1/local-documents/{document_id}", headers=staff)).json()
    assert (status["pages_failed"], status["pages_recognised"]) == (0, 2)
    assert len(await scans.events("LocalDocumentRecognised")) == 1
