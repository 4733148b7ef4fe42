"""DRM wired as in its bootstrap against real MongoDB and S3; LCP credentials made by deploy/local."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf.message import Message
from lcp_provider import ensure_lcp_files
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from drm.adapters.content_keys import ContentKeys, MasterKey
from drm.adapters.mongo_repositories import MongoLicences
from drm.adapters.mongo_unit_of_work import MongoDrmUnitOfWork
from drm.adapters.object_store import S3ObjectStore
from drm.domain import lcp
from drm.domain.documents import LicenceWriter, Links
from drm.entrypoints.consumers import DrmHandlers
from drm.entrypoints.http import licence_router
from drm.service_layer.licences import Licences
from drm.service_layer.protection import Protection
from drm.service_layer.status_documents import StatusDocuments
from sachso.kit.auth import Role, TokenIssuer, TokenVerifier
from sachso.kit.events import ReceivedEvent
from sachso.kit.http import create_http_app
from sachso.kit.jwks import jwks_router
from sachso.kit.outbox import Outbox
from sachso.kit.s3 import create_s3_client
from tests.integration.s3_helpers import remove_bucket, s3_settings
from tests.official_schemas import VALIDATE_RESPONSES

Document = dict[str, Any]


async def not_renewable(loan_id: str) -> datetime:
    raise AssertionError("renewals are exercised end to end in the platform tests")


@dataclass
class DrmUnderTest:
    licences: Licences
    keys: ContentKeys
    handlers: DrmHandlers
    outbox: Outbox
    http: httpx.AsyncClient
    accounts: TokenIssuer
    drm_issuer: TokenIssuer
    verifier: TokenVerifier
    s3: Any
    bucket: str
    source_bucket: str
    mongo: AsyncMongoClient[Document]
    database: AsyncDatabase[Document]

    def patron(self, patron_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.accounts.issue(patron_id, audience='sachso', roles=[Role.PATRON])}"}

    async def handle(self, method: str, payload: Message, event_id: str | None = None) -> None:
        event = ReceivedEvent(
            id=event_id or uuid.uuid4().hex, type=payload.DESCRIPTOR.full_name, source="/sachso/test", subject=None,
            time=datetime.now(UTC), key=None, payload=payload, trace_headers={}, topic="t", partition=0, offset=0,
        )  # fmt: skip
        async with self.mongo.start_session() as session:
            await session.with_transaction(lambda s: getattr(self.handlers, method)(event, s))

    async def events(self, name: str) -> list[Document]:
        cursor = self.outbox.collection.find({"type": f"sachso.events.v1.{name}"}).sort("_id", 1)
        return [document async for document in cursor]


@pytest.fixture
async def drm(
    mongo: AsyncMongoClient[Document], database: AsyncDatabase[Document], stack_env: dict[str, str], tmp_path: Path
) -> AsyncIterator[DrmUnderTest]:
    files = ensure_lcp_files(tmp_path / "lcp")
    provider = lcp.Provider.from_pem(files.certificate.read_bytes(), files.key.read_bytes())
    keys = ContentKeys(database["content_keys"], [MasterKey.from_file(str(files.master_key))])
    outbox = Outbox(mongo, database, source="/sachso/drm")
    await outbox.ensure_indexes()
    accounts = TokenIssuer.generate("sachso-lending")
    drm_issuer = TokenIssuer.generate("sachso-drm")
    settings = s3_settings(stack_env, f"drm-{uuid.uuid4().hex[:10]}")
    source_bucket = f"src-{uuid.uuid4().hex[:10]}"
    async with create_s3_client(settings) as s3:
        for bucket in (settings.s3_bucket, source_bucket):
            await s3.create_bucket(Bucket=bucket)
        links = Links("http://drm", "http://reader")

        def unit_of_work() -> MongoDrmUnitOfWork:
            return MongoDrmUnitOfWork(database, outbox)

        licences = Licences(
            unit_of_work, keys, LicenceWriter(provider, "https://sachso.test", links, (10, 2000)), drm_issuer
        )
        await MongoLicences(database["licences"]).ensure_indexes()
        protection = Protection(unit_of_work, keys, S3ObjectStore(s3), settings.s3_bucket)
        handlers = DrmHandlers(
            protection, licences, lambda session: MongoDrmUnitOfWork(database, outbox, session=session)
        )
        app = create_http_app(title="drm", version="test", readiness={})
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://drm", event_hooks=VALIDATE_RESPONSES
        ) as http:
            app.state.token_verifier = TokenVerifier(
                ["http://drm/accounts/.well-known/jwks.json"], issuers=[accounts.issuer], audience="sachso", http=http
            )
            verifier = TokenVerifier(
                ["http://drm/.well-known/jwks.json"],
                issuers=[drm_issuer.issuer],
                audience="sachso-streaming",
                http=http,
            )
            app.include_router(jwks_router(drm_issuer))
            app.include_router(jwks_router(accounts), prefix="/accounts")
            app.include_router(
                licence_router(
                    licences, StatusDocuments(unit_of_work, links), protection, not_renewable, "http://reader"
                )
            )
            yield DrmUnderTest(
                licences, keys, handlers, outbox, http, accounts, drm_issuer, verifier, s3, settings.s3_bucket,
                source_bucket, mongo, database,
            )  # fmt: skip
        for bucket in (settings.s3_bucket, source_bucket):
            await remove_bucket(s3, bucket)
