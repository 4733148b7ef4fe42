"""Smoke test: all four services boot against the local stack, answer health over HTTP and gRPC, and an
event written by lending reaches notify through the outbox relay and Kafka."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from argon2 import PasswordHasher
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from local_platform import SERVICES, Platform, ServiceEndpoints, read_env_file
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession

from drm.domain import lcp
from lending.adapters.accounts import mongo_accounts
from lending.adapters.store import LendingStore
from lending.service_layer.cards import Secrets
from sachso.events.v1 import lending_events_pb2, reader_events_pb2
from sachso.kit.auth import Role, TokenIssuer
from sachso.kit.events import OutboundEvent
from sachso.kit.outbox import Emit, Outbox
from sachso.kit.topics import LENDING_EVENTS, READER_EVENTS
from tests.corpus import CORPUS
from tests.integration.kafka_helpers import wait_until
from tests.official_schemas import VALIDATE_RESPONSES

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def platform(stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    state = tmp_path_factory.mktemp("platform")
    platform = Platform(state, stack_env, namespace=f"smoke{uuid.uuid4().hex[:8]}")
    platform.start()
    yield platform
    platform.stop()
    assert not any(platform.status().values())


@pytest.fixture(scope="module")
def endpoints(platform: Platform) -> dict[str, ServiceEndpoints]:
    return platform.endpoints()


@pytest.mark.parametrize("service", SERVICES)
async def test_http_health_and_readiness(endpoints: dict[str, ServiceEndpoints], service: str) -> None:
    async with httpx.AsyncClient(base_url=endpoints[service].http_url) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert set(ready.json()["checks"]) == {"mongodb"}  # only what the pod needs gates readiness
        dependencies = set(ready.json()["dependencies"])
        assert dependencies == ({"kafka", "s3"} if service in {"reader", "drm"} else {"kafka"})
        assert (await client.get("/openapi.json")).status_code == 200
        assert "sachso_events_published_total" in (await client.get("/metrics/")).text


@pytest.mark.parametrize("service", SERVICES)
async def test_grpc_health_and_reflection(endpoints: dict[str, ServiceEndpoints], service: str) -> None:
    async with grpc.aio.insecure_channel(endpoints[service].grpc_target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        response = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        assert response.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        answers = [answer async for answer in reflection.ServerReflectionInfo(iter([request]))]
        names = {service.name for service in answers[0].list_services_response.service}
        assert "grpc.health.v1.Health" in names
    async with httpx.AsyncClient(base_url=endpoints[service].http_url) as client:
        metrics = (await client.get("/metrics/")).text
    assert 'sachso_grpc_requests_total{code="OK",method="/grpc.health.v1.Health/Check"}' in metrics
    assert 'sachso_grpc_request_duration_seconds_count{method="/grpc.health.v1.Health/Check"}' in metrics


async def test_issuers_publish_their_keys(endpoints: dict[str, ServiceEndpoints]) -> None:
    async with httpx.AsyncClient() as client:
        for issuer in ("lending", "drm"):
            jwks = (await client.get(f"{endpoints[issuer].http_url}/.well-known/jwks.json")).json()
            assert jwks["keys"][0]["alg"] == "ES256"


async def test_event_from_lending_reaches_notify_through_kafka(
    platform: Platform, endpoints: dict[str, ServiceEndpoints], stack_env: dict[str, str]
) -> None:
    """lending's outbox relay publishes; notify's consumer handles it and the patron sees it in her inbox."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(stack_env["SACHSO_MONGO_URI"], retryWrites=False)
    lending_db = client[f"{platform.namespace}_lending"]
    outbox = Outbox(client, lending_db, source="/sachso/lending")
    approved_at = Timestamp()
    approved_at.FromDatetime(datetime.now(UTC))
    approved = lending_events_pb2.PatronApproved(
        patron_id="patron-smoke",
        library_id="lib-daklak",
        card_number="DL-000123",
        display_name="Nguyễn Thị Ánh",
        preferred_language="vi",
        approved_at=approved_at,
    )

    async def approve(session: AsyncClientSession, emit: Emit) -> None:
        emit(OutboundEvent(topic=LENDING_EVENTS.name, key="patron-smoke", payload=approved))

    await outbox.transaction(approve)

    issuer = TokenIssuer.from_files(
        "sachso-lending", [str(next((platform.state_dir / "keys" / "lending").glob("*.pem")))]
    )
    patron = issuer.issue("patron-smoke", audience="sachso", roles=[Role.PATRON])
    stranger = issuer.issue("patron-other", audience="sachso", roles=[Role.PATRON])
    async with httpx.AsyncClient(base_url=endpoints["notify"].http_url) as http:

        async def delivered() -> bool:
            response = await http.get("/v1/inbox", headers={"Authorization": f"Bearer {patron}"})
            return response.status_code == 200 and len(response.json()) == 1

        await wait_until(delivered, within=60)
        messages = (await http.get("/v1/inbox", headers={"Authorization": f"Bearer {patron}"})).json()
        assert messages[0]["title"] == "Thẻ bạn đọc đã được duyệt"
        assert "Nguyễn Thị Ánh" in messages[0]["body"]
        assert "DL-000123" in messages[0]["body"]
        others = await http.get("/v1/inbox", headers={"Authorization": f"Bearer {stranger}"})
        assert others.json() == []  # a patron never sees another patron's messages
        marked = await http.post(f"/v1/inbox/{messages[0]['id']}/read", headers={"Authorization": f"Bearer {stranger}"})
        assert marked.status_code == 404
    await asyncio.sleep(0)
    assert await lending_db["outbox"].count_documents({"sent_at": None}) == 0
    await client.close()


