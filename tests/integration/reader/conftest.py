"""Reader wired as in its bootstrap, against the real MongoDB-protocol server and SeaweedFS (S3).

Each test has its own database and bucket. Tokens come from two test issuers standing in for lending
(patrons, publishers) and DRM (streaming tokens); the app verifies them against JWKS it serves itself.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from reader.adapters.epubcheck import EpubCheck
from reader.adapters.mongo_repositories import MongoPublicationReads, MongoRevocationReads, ensure_indexes
from reader.adapters.mongo_unit_of_work import joined_units_of_work, mongo_units_of_work
from reader.adapters.open_publications import OpenPublications
from reader.adapters.pdf import PdfEngine
from reader.adapters.storage import BookCache, ObjectStore
from reader.entrypoints.consumers import ReaderHandlers
from reader.entrypoints.http import StreamingGrants, covers_router, ingest_router, reading_router, streaming_router
from reader.entrypoints.streaming_fast_path import StreamingFastPath
from reader.service_layer.ingest import Ingest
from reader.service_layer.reading import Reading
from reader.service_layer.revocations import Revocations, record_loan_ended
from reader.service_layer.streaming import Streaming
from sachso.kit.auth import Role, TokenIssuer, TokenVerifier
from sachso.kit.http import create_http_app
from sachso.kit.jwks import jwks_router
from sachso.kit.outbox import Outbox
from sachso.kit.s3 import create_s3_client
from tests.integration.s3_helpers import remove_bucket
from tests.integration.s3_helpers import s3_settings as bucket_settings
from tests.official_schemas import VALIDATE_RESPONSES

Document = dict[str, Any]


@dataclass
class ReaderUnderTest:
    ingest: Ingest
    streaming: Streaming
    reading: Reading
    revocations: Revocations
    cache: BookCache
    outbox: Outbox
    http: httpx.AsyncClient
    accounts: TokenIssuer
    drm: TokenIssuer
    s3: Any
    bucket: str
    framework: httpx.AsyncClient  # the same app without the streaming fast path in front
    open_publications: OpenPublications
    database: AsyncDatabase[dict[str, Any]]

    @property
    def publications(self) -> Any:
        """The stored publications, as tests look at them."""
        return self.database["publications"]

    async def end_loan(self, loan_id: str) -> None:
        """What lending's LoanReturned does to the reader, through its unit of work."""
        now = datetime.now(UTC)
        await mongo_units_of_work(self.database, self.outbox)().run(lambda uow: record_loan_ended(uow, loan_id, now))

    @property
    def handlers(self) -> ReaderHandlers:
        """The reader's consumer handlers, joining the transaction a test hands them."""
        return ReaderHandlers(joined_units_of_work(self.database, self.outbox), self.open_publications)

    def publisher(self, publisher_id: str) -> dict[str, str]:
        token = self.accounts.issue(publisher_id, audience="sachso", roles=[Role.PUBLISHER], publisher_id=publisher_id)
        return {"Authorization": f"Bearer {token}"}

    def patron(self, patron_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.accounts.issue(patron_id, audience='sachso', roles=[Role.PATRON])}"}

    def streaming_token(self, publication_id: str, patron_id: str = "ana", ttl: float = 300) -> str:
        return self.drm.issue(
            patron_id, audience="sachso-streaming", ttl_seconds=ttl, pub=publication_id, loan="loan-1"
        )

    async def events(self, name: str) -> list[Document]:
        cursor = self.outbox.collection.find({"type": f"sachso.events.v1.{name}"}).sort("_id", 1)
        return [document async for document in cursor]


@pytest.fixture(scope="session")
async def epubcheck(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EpubCheck]:
    """One EPUBCheck JVM for the whole session, as the service keeps one."""
    checker = EpubCheck(tmp_path_factory.mktemp("epubcheck"))
    yield checker
    await checker.close()


@pytest.fixture
async def reader(
    mongo: AsyncMongoClient[Document],
    database: AsyncDatabase[Document],
    stack_env: dict[str, str],
    tmp_path: Path,
    epubcheck: EpubCheck,
) -> AsyncIterator[ReaderUnderTest]:
    s3_settings = bucket_settings(stack_env, f"reader-{uuid.uuid4().hex[:10]}")
    outbox = Outbox(mongo, database, source="/sachso/reader")
    await outbox.ensure_indexes()
    accounts = TokenIssuer.generate("sachso-lending")
    drm = TokenIssuer.generate("sachso-drm")
    pdf = PdfEngine()
    async with create_s3_client(s3_settings) as s3:
        await s3.create_bucket(Bucket=s3_settings.s3_bucket)
        store = ObjectStore(s3, s3_settings.s3_bucket)
        cache = BookCache(store, tmp_path / "books", disk_bytes=256 * 1024**2, memory_bytes=64 * 1024**2)
        await ensure_indexes(database)
        units = mongo_units_of_work(database, outbox)
        ingest = Ingest(units, store, pdf, epubcheck=epubcheck)
        reading = Reading(units)
        streaming = Streaming(MongoPublicationReads(database), cache, pdf, page_cache_dir=tmp_path / "pages")
        app = create_http_app(title="reader", version="test", readiness={})
        (tmp_path / "uploads").mkdir()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://reader", event_hooks=VALIDATE_RESPONSES
        ) as http:
            app.state.token_verifier = TokenVerifier(
                ["http://reader/.well-known/jwks.json"], issuers=[accounts.issuer], audience="sachso", http=http
            )
            streaming_tokens = TokenVerifier(
                ["http://reader/drm/.well-known/jwks.json"],
                issuers=[drm.issuer],
                audience="sachso-streaming",
                http=http,
            )
            app.include_router(jwks_router(accounts))
            app.include_router(jwks_router(drm), prefix="/drm")
            app.include_router(ingest_router(ingest, tmp_path / "uploads"))
            revocations = Revocations(MongoRevocationReads(database))
            open_publications = OpenPublications(database["open_publications"])
            grants = StreamingGrants(streaming_tokens, revocations, open_publications=open_publications)
            app.include_router(streaming_router(streaming, grants))
            app.include_router(covers_router(streaming))
            app.include_router(reading_router(reading))
            transport.app = StreamingFastPath(app, streaming, grants)  # in front of the framework, as in bootstrap
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://reader") as framework:
                yield ReaderUnderTest(
                    ingest, streaming, reading, revocations, cache, outbox, http, accounts, drm, s3,
                    s3_settings.s3_bucket, framework, open_publications, database,
                )  # fmt: skip
        await remove_bucket(s3, s3_settings.s3_bucket)
    pdf.close()
