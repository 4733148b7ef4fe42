"""The parts of local documents that need real networks: the OCR worker pool on Kafka (a crash mid-document), and
a resumable upload cut off mid-request, then finished by an independent tus client (tuspy) over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaProducer
from tusclient import client as tus_client

from reader.adapters.resumable_uploads import PART_BYTES
from reader.entrypoints.ocr_consumer import OCR_GROUP, ocr_consumers
from sachso.events.v1 import ocr_requests_pb2
from sachso.kit import events as ce
from sachso.kit.consumer import HandlerRegistry, IdempotentConsumer
from sachso.kit.events import ReceivedEvent
from sachso.kit.kafka import create_consumer, ensure_topics
from sachso.kit.topics import OCR_REQUESTS, dead_letter_topic, prefixed, retry_topic
from tests.integration.conftest import IntegrationSettings
from tests.integration.kafka_helpers import wait_until
from tests.integration.reader.local_documents_fixture import (
    LocalDocumentsUnderTest,
    image_bytes,
    rendered_page,
    scans,
    zip_of,
)

pytestmark = pytest.mark.integration
__all__ = ["scans"]


class Crash(BaseException):
    """The worker process dies (not an error the consumer could catch and retry)."""


async def _queue_on_kafka(
    scans: LocalDocumentsUnderTest, settings: IntegrationSettings, producer: AIOKafkaProducer
) -> int:
    """What the outbox relay does: the document's RecognisePage commands onto the OCR topic."""
    topic = prefixed(settings.kafka_topic_prefix, OCR_REQUESTS.name)
    sent = 0
    async for stored in scans.outbox.collection.find({"type": "sachso.events.v1.RecognisePage"}).sort("_id", 1):
        message = ce.encode(event_id=stored["event_id"], event_type=stored["type"], source="/sachso/reader",
                            key=stored["key"], data=bytes(stored["data"]), time=stored["time"])  # fmt: skip
        await producer.send_and_wait(topic, value=message.value, key=stored["key"].encode(),
                                     headers=list(message.headers.items()))  # fmt: skip
        sent += 1
    return sent


async def test_an_ocr_worker_crash_mid_document_resumes_and_no_page_is_done_twice(
    scans: LocalDocumentsUnderTest, settings: IntegrationSettings, producer: AIOKafkaProducer, mongo: Any
) -> None:
    pages = {
        f"{n}.png": image_bytes(rendered_page([f"Trang số {n} của địa chí"], width=1200), "PNG") for n in (1, 2, 3)
    }
    document_id = await scans.digitise(zip_of(pages))
    await ensure_topics(settings, [OCR_REQUESTS, retry_topic(OCR_GROUP), dead_letter_topic(OCR_GROUP)])
    assert await _queue_on_kafka(scans, settings, producer) == 3
    database = scans.repository.documents.database

    def consumer_of(registry: HandlerRegistry) -> tuple[IdempotentConsumer, Any]:
        consumer = IdempotentConsumer(
            registry, client=mongo, database=database, dead_letters=producer,
            topic_prefix=settings.kafka_topic_prefix, initial_backoff_seconds=0.05,
        )  # fmt: skip
        return consumer, create_consumer(settings, consumer.group, consumer.subscribed_topics)

    prepared: list[int] = []
    handlers = scans.ocr_handlers()

    async def prepare_then_die(event: ReceivedEvent[ocr_requests_pb2.RecognisePage]) -> None:
        prepared.append(event.payload.page)
        if len(prepared) == 2:
            raise Crash  # the second page kills the worker: the first is recorded, no offset is committed
        await handlers.prepare(event)

    dying = HandlerRegistry(OCR_GROUP, [OCR_REQUESTS.name])
    dying.register(ocr_requests_pb2.RecognisePage, handlers.record, prepare=prepare_then_die)
    first, kafka_first = consumer_of(dying)
    with pytest.raises(Crash):
        await asyncio.wait_for(first.run(kafka_first, asyncio.Event()), 120)
    document = await scans.repository.document(document_id)
    assert document is not None
    assert document["pages_recognised"] == 1
    assert scans.recognition.recognitions == 1

    second, kafka_second = consumer_of(ocr_consumers(handlers))  # a new worker in the same group
    stop = asyncio.Event()
    task = asyncio.create_task(second.run(kafka_second, stop))

    async def all_recognised() -> bool:
        found = await scans.repository.document(document_id)
        return found is not None and found["pages_recognised"] == 3

    await wait_until(all_recognised, within=120)
    stop.set()
    await asyncio.wait_for(task, 30)
    assert scans.recognition.recognitions == 3  # Tesseract ran once per page, across both workers
    assert await database["handled_events"].count_documents({"_id": {"$regex": f"^{OCR_GROUP}:"}}) == 3
    for number in (1, 2, 3):
        page = await scans.repository.page(document_id, number)
        assert page is not None
        assert page["ocr"]["state"] == "done"
        assert f"{number}" in page["ocr"]["text"]
    assert len(await scans.events("LocalDocumentRecognised")) == 1