async def test_publication_from_reader_reaches_the_lending_catalogue(
    platform: Platform, endpoints: dict[str, ServiceEndpoints], stack_env: dict[str, str]
) -> None:
    """reader's outbox → Kafka → lending's consumer: the book is searchable, without its diacritics."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(stack_env["SACHSO_MONGO_URI"], retryWrites=False)
    outbox = Outbox(client, client[f"{platform.namespace}_reader"], source="/sachso/reader")
    ingested = reader_events_pb2.PublicationIngested(
        publication_id="pub-smoke",
        publisher_id="nxb-tre",
        metadata=reader_events_pb2.PublicationMetadata(title="Dế Mèn phiêu lưu ký", authors=["Tô Hoài"], language="vi"),
    )

    async def ingest(session: AsyncClientSession, emit: Emit) -> None:
        emit(OutboundEvent(topic=READER_EVENTS.name, key="pub-smoke", payload=ingested))

    await outbox.transaction(ingest)
    async with httpx.AsyncClient(base_url=endpoints["lending"].http_url) as http:

        async def catalogued() -> bool:
            return bool((await http.get("/v1/titles", params={"q": "de men"})).json()["total"] == 1)

        await wait_until(catalogued, within=60)
        (item,) = (await http.get("/v1/titles", params={"q": "to hoai"})).json()["items"]
        assert item["title"] == "Dế Mèn phiêu lưu ký"
    await client.close()


async def test_operator_uploads_a_folder_and_the_books_reach_the_catalogue(
    platform: Platform, endpoints: dict[str, ServiceEndpoints], stack_env: dict[str, str], tmp_path: Path
) -> None:
    """reader.upload → reader ingest API (publisher token from lending) → Kafka → lending's catalogue."""
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(stack_env["SACHSO_MONGO_URI"], retryWrites=False)
    store = LendingStore(client[f"{platform.namespace}_lending"])
    accounts = mongo_accounts(
        store, TokenIssuer.generate("unused"), Secrets(PasswordHasher(time_cost=1, memory_cost=8192))
    )
    await accounts.create_publisher(name="NXB Trẻ", secret="s" * 32, publisher_id="nxb-tre")
    for name in (
        "epub/debian-installation-guide-vi.epub3.epub",
        "epub/trees.epub",
        "epub-broken/readium-Tiny-3-Bad.epub",
    ):
        shutil.copy(CORPUS / name, tmp_path / Path(name).name)
    upload = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "reader.upload",
        str(tmp_path),
        "--reader",
        endpoints["reader"].http_url,
        "--lending",
        endpoints["lending"].http_url,
        "--publisher",
        "nxb-tre",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200"},
    )
    output, _ = await upload.communicate(b"s" * 32 + b"\n")
    text = output.decode()
    assert upload.returncode == 1, text  # one book was refused
    assert "accepted 2, flagged 0, refused 1" in text, text
    assert "none of the documents in the reading order" in text

    async with httpx.AsyncClient(base_url=endpoints["lending"].http_url) as http:

        async def catalogued() -> bool:
            found = (await http.get("/v1/titles", params={"q": "so tay cai dat debian"})).json()
            return bool(found["total"] == 1)

        await wait_until(catalogued, within=60)
    await client.close()


