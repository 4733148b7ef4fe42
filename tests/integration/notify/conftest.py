"""Notify wired by its own bootstrap and served by the kit's runtime (uvicorn, gRPC, workers), against the real
local servers: Kafka (Tansu), MongoDB (SecantusDB) and SMTP (aiosmtpd writing a maildir).

Tokens are signed by a test issuer whose JWKS is served over real HTTP, exactly as lending serves its own.
Web Push goes to :class:`PushService`, a small real HTTP server standing in for a browser vendor's push
service: it records each encrypted POST and answers 201 (``/push/...``) or 410 Gone (``/gone/...``). It listens
on http://127.0.0.1, which notify accepts only with its test-only setting ``push_allow_local_test_receiver``
(refused outside ENVIRONMENT=test); ``strict_notify`` runs with the production policy.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiohttp import web
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from google.protobuf.message import Message
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from stack import free_port, free_ports

from notify.bootstrap import build
from notify.settings import NotifySettings
from sachso.kit import events as ce
from sachso.kit.auth import Role, TokenIssuer
from sachso.kit.jwks import JWKS_PATH, jwks_router
from sachso.kit.runtime import serve
from sachso.kit.topics import LENDING_EVENTS
from tests.integration.kafka_helpers import wait_until

Document = dict[str, Any]


# -- tokens ----------------------------------------------------------------------------------------------------


@dataclass
class Issuer:
    """A token issuer whose JWKS is served over HTTP (notify fetches it like any service does)."""

    issuer: TokenIssuer
    jwks_url: str

    def headers(self, patron_id: str, *roles: Role) -> dict[str, str]:
        token = self.issuer.issue(patron_id, audience="sachso", roles=roles or (Role.PATRON,))
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
async def issuer() -> AsyncIterator[Issuer]:
    token_issuer = TokenIssuer.generate("sachso-lending")
    app = FastAPI()
    app.include_router(jwks_router(token_issuer))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return bool(server.started)

    await wait_until(started, within=10, interval=0.02)
    yield Issuer(token_issuer, f"http://127.0.0.1:{port}{JWKS_PATH}")
    server.should_exit = True
    await task


# -- a push service --------------------------------------------------------------------------------------------


@dataclass
class PushedMessage:
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes


@dataclass
class PushService:
    base_url: str
    received: list[PushedMessage] = field(default_factory=list)

    def for_path(self, path: str) -> list[PushedMessage]:
        return [message for message in self.received if message.path == path]


@pytest.fixture(scope="session")
async def push_service() -> AsyncIterator[PushService]:
    port = free_port()
    service = PushService(f"http://127.0.0.1:{port}")

    async def receive(request: web.Request) -> web.Response:
        headers = {name.lower(): value for name, value in request.headers.items()}
        service.received.append(PushedMessage(request.path, headers, await request.read()))
        return web.Response(status=410 if request.path.startswith("/gone/") else 201)

    app = web.Application()
    app.router.add_post("/{kind}/{token}", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield service
    await runner.cleanup()


@dataclass
class Browser:
    """A browser's side of a push subscription: its keys, to decrypt what the push service received."""

    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @classmethod
    def new(cls) -> Browser:
        return cls(ec.generate_private_key(ec.SECP256R1()), os.urandom(16))

    def subscription(self, endpoint: str, device_name: str = "") -> dict[str, Any]:
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": endpoint,
            "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)},
            "device_name": device_name,
        }


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- mail ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def maildir(stack_env: dict[str, str]) -> Path:
    """The stack's maildir. deploy/local/stack.py creates the folder but not the cur/new/tmp folders a Maildir
    needs (aiosmtpd's ``mailbox.Maildir`` only makes them for a path that does not exist), so every delivery
    would fail with 500 until they exist."""
    path = Path(stack_env["SACHSO_SMTP_MAILDIR"])
    for folder in ("cur", "new", "tmp"):
        (path / folder).mkdir(parents=True, exist_ok=True)
    return path


def raw_mail_to(maildir: Path, address: str) -> list[bytes]:
    """The bytes of each message the SMTP server accepted for ``address`` (as it wrote them to the maildir)."""
    found = []
    for folder in ("new", "cur"):
        for path in sorted((maildir / folder).glob("*")) if (maildir / folder).exists() else []:
            raw = path.read_bytes()
            if f"X-RcptTo: {address}".encode() in raw or f"<{address}>".encode() in raw:
                found.append(raw)
    return found


def mail_to(maildir: Path, address: str) -> list[EmailMessage]:
    """Messages the SMTP server accepted for ``address``, parsed with the modern email policy."""
    messages = []
    for raw in raw_mail_to(maildir, address):
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    return messages


# -- notify ----------------------------------------------------------------------------------------------------


def notify_settings(stack_env: dict[str, str], namespace: str, issuer: Issuer, **overrides: Any) -> NotifySettings:
    http_port, grpc_port = free_ports(2)
    values: dict[str, Any] = {
        "environment": "test",
        "http_port": http_port,
        "grpc_port": grpc_port,
        "mongo_uri": stack_env["SACHSO_MONGO_URI"],
        "mongo_database": namespace,
        "mongo_retry_writes": False,
        "kafka_bootstrap_servers": stack_env["SACHSO_KAFKA_BOOTSTRAP_SERVERS"],
        "kafka_topic_prefix": f"{namespace}.",
        "kafka_session_timeout_ms": 2000,
        "kafka_heartbeat_interval_ms": 400,
        "kafka_fetch_max_wait_ms": 50,
        "consumer_max_attempts": 3,
        "consumer_initial_backoff_seconds": 0.05,
        "outbox_poll_seconds": 0.2,
        "jwks_urls": issuer.jwks_url,
        "shutdown_grace_seconds": 1.0,
        "smtp_host": stack_env["SACHSO_SMTP_HOST"],
        "smtp_port": int(stack_env["SACHSO_SMTP_PORT"]),
        "web_app_url": "https://sachso.test",
        "delivery_initial_backoff_seconds": 0.2,
        "sender_poll_seconds": 0.2,
        "inbox_stream_poll_seconds": 0.2,
        "inbox_stream_ping_seconds": 1.0,
        "push_allow_local_test_receiver": True,
    }
    return NotifySettings(**(values | overrides))


