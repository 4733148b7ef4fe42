"""Database outages (issue 12, items 11 and 12): a quick 503 with Retry-After instead of 500s and two-minute
hangs, every request's database work bounded by a deadline, and checkout idempotent under a client's key.

These tests run a MongoDB-protocol server of their own (SecantusDB, as deploy/local starts it) and take it away.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient, MongoClient
from stack import free_port

from tests.integration.kafka_helpers import wait_until
from tests.integration.lending.conftest import Lending, deployment

pytestmark = pytest.mark.integration
Document = dict[str, Any]
DEADLINE = 3.0  # the request deadline these tests give lending (production: LENDING_REQUEST_DEADLINE_SECONDS)
ABANDONED_TRANSACTION_LIFETIME = 8.0  # longer than the deadline, far shorter than the default 60 s
# The server as deploy/local/stack.py runs it, but in-process so that a test can shorten the lifetime of abandoned
# transactions (the daemon's command line cannot; mongod's setParameter transactionLifetimeLimitSeconds can).
SERVER = """
import sys
from secantus.server import SecantusDBServer
port, path, lifetime = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
server = SecantusDBServer(port=port, storage_path=path, transaction_lifetime_seconds=lifetime)
server.start()
server.wait()
"""


@dataclass
class OwnServer:
    process: subprocess.Popen[bytes]
    uri: str

    def pause(self) -> None:
        """SIGSTOP, returning once every thread is stopped: the signal is delivered asynchronously, and a thread
        still running can answer one more request (measured: 1 insert in 300 answered after ``kill`` returned)."""
        os.kill(self.process.pid, signal.SIGSTOP)
        tasks = Path(f"/proc/{self.process.pid}/task")
        while not all(_stopped(task) for task in tasks.iterdir()):
            time.sleep(0.001)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def _stopped(task: Path) -> bool:
    try:
        state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:  # the thread ended
        return True
    return state in ("T", "t")


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[OwnServer]:
    port = free_port()
    log = (tmp_path / "secantus.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port), str(tmp_path / "data"), str(ABANDONED_TRANSACTION_LIFETIME)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = OwnServer(process, f"mongodb://127.0.0.1:{port}/?retryWrites=false")
    try:
        for _ in range(150):
            try:
                probe: MongoClient[Document]
                with MongoClient(server.uri, serverSelectionTimeoutMS=200) as probe:
                    probe.admin.command("ping")
                break
            except Exception:
                if process.poll() is not None:
                    raise RuntimeError("SecantusDB did not start") from None
        yield server
    finally:
        if process.poll() is None and process.returncode is None:
            os.kill(process.pid, signal.SIGCONT)  # a test may have paused it
        server.kill()


@pytest.fixture
async def fragile(own_server: OwnServer) -> AsyncIterator[Lending]:
    """Lending over the test's own server, with a short request deadline."""
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        own_server.uri, retryWrites=False, tz_aware=True, serverSelectionTimeoutMS=2000
    )
    try:
        async with deployment(client, client["lending"], request_deadline_seconds=DEADLINE) as wired:
            yield wired
    finally:
        await client.close()


async def within(seconds: float, request: Any) -> httpx.Response:
    """The answer, which must come long before the ~120 s the driver's transaction retries used to take."""
    response: httpx.Response = await asyncio.wait_for(request, seconds)
    return response


def unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith("/dependency-unavailable")
    assert int(response.headers["Retry-After"]) >= 1


async def test_a_database_that_went_away_answers_503_with_retry_after(fragile: Lending, own_server: OwnServer) -> None:
    title_id = await fragile.title_with_copies(copies=1)
    ana = fragile.patron_headers(await fragile.active_patron("ana"))
    own_server.kill()
    unavailable(await within(30, fragile.http.post("/v1/loans", json={"title_id": title_id}, headers=ana)))
    unavailable(await within(30, fragile.http.get("/v1/titles", params={"q": "kieu"})))


async def test_the_database_going_away_mid_checkout_answers_503(fragile: Lending, own_server: OwnServer) -> None:
    title_id = await fragile.title_with_copies(copies=1)
    ana = fragile.patron_headers(await fragile.active_patron("ana"))
    take_copy = fragile.store.take_copy

    async def and_then_the_server_dies(*args: Any, **kwargs: Any) -> bool:
        taken = await take_copy(*args, **kwargs)
        own_server.kill()
        return taken

    fragile.store.take_copy = and_then_the_server_dies  # type: ignore[method-assign]
    unavailable(await within(30, fragile.http.post("/v1/loans", json={"title_id": title_id}, headers=ana)))