async def test_the_journey_across_all_services(
    platform: Platform, endpoints: dict[str, ServiceEndpoints], stack_env: dict[str, str]
) -> None:
    """Ingest → catalogue → licence → borrow over OPDS → LCP licence and streaming → return in the reading app
    → lending returns the loan → streaming stops. Every hop is a real service, Kafka and MongoDB in between."""
    keys = platform.state_dir / "keys"
    accounts = TokenIssuer.from_files("sachso-lending", [str(next((keys / "lending").glob("*.pem")))])
    publisher = accounts.issue("nxb-kim-dong", audience="sachso", roles=[Role.PUBLISHER], publisher_id="nxb-kim-dong")
    admin = accounts.issue("admin", audience="sachso", roles=[Role.PROVINCE_ADMIN], library_id="daklak")
    lending_url, reader_url, drm_url = (endpoints[name].http_url for name in ("lending", "reader", "drm"))
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(stack_env["SACHSO_MONGO_URI"], retryWrites=False)
    async with httpx.AsyncClient(timeout=60, event_hooks=VALIDATE_RESPONSES) as http:  # official schemas
        book = CORPUS / "epub" / "trees.epub"
        files = {"file": (book.name, book.read_bytes(), "application/epub+zip")}
        ingested = await http.post(
            f"{reader_url}/v1/publications", files=files, headers={"Authorization": f"Bearer {publisher}"}
        )
        assert ingested.status_code == 201, ingested.text
        library = {"id": "daklak", "name": "Thư viện tỉnh Đắk Lắk", "kind": "province", "code": "DL"}
        staff = {"Authorization": f"Bearer {admin}"}
        assert (await http.post(f"{lending_url}/v1/libraries", json=library, headers=staff)).status_code == 201

        publication_id = ingested.json()["id"]

        async def ours() -> list[dict[str, Any]]:  # another test's publisher has its own title of the same file
            found = (await http.get(f"{lending_url}/v1/titles", params={"q": "trees"})).json()["items"]
            return [title for title in found if title["publication_id"] == publication_id]

        async def catalogued() -> bool:
            return len(await ours()) == 1

        await wait_until(catalogued, within=60)
        (title,) = await ours()
        licence = {"owner_library_id": "daklak", "model": "one-copy-one-user", "concurrency": 1}
        assert (
            await http.post(f"{lending_url}/v1/titles/{title['id']}/licenses", json=licence, headers=staff)
        ).status_code == 201
        pin_hash = PasswordHasher().hash("2468")
        await client[f"{platform.namespace}_lending"]["patrons"].insert_one(
            {
                "_id": "ana",
                "library_id": "daklak",
                "display_name": "Ana",
                "email": "ana@example.vn",
                "status": "active",
                "card_number": "DL-000777",
                "pin_hash": pin_hash,
            }
        )

        signed_in = await http.post(
            f"{lending_url}/opds/oauth/token",
            data={"grant_type": "password", "username": "DL-000777", "password": "2468"},
        )
        ana = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        borrowed = await http.post(f"{lending_url}/opds/publications/{title['id']}/borrow", headers=ana)
        assert borrowed.status_code == 201, borrowed.text
        licence_link = next(
            link for link in borrowed.json()["links"] if link["rel"] == "http://opds-spec.org/acquisition"
        )
        loan_id = licence_link["href"].split("/v1/loans/")[1].split("/")[0]
        passphrase = {"passphrase": "mèo con", "hint": "Tên con mèo?"}
        assert (await http.put(f"{drm_url}/v1/lcp/passphrase", json=passphrase, headers=ana)).status_code == 204
        shelf = (await http.get(f"{lending_url}/opds/shelf", headers=ana)).json()
        acquisition = next(
            link for link in shelf["publications"][0]["links"] if link["rel"] == "http://opds-spec.org/acquisition"
        )
        assert acquisition["properties"]["lcp_hashed_passphrase"] == hashlib.sha256("mèo con".encode()).hexdigest()

        async def licensed() -> bool:
            return (await http.get(licence_link["href"], headers=ana)).status_code == 200

        await wait_until(licensed, within=60)  # DRM heard of the loan and protected the book
        lcp_licence = (await http.get(licence_link["href"], headers=ana)).json()
        lcp.verify_signature(lcp_licence)
        assert len(lcp.open_license(lcp_licence, "mèo con")) == 32
        streaming = (await http.post(f"{drm_url}/v1/loans/{loan_id}/streaming-token", headers=ana)).json()
        manifest = await http.get(streaming["manifest_url"])
        assert manifest.json()["metadata"]["title"] == "Trees"

        status_link = next(link for link in lcp_licence["links"] if link["rel"] == "status")["href"]
        status = (await http.get(status_link)).json()
        returned = await http.put(
            f"{status_link.removesuffix('/status')}/return", params={"id": "kobo", "name": "Kobo"}
        )
        assert returned.json()["status"] in ("returned", "cancelled")
        assert status["status"] == "ready"

        async def loan_returned() -> bool:
            loans = (await http.get(f"{lending_url}/v1/loans", params={"include_ended": True}, headers=ana)).json()
            return bool(loans and loans[0]["status"] == "returned")

        await wait_until(loan_returned, within=60)  # lending returned the loan when DRM said so

        async def streaming_stopped() -> bool:
            return (await http.get(streaming["manifest_url"])).status_code == 401

        await wait_until(streaming_stopped, within=30)
    await client.close()


