"""Reader's local-documents side wired as in its bootstrap, against the real MongoDB-protocol server, SeaweedFS and
Tesseract; scans made here: Vietnamese text rendered at 300 dpi with DejaVu, and pages of the corpus PDFs."""

from __future__ import annotations

import base64
import io
import uuid
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw, ImageFont
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from reader.adapters.local_document_repository import (
    LocalDocumentRepository,
    MongoLocalDocumentsUnitOfWork,
    local_documents_units_of_work,
)
from reader.adapters.mongo_repositories import MongoRevocationReads, ensure_indexes
from reader.adapters.resumable_uploads import MultipartObjects, UploadStateRepository
from reader.adapters.storage import BookCache, ObjectStore
from reader.adapters.tesseract import Tesseract
from reader.entrypoints.local_documents_http import iiif_routers, loan_viewer_from, local_documents_router
from reader.entrypoints.ocr_consumer import OcrHandlers, ocr_consumers
from reader.entrypoints.tus import tus_router
from reader.service_layer.local_documents import LocalDocuments
from reader.service_layer.ocr import PageRecognition
from reader.service_layer.resumable_uploads import ResumableUploads
from reader.service_layer.revocations import Revocations
from sachso.kit import events as ce
from sachso.kit.auth import Role, TokenIssuer, TokenVerifier
from sachso.kit.consumer import HandlerRegistry, IdempotentConsumer
from sachso.kit.events import KafkaRecord
from sachso.kit.http import create_http_app
from sachso.kit.jwks import jwks_router
from sachso.kit.outbox import Outbox
from sachso.kit.s3 import create_s3_client
from sachso.kit.text import nfc
from tests.integration.s3_helpers import remove_bucket
from tests.integration.s3_helpers import s3_settings as bucket_settings

Document = dict[str, Any]
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
DPI = 300


def rendered_page(lines: list[str], *, width: int = 1600, font_points: int = 12) -> Image.Image:
    """Text as a scanner would see it: black on white, ``font_points`` at 300 dpi, a little margin."""
    size = round(font_points * DPI / 72)
    font = ImageFont.truetype(str(FONT), size)
    image = Image.new("L", (width, 120 + len(lines) * round(size * 1.6)), 255)
    draw = ImageDraw.Draw(image)
    for index, line in enumerate(lines):
        draw.text((80, 60 + index * round(size * 1.6)), nfc(line), fill=0, font=font)
    return image


def image_bytes(image: Image.Image, kind: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kind)
    return buffer.getvalue()


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def character_error_rate(reference: str, found: str) -> float:
    """Levenshtein distance over characters (spaces collapsed, NFC) divided by the reference's length."""
    ref, hyp = " ".join(nfc(reference).split()), " ".join(nfc(found).split())
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1] / max(len(ref), 1)


