"""Pods start while Kafka and S3 are away (issue 20: a restart or scale-out during an outage must not crash-loop).

The four services start from the local stack as in the smoke test, but reach Kafka and S3 through gates of their
own: ports that refuse every connection until the test opens them, then forward to the stack's real servers. So
the broker and the object store are "down" for these services only, and no other test is disturbed. While they
are down every service is ready, serves what needs only its database and takes writes (their events wait in the
outbox); a request that needs S3 answers 503 problem details. When the gates open, the background set-up creates
the topics and the bucket, the outbox relay publishes what was written meanwhile, and the consumers begin.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from local_platform import SERVICES, Platform, ServiceEndpoints
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from sachso.events.v1 import lending_events_pb2
from sachso.kit import events as ce
from sachso.kit.auth import Role, TokenIssuer
from sachso.kit.events import KafkaRecord
from sachso.kit.s3 import create_s3_client
from sachso.kit.topics import LENDING_EVENTS
from tests.corpus import CORPUS
from tests.integration.kafka_helpers import read_topic, wait_until
from tests.integration.s3_helpers import s3_settings

pytestmark = pytest.mark.integration

Document = dict[str, object]


class Gate:
    """A local port that refuses connections until :meth:`open`, then forwards each one to ``target``.

    The port stays bound from the start (bound, not listening: connections are refused), so nothing else — another
    test's server, or an outgoing connection given it as its ephemeral port — can take it before the gate opens."""

    def __init__(self, target: str) -> None:
        host, _, port = target.rpartition(":")
        self.target_host, self.target_port = host, int(port)
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._forward, sock=self._socket)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self._socket.close()
        for pipe in self._pipes:
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _forward(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(self.target_host, self.target_port)
        pipes = [
            asyncio.create_task(_pipe(client_reader, upstream_writer)),
            asyncio.create_task(_pipe(upstream_reader, client_writer)),
        ]
        self._pipes.update(pipes)
        await asyncio.gather(*pipes, return_exceptions=True)
        self._pipes.difference_update(pipes)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    finally:
        sink.close()


@pytest.fixture
async def gates(stack_env: dict[str, str]) -> AsyncIterator[tuple[Gate, Gate]]:
    s3 = urllib.parse.urlsplit(stack_env["SACHSO_S3_ENDPOINT_URL"])
    kafka, object_store = Gate(stack_env["SACHSO_KAFKA_BOOTSTRAP_SERVERS"]), Gate(s3.netloc)
    yield kafka, object_store
    await kafka.close()
    await object_store.close()


@pytest.fixture
def gated_platform(
    stack_env: dict[str, str], gates: tuple[Gate, Gate], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    kafka, s3 = gates
    environment = stack_env | {
        "SACHSO_KAFKA_BOOTSTRAP_SERVERS": kafka.address,
        "SACHSO_S3_ENDPOINT_URL": f"http://{s3.address}",
    }
    platform = Platform(tmp_path_factory.mktemp("gated"), environment, namespace=f"outage{uuid.uuid4().hex[:8]}")
    yield platform
    platform.stop()


async def test_pods_start_and_serve_during_a_broker_and_s3_outage_and_catch_up_after(
    gated_platform: Platform, gates: tuple[Gate, Gate], stack_env: dict[str, str]
) -> None:
    kafka_gate, s3_gate = gates
    platform = gated_platform
    # Start-up used to give up after ~30 s without a broker (and at once without S3): now every service is ready.
    endpoints = await asyncio.to_thread(platform.start, 120.0)
    keys = platform.state_dir / "keys"
    accounts = TokenIssuer.from_files("sachso-lending", [str(next((keys / "lending").glob("*.pem")))])
    admin = accounts.issue("admin", audience="sachso", roles=[Role.PROVINCE_ADMIN], library_id="daklak")
    publisher = accounts.issue("nxb-tre", audience="sachso", roles=[Role.PUBLISHER], publisher_id="nxb-tre")
    staff = {"Authorization": f"Bearer {admin}"}
    mongo: AsyncMongoClient[Document] = AsyncMongoClient(stack_env["SACHSO_MONGO_URI"], retryWrites=False)
    lending_url, reader_url = endpoints["lending"].http_url, endpoints["reader"].http_url
    book = CORPUS / "pdf" / "debian-project-history.en.pdf"
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            for service in SERVICES:
                await wait_until(lambda service=service: _dependencies_down(http, endpoints[service]), within=30)

            # what needs only the database works, writes included: their events wait in the outbox
            library = {"id": "daklak", "name": "Thư viện tỉnh Đắk Lắk", "kind": "province", "code": "DL"}
            assert (await http.post(f"{lending_url}/v1/libraries", json=library, headers=staff)).status_code == 201
            added = await http.post(
                f"{lending_url}/v1/titles", json={"title": "Truyện Kiều", "authors": ["Nguyễn Du"]}, headers=staff
            )
            assert added.status_code == 201, added.text
            title_id = added.json()["id"]
            assert (await http.get(f"{lending_url}/v1/titles/{title_id}")).json()["title"] == "Truyện Kiều"
            outbox = mongo[f"{platform.namespace}_lending"]["outbox"]
            assert await outbox.count_documents({"sent_at": None, "key": title_id}) == 1

            # what needs S3 answers 503 problem details, not a 500
            refused = await _ingest(http, reader_url, publisher, book)
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["type"].endswith("/dependency-unavailable")
            assert int(refused.headers["Retry-After"]) >= 1

            # the broker appears: topics are made, the event written during the outage reaches Kafka
            await kafka_gate.open()
            topic = f"{platform.namespace}.{LENDING_EVENTS.name}"
            await wait_until(lambda: _title_added_on(stack_env, topic, title_id), within=90, interval=1)
            await wait_until(lambda: _none_pending(outbox), within=30)
            await wait_until(lambda: _dependency_up(http, endpoints["lending"], "kafka"), within=30)

            # S3 appears: the bucket is made in the background, ingest works, and the consumers (begun once the
            # broker appeared) bring the new publication into lending's catalogue
            await s3_gate.open()
            await wait_until(lambda: _dependency_up(http, endpoints["reader"], "s3"), within=60, interval=0.5)
            assert await _bucket_exists(stack_env, f"{platform.namespace}-reader")
            accepted = await _ingest(http, reader_url, publisher, book)
            assert accepted.status_code == 201, accepted.text
            publication_id = accepted.json()["id"]

            async def catalogued() -> bool:
                items = (await http.get(f"{lending_url}/v1/titles", params={"format": "pdf", "size": 100})).json()[
                    "items"
                ]
                return any(item["publication_id"] == publication_id for item in items)

            await wait_until(catalogued, within=60, interval=0.5)
    finally:
        await mongo.close()


async def _ingest(http: httpx.AsyncClient, reader_url: str, token: str, book: Path) -> httpx.Response:
    files = {"file": (book.name, await asyncio.to_thread(book.read_bytes), "application/pdf")}
    return await http.post(f"{reader_url}/v1/publications", files=files, headers={"Authorization": f"Bearer {token}"})


async def _readiness(http: httpx.AsyncClient, endpoint: ServiceEndpoints) -> tuple[int, dict[str, str]]:
    ready = await http.get(f"{endpoint.http_url}/readyz")
    return ready.status_code, ready.json()["dependencies"]


async def _dependencies_down(http: httpx.AsyncClient, endpoint: ServiceEndpoints) -> bool:
    """Ready (the database answers) while the probes say Kafka (and S3 for reader and DRM) fail, as the metric."""
    status, dependencies = await _readiness(http, endpoint)
    assert status == 200, dependencies
    expected = {"kafka", "s3"} if endpoint.name in {"reader", "drm"} else {"kafka"}
    assert set(dependencies) == expected
    metrics = (await http.get(f"{endpoint.http_url}/metrics/")).text
    return all(
        dependencies[name].startswith("failing") and f'sachso_dependency_up{{dependency="{name}"}} 0.0' in metrics
        for name in expected
    )


async def _dependency_up(http: httpx.AsyncClient, endpoint: ServiceEndpoints, name: str) -> bool:
    status, dependencies = await _readiness(http, endpoint)
    metrics = (await http.get(f"{endpoint.http_url}/metrics/")).text
    return (
        status == 200 and dependencies[name] == "ok" and f'sachso_dependency_up{{dependency="{name}"}} 1.0' in metrics
    )


async def _title_added_on(stack_env: dict[str, str], topic: str, title_id: str) -> bool:
    with contextlib.suppress(Exception):  # the topic may not exist yet
        records = await read_topic(stack_env["SACHSO_KAFKA_BOOTSTRAP_SERVERS"], topic, expected=1000, within=2)
        for record in records:
            event = ce.decode(KafkaRecord.from_consumer_record(record))
            if isinstance(event.payload, lending_events_pb2.TitleAdded) and event.payload.title_id == title_id:
                return True
    return False


async def _none_pending(outbox: AsyncCollection[Document]) -> bool:
    return await outbox.count_documents({"sent_at": None}) == 0


async def _bucket_exists(stack_env: dict[str, str], bucket: str) -> bool:
    async with create_s3_client(s3_settings(stack_env, bucket)) as s3:
        buckets = (await s3.list_buckets())["Buckets"]
    return any(entry.get("Name") == bucket for entry in buckets)
