"""The live inbox: new messages pushed to the patrons who have the stream open (Server-Sent Events).

One watcher per process follows the inbox collection — a MongoDB change stream of inserts, or, where the
server has none, polling by ``stored_at`` with a short overlap — and hands each new message to the queues of
that patron's open streams. A slow stream loses messages beyond its queue rather than slowing the others; the
client catches up through the REST list (or by reconnecting with ``Last-Event-ID``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from notify.domain.inbox import InboxMessage
from notify.service_layer.repositories import InboxChanges, InboxChangesUnavailable, InboxStoreUnavailable
from sachso.kit.workers import wait

log = logging.getLogger(__name__)

QUEUE_SIZE = 256
# Messages become visible when their transaction commits, a little after their stored_at: poll with overlap.
POLL_OVERLAP = timedelta(seconds=5)


class InboxFeed:
    def __init__(self, inbox: InboxChanges, *, poll_seconds: float = 1.0, use_change_streams: bool = True) -> None:
        self.inbox = inbox
        self.poll_seconds = poll_seconds
        self.use_change_streams = use_change_streams
        self._streams: dict[str, set[asyncio.Queue[InboxMessage]]] = defaultdict(set)
        self.mode = "starting"
        # Set when the service stops, so open streams end and the HTTP server can finish.
        self.closing = asyncio.Event()

    @contextlib.asynccontextmanager
    async def subscribe(self, patron_id: str) -> AsyncIterator[asyncio.Queue[InboxMessage]]:
        """A queue that receives ``patron_id``'s new messages while the context is open."""
        queue: asyncio.Queue[InboxMessage] = asyncio.Queue(QUEUE_SIZE)
        self._streams[patron_id].add(queue)
        try:
            yield queue
        finally:
            self._streams[patron_id].discard(queue)
            if not self._streams[patron_id]:
                del self._streams[patron_id]

    def publish(self, message: InboxMessage) -> None:
        for queue in self._streams.get(message.patron_id, ()):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(message)

    async def next_message(self, queue: asyncio.Queue[InboxMessage], within: float) -> InboxMessage | None:
        """The next message of ``queue``; None after ``within`` seconds or when the service stops."""
        if not queue.empty():
            return queue.get_nowait()
        getter = asyncio.create_task(queue.get())
        closing = asyncio.create_task(self.closing.wait())
        try:
            await asyncio.wait([getter, closing], timeout=within, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
            if not getter.done():
                getter.cancel()
            await asyncio.gather(getter, closing, return_exceptions=True)
        return getter.result() if getter.done() and not getter.cancelled() else None

    async def run(self, stop: asyncio.Event) -> None:
        self.closing.clear()
        try:
            while not stop.is_set():
                if self.use_change_streams:
                    try:
                        await self.inbox.follow(stop, self.publish, self._following)
                        continue
                    except InboxChangesUnavailable as error:
                        log.warning("inbox change stream unavailable, polling instead", extra={"error": str(error)})
                        self.use_change_streams = False
                await self._poll(stop)
        finally:
            self.closing.set()

    def _following(self) -> None:
        self.mode = "change-stream"

    async def _poll(self, stop: asyncio.Event) -> None:
        self.mode = "polling"
        since = datetime.now(UTC)
        seen: dict[str, datetime] = {}
        while not stop.is_set():
            started = datetime.now(UTC)
            patrons = [patron for patron, queues in self._streams.items() if queues]
            if patrons:
                try:
                    for message in await self.inbox.stored_since(patrons, since - POLL_OVERLAP):
                        if message.id not in seen:
                            seen[message.id] = started
                            self.publish(message)
                except InboxStoreUnavailable as error:
                    log.warning("inbox polling failed", extra={"error": str(error)})
            since = started
            seen = {key: at for key, at in seen.items() if at > started - 2 * POLL_OVERLAP}
            await wait(stop, self.poll_seconds)
