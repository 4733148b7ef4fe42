"""The reader refuses a blocked patron's streaming tokens within seconds (issue 12, item 8)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sachso.events.v1 import lending_events_pb2
from sachso.kit.events import ReceivedEvent
from tests.integration.kafka_helpers import wait_until
from tests.integration.reader.conftest import ReaderUnderTest
from tests.integration.reader.test_streaming import published

pytestmark = pytest.mark.integration


async def test_streaming_stops_within_seconds_when_the_card_is_blocked(reader: ReaderUnderTest) -> None:
    trees = await published(reader, "trees.epub")
    token = reader.streaming_token(trees)  # ana's, valid five minutes
    assert (await reader.http.get(f"/v1/read/{token}/manifest.json")).status_code == 200
    blocked = lending_events_pb2.PatronBlocked(patron_id="ana", library_id="daklak")
    blocked.blocked_at.FromDatetime(datetime.now(UTC))
    event = ReceivedEvent(
        id="e1", type=blocked.DESCRIPTOR.full_name, source="/sachso/lending", subject="ana", time=datetime.now(UTC),
        key=None, payload=blocked, trace_headers={}, topic="t", partition=0, offset=0,
    )  # fmt: skip
    handlers = reader.handlers
    async with reader.outbox.client.start_session() as session:
        await session.with_transaction(lambda s: handlers.patron_blocked(event, s))

    async def refused() -> bool:
        return (await reader.http.get(f"/v1/read/{token}/manifest.json")).status_code == 401

    await wait_until(refused, within=5)
    answer = await reader.http.get(f"/v1/read/{token}/manifest.json")
    assert answer.json()["type"].endswith("/card-blocked")
