"""Real servers for integration tests: started once per session by deploy/local, isolated per test.

Each test gets its own database name, topic prefix and bucket, so tests never see each other's data.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from local_platform import read_env_file
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from stack import LocalStack

from sachso.kit.settings import PlatformSettings

ROOT = Path(__file__).resolve().parents[2]
# Two checkouts (or two people) running tests at once each need their own servers: SACHSO_TEST_STACK_DIR.
# Under pytest-xdist (`make test-integration` runs two workers) each worker starts its own servers, once, in a
# folder of its own; tests are isolated from each other by name (database, topic prefix, bucket) either way.
STATE_DIR = Path(os.environ.get("SACHSO_TEST_STACK_DIR", ROOT / ".local" / "test-stack")) / os.environ.get(
    "PYTEST_XDIST_WORKER", ""
)

Document = dict[str, Any]


class IntegrationSettings(PlatformSettings):
    """Settings built by fixtures (never from the environment)."""


@pytest.fixture(scope="session")
def local_stack() -> Iterator[LocalStack]:
    stack = LocalStack(STATE_DIR)
    stack.stop()  # a stack left behind by an interrupted run: its data must not leak into this one
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def stack_env(local_stack: LocalStack) -> dict[str, str]:
    return read_env_file(STATE_DIR / "stack.env")


@pytest.fixture
def namespace() -> str:
    """A unique name for this test's database, topic prefix and bucket."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(stack_env: dict[str, str], namespace: str) -> IntegrationSettings:
    return IntegrationSettings(
        service_name="itest",
        mongo_uri=stack_env["SACHSO_MONGO_URI"],
        mongo_database=namespace,
        mongo_retry_writes=False,
        kafka_bootstrap_servers=stack_env["SACHSO_KAFKA_BOOTSTRAP_SERVERS"],
        kafka_topic_prefix=f"{namespace}.",
        kafka_session_timeout_ms=2000,
        kafka_heartbeat_interval_ms=400,
        kafka_fetch_max_wait_ms=50,
        consumer_initial_backoff_seconds=0.05,
        outbox_poll_seconds=0.2,
        jwks_urls="http://127.0.0.1:9/unused",
    )


@pytest.fixture(scope="session")
async def mongo(stack_env: dict[str, str]) -> AsyncIterator[AsyncMongoClient[Document]]:
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        stack_env["SACHSO_MONGO_URI"], retryWrites=False, tz_aware=True
    )
    yield client
    await client.close()


@pytest.fixture
async def database(mongo: AsyncMongoClient[Document], namespace: str) -> AsyncIterator[AsyncDatabase[Document]]:
    yield mongo[namespace]
    await mongo.drop_database(namespace)


@pytest.fixture
async def producer(stack_env: dict[str, str]) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(
        bootstrap_servers=stack_env["SACHSO_KAFKA_BOOTSTRAP_SERVERS"], acks="all", enable_idempotence=False
    )
    await producer.start()
    yield producer
    await producer.stop()


READIUM_TOOLS = ROOT / "tools" / "readium"


@dataclass(frozen=True)
class ReadiumStreamer:
    """Readium's r2-streamer-js serving some files: the manifest path of each, under ``base``."""

    base: str
    manifests: dict[str, str]

    def root(self, path: Path, hashed_passphrase: str | None = None) -> str:
        """The publication's URL root (with the LCP user key, hex, when it should decrypt)."""
        manifest = self.manifests[str(path)].removesuffix("/manifest.json")
        if hashed_passphrase is not None:
            token = base64.b64encode(hashed_passphrase.encode()).decode()
            manifest = manifest.replace("/pub/", f"/pub/*-{urllib.parse.quote(token, safe='')}-*", 1)
        return self.base + manifest


@contextlib.contextmanager
def readium_streamer(files: list[Path]) -> Iterator[ReadiumStreamer]:
    """Start r2-streamer-js (installed by `make test` from tools/readium/package-lock.json) on a free port."""
    if not (READIUM_TOOLS / "node_modules" / "r2-streamer-js").exists():
        raise RuntimeError("run `make readium-tools` (npm ci in tools/readium) first")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        ["node", "streamer.js", str(port), *map(str, files)],
        cwd=READIUM_TOOLS,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("r2-streamer-js did not start")
        started = json.loads(line)
        yield ReadiumStreamer(started["base"], started["publications"])
    finally:
        process.terminate()
        process.wait(timeout=10)
