"""Lending wired as in its bootstrap, against the real MongoDB-protocol server, one database per test.

The HTTP API is the real FastAPI app (served in-process through httpx's ASGI transport); it verifies tokens
against its own JWKS endpoint, exactly as other services do over the network.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from lending.adapters.accounts import mongo_accounts
from lending.adapters.repositories import MongoTurnaways, mongo_catalogue, mongo_units_of_work
from lending.adapters.sip2_client import Sip2Credentials, Sip2Directory
from lending.adapters.store import LendingStore
from lending.bootstrap import http_routers, local_documents_units_of_work
from lending.domain.licensing import LicenseModel, LicenseTerms
from lending.domain.network import Library, LibraryKind
from lending.domain.patrons import CardStatus
from lending.domain.policy import LendingPolicy
from lending.entrypoints.grpc_api import LendingServicer
from lending.library_systems import LibrarySystems, library_systems
from lending.service_layer.cards import CardAccess, Cards, Secrets
from lending.service_layer.catalogue import Catalogue, TitleMetadata
from lending.service_layer.circulation import Circulation
from lending.service_layer.clock import system_clock
from lending.service_layer.local_documents import OpenCollections
from lending.service_layer.odl_borrowing import OdlSource
from lending.service_layer.staff import Accounts
from lending.settings import LibraryLinks
from sachso.kit.auth import Role, TokenIssuer, TokenVerifier
from sachso.kit.grpc_server import GrpcServer
from sachso.kit.http import create_http_app
from sachso.kit.outbox import Outbox
from sachso.lending.v1 import lending_service_pb2 as pb
from sachso.lending.v1 import lending_service_pb2_grpc as pb_grpc
from tests.official_schemas import VALIDATE_RESPONSES

Document = dict[str, Any]
STAFF_PASSWORD = "correct horse battery staple"
PUBLIC_URL = "https://sachso.daklak.test/lending"  # where reading apps reach lending (links are built from it)
SIP2_LOGIN = Sip2Credentials("sachso", "sip2 login secret", "terminal secret")  # what the test ILS expects
LINKS = LibraryLinks(web_app_url="https://sachso.test", marc_organisation_code="VN-DLK", oai_page_size=3)

NETWORK = [
    (Library("daklak", "Thư viện tỉnh Đắk Lắk", LibraryKind.PROVINCE), "DL"),
    (Library("buonmathuot", "Thư viện TP Buôn Ma Thuột", LibraryKind.DISTRICT, "daklak"), "BMT"),
    (Library("eakar", "Thư viện huyện Ea Kar", LibraryKind.DISTRICT, "daklak", auto_approve_cards=True), "EK"),
    (Library("thpt-bmt", "Thư viện THPT Buôn Ma Thuột", LibraryKind.SCHOOL, "buonmathuot"), "TBMT"),
]


@dataclass
class Lending:
    store: LendingStore
    outbox: Outbox
    circulation: Circulation
    catalogue: Catalogue
    cards: Cards
    accounts: Accounts
    issuer: TokenIssuer
    http: httpx.AsyncClient
    verifier: TokenVerifier
    app: FastAPI
    systems: LibrarySystems

    async def events(self, type_suffix: str) -> list[Document]:
        """Outbox documents of one event type (what the relay will publish), oldest first."""
        cursor = self.outbox.collection.find({"type": f"sachso.events.v1.{type_suffix}"}).sort("_id", 1)
        return [document async for document in cursor]

    async def active_patron(self, patron_id: str, library_id: str = "daklak") -> str:
        """A patron with an active card (inserted directly: the card journey has its own tests)."""
        await self.store.patrons.insert_one(
            {
                "_id": patron_id,
                "library_id": library_id,
                "display_name": f"Bạn đọc {patron_id}",
                "email": f"{patron_id}@example.vn",
                "preferred_language": "vi",
                "status": CardStatus.ACTIVE.value,
                "card_number": f"T-{patron_id.upper()}",
            }
        )
        return patron_id

    def patron_headers(self, patron_id: str, library_id: str = "daklak") -> dict[str, str]:
        token = self.issuer.issue(patron_id, audience="sachso", roles=[Role.PATRON], library_id=library_id)
        return {"Authorization": f"Bearer {token}"}

    async def staff_headers(self, username: str) -> dict[str, str]:
        response = await self.http.post("/v1/auth/staff-token", json={"username": username, "password": STAFF_PASSWORD})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    async def title_with_copies(self, title: str = "Truyện Kiều", copies: int = 1, owner: str = "daklak") -> str:
        metadata = TitleMetadata(title=title, authors=("Nguyễn Du",), language="vi")
        title_id = await self.catalogue.add_title(metadata, publication_id=f"pub-{uuid.uuid4().hex[:12]}")
        terms = LicenseTerms(LicenseModel.ONE_COPY_ONE_USER, concurrency=copies)
        await self.catalogue.add_license(title_id, owner, terms)
        return title_id


STAFF = [
    ("admin.daklak", Role.PROVINCE_ADMIN, "daklak"),
    ("thu.bmt", Role.LIBRARIAN, "buonmathuot"),
    ("lan.eakar", Role.LIBRARIAN, "eakar"),
    ("admin.bmt", Role.LIBRARY_ADMIN, "buonmathuot"),
]


@asynccontextmanager
async def deployment(
    mongo: AsyncMongoClient[Document],
    database: AsyncDatabase[Document],
    *,
    network: list[tuple[Library, str]] = NETWORK,
    staff: list[tuple[str, Role, str]] = STAFF,
    odl_sources: Mapping[str, OdlSource] | None = None,
    name: str = "lending",
    request_deadline_seconds: float = 0.0,
) -> AsyncIterator[Lending]:
    """One lending deployment on ``database``, served in-process at ``http://{name}`` (a test may run two; tests of
    outages pass a database server of their own)."""
    store = LendingStore(database)
    await store.ensure_indexes()
    for library, code in network:
        await store.add_library(library, code, LendingPolicy())
    outbox = Outbox(mongo, database, source="/sachso/lending")
    await outbox.ensure_indexes()
    issuer = TokenIssuer.generate("sachso-lending")
    secrets = Secrets(PasswordHasher(time_cost=1, memory_cost=8 * 1024))  # fast hashes: same code path
    units = mongo_units_of_work(store, outbox)
    circulation = Circulation(units, MongoTurnaways(store))
    catalogue = mongo_catalogue(store, outbox)
    cards = Cards(units, store, issuer, secrets)
    accounts = mongo_accounts(store, issuer, secrets)
    for username, role, library_id in staff:
        await accounts.create_staff(username=username, password=STAFF_PASSWORD, role=role, library_id=library_id)
    app = create_http_app(
        title="lending", version="test", description="", readiness={}, request_deadline_seconds=request_deadline_seconds
    )
    app.state.trusted_proxy_hops = 1  # tests play several clients through X-Forwarded-For
    app.state.principal_check = CardAccess(store, remember_seconds=0.5).ensure_not_blocked
    routers = http_routers(
        issuer, units, circulation, catalogue, cards, accounts, "http://drm.test", public_url=PUBLIC_URL,
        collections=OpenCollections(local_documents_units_of_work(store, outbox), system_clock),
    )  # fmt: skip
    for router in routers:
        app.include_router(router)
    async with httpx.AsyncClient() as lender_http:
        systems = library_systems(
            store, outbox, catalogue, circulation, issuer, LINKS,
            ils=Sip2Directory({"daklak": SIP2_LOGIN}, timeout_seconds=2.0),
            odl_sources=odl_sources or {}, lender_http=lender_http, secrets=secrets,
        )  # fmt: skip
        for router in systems.routers:
            app.include_router(router)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=f"http://{name}", event_hooks=VALIDATE_RESPONSES
        ) as http:
            verifier = TokenVerifier(
                [f"http://{name}/.well-known/jwks.json"], issuers=[issuer.issuer], audience="sachso", http=http
            )
            app.state.token_verifier = verifier
            yield Lending(store, outbox, circulation, catalogue, cards, accounts, issuer, http, verifier, app, systems)


@pytest.fixture
async def lending(mongo: AsyncMongoClient[Document], database: AsyncDatabase[Document]) -> AsyncIterator[Lending]:
    async with deployment(mongo, database) as built:
        yield built


def days(count: int) -> timedelta:
    return timedelta(days=count)


@asynccontextmanager
async def lending_grpc_channel(lending: Lending) -> AsyncIterator[grpc.aio.Channel]:
    """Lending's real gRPC servicer on a free port, and a channel to it (as DRM and notify reach it)."""
    servicer = LendingServicer(lending.circulation, lending.store)
    server = GrpcServer(
        host="127.0.0.1",
        port=0,
        service_names=[pb.DESCRIPTOR.services_by_name["LendingService"].full_name],
        register=lambda s: pb_grpc.add_LendingServiceServicer_to_server(servicer, s),
        verifier=lending.verifier,
    )
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield channel
    finally:
        await server.stop(0)