async def dead_letter_command(platform: Platform, *arguments: str) -> tuple[int, str, str]:
    """``python -m sachso.kit.dead_letters`` with only the environment the README tells an operator to load."""
    environment = read_env_file(platform.env_file("notify"))
    command = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sachso.kit.dead_letters",
        *arguments,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": os.environ["PATH"], **environment},
    )
    out, err = await command.communicate()
    assert command.returncode is not None
    return command.returncode, out.decode(), err.decode()


async def test_a_record_without_headers_is_dead_lettered_and_the_readme_command_lists_it(
    platform: Platform, stack_env: dict[str, str]
) -> None:
    """Issue 12 item 13: a headerless record on lending's topic is dead-lettered by notify's group (not dropped),
    and the dead-letter command, run with notify's environment, lists it and creates no topic."""
    bootstrap = stack_env["SACHSO_KAFKA_BOOTSTRAP_SERVERS"]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(f"{platform.namespace}.{LENDING_EVENTS.name}", value=b"who am I?", key=b"x")
    finally:
        await producer.stop()

    async def listed() -> bool:
        status, out, _ = await dead_letter_command(platform, "list", "--group", "notify")
        return status == 0 and "no ce_type header" in out

    await wait_until(listed, within=60)
    _, out, _ = await dead_letter_command(platform, "list", "--group", "notify")
    assert f"1 dead letters for notify in {platform.namespace}.notify.dlq" in out

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        before = set(await admin.list_topics())
        status, _, err = await dead_letter_command(platform, "list", "--group", "nobody", "--service", "notify")
        assert status == 1
        assert f"no topic {platform.namespace}.nobody.dlq" in err
        status, _, err = await dead_letter_command(platform, "replay", "--group", "nobody", "--service", "notify")
        assert status == 1
        assert set(await admin.list_topics()) == before  # nothing was created
    finally:
        await admin.close()
