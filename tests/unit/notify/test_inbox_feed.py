"""The live inbox feed on in-memory inbox changes: who gets which message, and polling when the database cannot
follow inserts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from notify.domain.inbox import InboxMessage
from notify.domain.notices import Language, NoticeKind
from notify.service_layer.inbox_feed import InboxFeed
from notify.service_layer.repositories import InboxChangesUnavailable, InboxStoreUnavailable


def message(patron: str, number: int) -> InboxMessage:
    return InboxMessage(f"e{number}:inbox", patron, NoticeKind.HOLD_READY, Language.VI, "t", "b", datetime.now(UTC))


class Changes:
    """Inbox changes in memory: ``stream`` False behaves like a server without change streams."""

    def __init__(self, *, stream: bool) -> None:
        self.stream = stream
        self.stored: list[tuple[datetime, InboxMessage]] = []
        self.listeners: list[Callable[[InboxMessage], None]] = []
        self.failing_polls = 0
        self.watched = asyncio.Event()  # the feed follows changes, or has polled after a failed poll

    def add(self, added: InboxMessage) -> None:
        self.stored.append((datetime.now(UTC), added))
        for listener in self.listeners:
            listener(added)

    async def follow(
        self, stop: asyncio.Event, publish: Callable[[InboxMessage], None], opened: Callable[[], None]
    ) -> None:
        if not self.stream:
            raise InboxChangesUnavailable("no change streams on this server")
        self.listeners.append(publish)
        opened()
        self.watched.set()
        await stop.wait()

    async def stored_since(self, patron_ids: Iterable[str], since: datetime) -> list[InboxMessage]:
        if self.failing_polls:
            self.failing_polls -= 1
            raise InboxStoreUnavailable("not answering")
        self.watched.set()
        wanted = set(patron_ids)
        return [m for at, m in self.stored if at >= since and m.patron_id in wanted]


async def test_each_stream_gets_only_its_patrons_new_messages() -> None:
    changes = Changes(stream=True)
    feed = InboxFeed(changes)
    stop = asyncio.Event()
    runner = asyncio.create_task(feed.run(stop))
    try:
        async with feed.subscribe("mai") as mai, feed.subscribe("lan") as lan:
            await asyncio.wait_for(changes.watched.wait(), 5)
            assert feed.mode == "change-stream"
            changes.add(message("lan", 1))
            changes.add(message("mai", 2))
            assert (await feed.next_message(mai, within=5)) == changes.stored[1][1]
            assert (await feed.next_message(lan, within=5)) == changes.stored[0][1]
            assert await feed.next_message(mai, within=0.01) is None
    finally:
        stop.set()
        await runner
    assert feed.closing.is_set()


async def test_without_change_streams_it_polls_and_shows_each_message_once() -> None:
    changes = Changes(stream=False)
    changes.failing_polls = 1  # the database does not answer once: the feed goes on
    feed = InboxFeed(changes, poll_seconds=0.01)
    stop = asyncio.Event()
    runner = asyncio.create_task(feed.run(stop))
    try:
        async with feed.subscribe("mai") as queue:
            await asyncio.wait_for(changes.watched.wait(), 5)
            assert feed.mode == "polling"
            changes.add(message("lan", 1))
            changes.add(message("mai", 2))
            received = await feed.next_message(queue, within=5)
            assert received is not None
            assert received.id == "e2:inbox"
            assert await feed.next_message(queue, within=0.1) is None  # seen once, not again at the next poll
    finally:
        stop.set()
        await runner