@contextlib.asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    await wait_until(lambda: _started(server), within=20)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _started(server: uvicorn.Server) -> bool:
    return server.started


async def test_a_dropped_upload_resumes_from_the_stored_offset_with_an_independent_tus_client(
    scans: LocalDocumentsUnderTest,
) -> None:
    pages = {f"trang-{n}.png": image_bytes(rendered_page([f"Trang {n}"], width=800), "PNG") for n in (1, 2)}
    data = zip_of(pages | {"phu-luc.bin": os.urandom(PART_BYTES + 3 * 1024 * 1024)})  # more than one S3 part
    staff = scans.staff()
    async with served(scans.app) as base, httpx.AsyncClient() as http:
        created = await http.post(
            f"{base}/v1/local-documents/uploads",
            headers=staff | {"Tus-Resumable": "1.0.0", "Upload-Length": str(len(data))},
        )
        location = created.headers["location"]
        assert location.startswith(base)
        # a PATCH cut off after 10 MiB of its body: the connection drops
        host, port = base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        path = location.removeprefix(base)
        head = (f"PATCH {path} HTTP/1.1\r\nHost: {host}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
                f"Content-Type: application/offset+octet-stream\r\nContent-Length: {len(data)}\r\n"
                f"Authorization: {staff['Authorization']}\r\n\r\n")  # fmt: skip
        cut = 10 * 1024 * 1024 + 12345
        writer.write(head.encode() + data[:cut])
        await writer.drain()
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        del reader

        async def offset() -> int:
            answer = await http.head(location, headers=staff | {"Tus-Resumable": "1.0.0"})
            return int(answer.headers["upload-offset"])

        upload_id = location.rsplit("/", 1)[-1]

        async def released() -> bool:  # the cut-off request has finished keeping what it got
            state = await scans.documents.uploads.states.get(upload_id)
            return state is not None and state["lease_until"].year == 1970 and state["offset"] > 0

        await wait_until(released, within=30)
        kept = await offset()
        assert PART_BYTES <= kept <= cut  # what arrived is kept, never more than was sent

        def finish_with_tuspy() -> None:
            uploader = tus_client.TusClient(f"{base}/v1/local-documents/uploads", headers=staff).uploader(
                file_stream=io.BytesIO(data), url=location, chunk_size=3 * 1024 * 1024
            )
            assert uploader.get_offset() == kept
            uploader.upload()

        await asyncio.to_thread(finish_with_tuspy)
        assert await offset() == len(data)
    state = await scans.documents.uploads.states.get(upload_id)
    assert state is not None
    assert state["complete"]
    stored = await scans.s3.get_object(Bucket=scans.bucket, Key=state["key"])
    async with stored["Body"] as body:
        assert hashlib.sha256(await body.read()).hexdigest() == hashlib.sha256(data).hexdigest()
    made = await scans.http.post("/v1/local-documents", json={"upload_id": upload_id}, headers=staff)
    assert made.status_code == 201, made.text
    assert made.json()["page_count"] == 2
    again = await scans.http.post("/v1/local-documents", json={"upload_id": upload_id}, headers=staff)
    assert again.json()["id"] == made.json()["id"]  # the same upload is the same document