async def test_a_hung_database_answers_503_by_the_deadline_and_the_keyed_retry_lends_once(
    fragile: Lending, own_server: OwnServer
) -> None:
    title_id = await fragile.title_with_copies(copies=3)
    ana = fragile.patron_headers(await fragile.active_patron("ana"))
    keyed = {**ana, "Idempotency-Key": "9b2f4c1e-checkout-1"}
    record = fragile.store.record_idempotent_result

    async def and_then_the_server_hangs(*args: Any, **kwargs: Any) -> None:
        own_server.pause()  # the commit will never be answered in time
        await record(*args, **kwargs)

    fragile.store.record_idempotent_result = and_then_the_server_hangs  # type: ignore[method-assign]
    unavailable(await within(30, fragile.http.post("/v1/loans", json={"title_id": title_id}, headers=keyed)))
    fragile.store.record_idempotent_result = record  # type: ignore[method-assign]
    os.kill(own_server.process.pid, signal.SIGCONT)

    # the client retries with its key until it gets an answer: one loan, whatever became of the first attempt
    answers: list[httpx.Response] = []

    async def lent() -> bool:
        answers.append(await fragile.http.post("/v1/loans", json={"title_id": title_id}, headers=keyed))
        return answers[-1].status_code == 201

    await wait_until(lent, within=30, interval=0.5)
    assert {answer.status_code for answer in answers} <= {201, 503}
    loans = await fragile.store.loans.count_documents({"patron_id": "ana"})
    assert loans == 1
    again = await fragile.http.post("/v1/loans", json={"title_id": title_id}, headers=keyed)
    assert again.status_code == 201
    assert again.json()["id"] == answers[-1].json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"


async def test_a_return_blocked_by_an_abandoned_transaction_answers_503_quickly(
    fragile: Lending, own_server: OwnServer
) -> None:
    """Item 12: lending killed with a transaction open leaves its locks until the server reaps it (60 s by
    default); a retried return answers 503 by the deadline instead of waiting, and succeeds once reaped."""
    title_id = await fragile.title_with_copies(copies=1)
    ana = fragile.patron_headers(await fragile.active_patron("ana"))
    loan = (await fragile.http.post("/v1/loans", json={"title_id": title_id}, headers=ana)).json()
    dead: AsyncMongoClient[Document] = AsyncMongoClient(own_server.uri, retryWrites=False)  # the killed replica
    session = dead.start_session()
    await session.start_transaction()
    await dead["lending"]["loans"].update_one({"_id": loan["id"]}, {"$set": {"touched_by": "dying"}}, session=session)
    # ... and the process dies here: no commit, no abort

    first = await within(30, fragile.http.post(f"/v1/loans/{loan['id']}/return", headers=ana))
    unavailable(first)

    async def returned() -> bool:
        answer = await fragile.http.post(f"/v1/loans/{loan['id']}/return", headers=ana)
        return answer.status_code == 200

    await wait_until(returned, within=30, interval=0.5)  # this server reaps abandoned transactions after 8 s
    await dead.close()


async def test_checkout_is_idempotent_under_a_client_key(lending: Lending) -> None:
    http = lending.http
    kieu = await lending.title_with_copies("Truyện Kiều", copies=5)
    other = await lending.title_with_copies("Tắt đèn", copies=5)
    ana = {**lending.patron_headers(await lending.active_patron("ana")), "Idempotency-Key": "key-0001-ana-kieu"}
    attempts = await asyncio.gather(*(http.post("/v1/loans", json={"title_id": kieu}, headers=ana) for _ in range(8)))
    assert {attempt.status_code for attempt in attempts} == {201}
    assert len({attempt.json()["id"] for attempt in attempts}) == 1  # eight tries, one loan
    assert await lending.store.loans.count_documents({"patron_id": "ana"}) == 1
    reused = await http.post("/v1/loans", json={"title_id": other}, headers=ana)
    assert reused.status_code == 422
    assert reused.json()["type"].endswith("/idempotency-key-reused")
    binh = {**lending.patron_headers(await lending.active_patron("binh")), "Idempotency-Key": "key-0001-ana-kieu"}
    theirs = await http.post("/v1/loans", json={"title_id": kieu}, headers=binh)
    assert theirs.status_code == 201  # a key is the patron's own: another patron's same key is another request
    assert theirs.json()["id"] != attempts[0].json()["id"]
    bad = await http.post("/v1/loans", json={"title_id": other}, headers={**ana, "Idempotency-Key": "short"})
    assert bad.status_code == 400