@dataclass
class LocalDocumentsUnderTest:
    documents: LocalDocuments
    recognition: PageRecognition
    repository: LocalDocumentRepository
    outbox: Outbox
    http: httpx.AsyncClient
    app: Any
    accounts: TokenIssuer
    drm: TokenIssuer
    revocations: Revocations
    s3: Any
    bucket: str

    def ocr_handlers(self) -> OcrHandlers:
        """The OCR group's handlers as the bootstrap wires them (joining the consumer's transaction)."""
        return OcrHandlers(
            self.recognition,
            lambda session: MongoLocalDocumentsUnitOfWork(self.repository, self.outbox, session=session),
        )

    def staff(self, user: str = "lan", library: str = "daklak", role: Role = Role.LIBRARIAN) -> dict[str, str]:
        token = self.accounts.issue(user, audience="sachso", roles=[role], library_id=library)
        return {"Authorization": f"Bearer {token}"}

    def publisher(self) -> dict[str, str]:
        token = self.accounts.issue("nxb", audience="sachso", roles=[Role.PUBLISHER], publisher_id="nxb")
        return {"Authorization": f"Bearer {token}"}

    def streaming_token(self, document_id: str, patron: str = "ana", loan: str = "loan-12345678") -> str:
        return self.drm.issue(patron, audience="sachso-streaming", ttl_seconds=300, pub=document_id, loan=loan,
                              online_only=True)  # fmt: skip

    async def upload(self, data: bytes, headers: dict[str, str], filename: str = "scans.zip", chunk: int = 0) -> str:
        """A whole tus upload over HTTP (in chunks of ``chunk`` bytes, or one); its id."""
        tus = {"Tus-Resumable": "1.0.0"}
        created = await self.http.post(
            "/v1/local-documents/uploads",
            headers=headers | tus | {"Upload-Length": str(len(data)),
                                     "Upload-Metadata": f"filename {base64.b64encode(filename.encode()).decode()}"},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        location = created.headers["location"]
        step = chunk or len(data)
        for offset in range(0, len(data), step):
            sent = await self.http.patch(
                location,
                content=data[offset : offset + step],
                headers=headers | tus | {"Upload-Offset": str(offset),
                                         "Content-Type": "application/offset+octet-stream"},
            )  # fmt: skip
            assert sent.status_code == 204, sent.text
        return location.rsplit("/", 1)[-1]

    async def digitise(self, data: bytes, title: str = "", filename: str = "scans.zip") -> str:
        upload_id = await self.upload(data, self.staff(), filename)
        made = await self.http.post(
            "/v1/local-documents", json={"upload_id": upload_id, "title": title}, headers=self.staff()
        )
        assert made.status_code == 201, made.text
        return str(made.json()["id"])

    async def recognise_all(self, document_id: str) -> None:
        """Run the OCR worker's two steps on each queued page, as the consumer does (Kafka is tested elsewhere)."""

        class NoDeadLetters:
            async def send_and_wait(self, *args: object, **kwargs: object) -> None:
                raise AssertionError("nothing should be dead-lettered")

        registry: HandlerRegistry = ocr_consumers(self.ocr_handlers())
        consumer = IdempotentConsumer(
            registry, client=self.outbox.client, database=self.repository.documents.database,
            dead_letters=NoDeadLetters(), max_attempts=2, initial_backoff_seconds=0.01,
        )  # fmt: skip
        async for stored in self.outbox.collection.find(
            {"type": "sachso.events.v1.RecognisePage", "subject": document_id}
        ).sort("_id", 1):
            message = ce.encode(event_id=stored["event_id"], event_type=stored["type"], source="/sachso/reader",
                                key=stored["key"], data=bytes(stored["data"]), time=stored["time"])  # fmt: skip
            record = KafkaRecord("ocr", 0, 0, stored["key"].encode(), message.value, tuple(message.headers.items()))
            assert await consumer.handle_record(record) in ("handled", "duplicate")

    async def events(self, name: str) -> list[Document]:
        cursor = self.outbox.collection.find({"type": f"sachso.events.v1.{name}"}).sort("_id", 1)
        return [document async for document in cursor]


@pytest.fixture
async def scans(
    mongo: AsyncMongoClient[Document], database: AsyncDatabase[Document], stack_env: dict[str, str], tmp_path: Path
) -> AsyncIterator[LocalDocumentsUnderTest]:
    s3_settings = bucket_settings(stack_env, f"scans-{uuid.uuid4().hex[:10]}")
    outbox = Outbox(mongo, database, source="/sachso/reader")
    await outbox.ensure_indexes()
    accounts = TokenIssuer.generate("sachso-lending")
    drm = TokenIssuer.generate("sachso-drm")
    async with create_s3_client(s3_settings) as s3:
        await s3.create_bucket(Bucket=s3_settings.s3_bucket)
        store = ObjectStore(s3, s3_settings.s3_bucket)
        cache = BookCache(store, tmp_path / "books", disk_bytes=256 * 1024**2, memory_bytes=64 * 1024**2)
        repository = LocalDocumentRepository(database)
        await repository.ensure_indexes()
        states = UploadStateRepository(database)
        await states.ensure_indexes()
        uploads = ResumableUploads(states, MultipartObjects(s3, s3_settings.s3_bucket), max_bytes=512 * 1024**2)
        (tmp_path / "work").mkdir()
        units_of_work = local_documents_units_of_work(repository, outbox)
        documents = LocalDocuments(repository, units_of_work, uploads, store, cache, tmp_path / "work")
        recognition = PageRecognition(repository, units_of_work, store, cache, Tesseract())
        await ensure_indexes(database)
        revocations = Revocations(MongoRevocationReads(database))
        app = create_http_app(title="reader", version="test", readiness={})
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://reader") as http:
            app.state.token_verifier = TokenVerifier(
                ["http://reader/.well-known/jwks.json"], issuers=[accounts.issuer], audience="sachso", http=http
            )
            streaming_tokens = TokenVerifier(
                ["http://reader/drm/.well-known/jwks.json"], issuers=[drm.issuer], audience="sachso-streaming",
                http=http,
            )  # fmt: skip
            app.include_router(jwks_router(accounts))
            app.include_router(jwks_router(drm), prefix="/drm")
            app.include_router(tus_router(uploads))
            app.include_router(local_documents_router(documents))
            for router in iiif_routers(documents, loan_viewer_from(streaming_tokens, revocations)):
                app.include_router(router)
            yield LocalDocumentsUnderTest(documents, recognition, repository, outbox, http, app, accounts, drm,
                                          revocations, s3, s3_settings.s3_bucket)  # fmt: skip
        await remove_bucket(s3, s3_settings.s3_bucket)
