"""A title lending opened to everyone streams without a token (``/v1/read/open-{publication}/…``) until it is
closed again; anything else under that root stays shut, whatever way its path is written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reader.service_layer.ingest import SubmittedMetadata
from sachso.events.v1 import lending_events_pb2
from sachso.kit.events import ReceivedEvent
from tests.corpus import CORPUS
from tests.integration.kafka_helpers import wait_until
from tests.integration.reader.conftest import ReaderUnderTest

pytestmark = pytest.mark.integration


async def access_changed(reader: ReaderUnderTest, publication_id: str, open_access: bool, at: datetime) -> None:
    """Lending's TitleAccessChanged through reader's handler, in a transaction as the consumer runs it."""
    payload = lending_events_pb2.TitleAccessChanged(title_id="t-1", publication_id=publication_id, open=open_access,
                                                    changed_by="lan")  # fmt: skip
    payload.changed_at.FromDatetime(at)
    event = ReceivedEvent(id=f"e-{at.timestamp()}", type=payload.DESCRIPTOR.full_name, source="/sachso/lending",
                          subject=None, time=at, key=None, payload=payload, trace_headers={}, topic="t", partition=0,
                          offset=0)  # fmt: skip
    handlers = reader.handlers
    async with reader.outbox.client.start_session() as session:
        await session.with_transaction(lambda s: handlers.title_access_changed(event, s))


async def test_an_open_title_streams_without_a_token_until_it_is_closed(reader: ReaderUnderTest) -> None:
    opened = (
        await reader.ingest.ingest("nxb-tre", CORPUS / "epub" / "moby-dick.epub", SubmittedMetadata())
    ).publication_id
    closed = (await reader.ingest.ingest("nxb-tre", CORPUS / "epub" / "trees.epub", SubmittedMetadata())).publication_id
    assert (await reader.http.get(f"/v1/read/open-{opened}/manifest.json")).status_code == 401

    now = datetime.now(UTC)
    await access_changed(reader, opened, True, now)
    await access_changed(reader, opened, False, now - timedelta(seconds=5))  # an older change arriving late

    async def readable() -> bool:
        return (await reader.http.get(f"/v1/read/open-{opened}/manifest.json")).status_code == 200

    await wait_until(readable, within=5)
    manifest = await reader.http.get(f"/v1/read/open-{opened}/manifest.json")  # no Authorization, no token
    assert manifest.json()["metadata"]["title"] == "Moby-Dick"
    chapter = manifest.json()["readingOrder"][0]["href"]
    for client in (reader.http, reader.framework):  # the fast path and the framework answer alike
        answer = await client.get(f"/v1/read/open-{opened}/{chapter}")
        assert answer.status_code == 200
        assert answer.content
    found = (await reader.http.get(f"/v1/read/open-{opened}/~sachso/search", params={"q": "ishmael"})).json()
    assert found["total"] > 0

    for path in ("manifest.json", "manifest.json/", "%2fmanifest.json", chapter):
        refused = await reader.http.get(f"/v1/read/open-{closed}/{path}")  # never opened
        assert refused.status_code in (401, 404), path
    for prefix in ("open-", "open-%2e%2e/", "OPEN-", "open"):
        refused = await reader.http.get(f"/v1/read/{prefix}{closed}/manifest.json")
        assert refused.status_code in (401, 404), prefix

    await access_changed(reader, opened, False, now + timedelta(seconds=1))

    async def shut() -> bool:
        return (await reader.http.get(f"/v1/read/open-{opened}/manifest.json")).status_code == 401

    await wait_until(shut, within=5)