@dataclass
class Notify:
    """A running notify process (in this test process) and what a test needs to talk to it."""

    settings: NotifySettings
    database: AsyncDatabase[Document]
    producer: AIOKafkaProducer
    issuer: Issuer
    maildir: Path
    http: httpx.AsyncClient

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.http_port}"

    def topic(self, name: str = LENDING_EVENTS.name) -> str:
        return f"{self.settings.kafka_topic_prefix}{name}"

    def headers(self, patron_id: str, *roles: Role) -> dict[str, str]:
        return self.issuer.headers(patron_id, *roles)

    async def publish(
        self, payload: Message, *, key: str, event_id: str | None = None, topic: str = LENDING_EVENTS.name
    ) -> str:
        """Put one event on Kafka as lending's (or drm's) relay would."""
        event_id = event_id or uuid.uuid4().hex
        message = ce.encode(
            event_id=event_id,
            event_type=str(payload.DESCRIPTOR.full_name),
            source="/sachso/test",
            key=key,
            data=payload.SerializeToString(),
            time=datetime.now(UTC),
        )
        await self.producer.send_and_wait(
            self.topic(topic), value=message.value, key=key.encode(), headers=list(message.headers.items())
        )
        return event_id

    async def inbox(self, patron_id: str) -> list[dict[str, Any]]:
        response = await self.http.get("/v1/inbox", headers=self.headers(patron_id))
        assert response.status_code == 200, response.text
        messages: list[dict[str, Any]] = response.json()
        return messages

    async def wait_for_inbox(self, patron_id: str, count: int, within: float = 20.0) -> list[dict[str, Any]]:
        async def arrived() -> bool:
            return len(await self.inbox(patron_id)) >= count

        await wait_until(arrived, within=within)
        return await self.inbox(patron_id)

    async def wait_for_mail(self, address: str, count: int = 1, within: float = 20.0) -> list[EmailMessage]:
        async def arrived() -> bool:
            return len(mail_to(self.maildir, address)) >= count

        await wait_until(arrived, within=within)
        return mail_to(self.maildir, address)

    async def deliveries(self, **query: Any) -> list[Document]:
        return [document async for document in self.database["deliveries"].find(query)]


@contextlib.asynccontextmanager
async def running_notify(settings: NotifySettings) -> AsyncIterator[None]:
    """Serve notify (HTTP, gRPC, consumer and workers) until the context ends, as ``python -m notify`` does."""
    stop = asyncio.Event()

    async def run() -> None:
        async with build(settings) as process:
            await serve(process, stop)

    task = asyncio.create_task(run())
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.http_port}") as client:

        async def ready() -> bool:
            if task.done():
                task.result()  # start-up failed: raise its error
            with contextlib.suppress(httpx.HTTPError):
                return (await client.get("/readyz")).status_code == 200
            return False

        await wait_until(ready, within=30, interval=0.05)
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


NotifyFactory = Callable[..., contextlib.AbstractAsyncContextManager[Notify]]


@pytest.fixture(scope="module")
async def notify_factory(
    stack_env: dict[str, str], mongo: AsyncMongoClient[Document], issuer: Issuer, maildir: Path
) -> AsyncIterator[NotifyFactory]:
    """Starts notify instances for this module; each gets its own database and topic prefix unless told."""
    producer = AIOKafkaProducer(
        bootstrap_servers=stack_env["SACHSO_KAFKA_BOOTSTRAP_SERVERS"], acks="all", enable_idempotence=False
    )
    await producer.start()
    namespaces: list[str] = []

    @contextlib.asynccontextmanager
    async def start(namespace: str | None = None, **overrides: Any) -> AsyncIterator[Notify]:
        namespace = namespace or f"n{uuid.uuid4().hex[:10]}"
        namespaces.append(namespace)
        settings = notify_settings(stack_env, namespace, issuer, **overrides)
        async with (
            running_notify(settings),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.http_port}", timeout=10) as http,
        ):
            yield Notify(settings, mongo[namespace], producer, issuer, maildir, http)

    yield start
    await producer.stop()
    for namespace in set(namespaces):
        await mongo.drop_database(namespace)


@pytest.fixture(scope="session")
def vapid_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A VAPID key in a file, as in production."""
    key_file = tmp_path_factory.mktemp("vapid") / "vapid.pem"
    key = ec.generate_private_key(ec.SECP256R1())
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return key_file


@pytest.fixture(scope="module")
async def notify(notify_factory: NotifyFactory, vapid_key_file: Path) -> AsyncIterator[Notify]:
    """One notify for a test module, with Web Push on, sending to the local test push service."""
    async with notify_factory(vapid_private_key_file=str(vapid_key_file)) as running:
        yield running


@pytest.fixture(scope="module")
async def strict_notify(notify_factory: NotifyFactory, vapid_key_file: Path) -> AsyncIterator[Notify]:
    """Notify with Web Push on and the production endpoint policy (no local test receiver)."""
    async with notify_factory(
        vapid_private_key_file=str(vapid_key_file), push_allow_local_test_receiver=False
    ) as running:
        yield running
