"""How notify's workers wait: until a deadline, a wake-up or the stop signal, whichever comes first."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)


async def wait(stop: asyncio.Event, seconds: float, wakeup: asyncio.Event | None = None) -> None:
    """Sleep ``seconds`` unless ``stop`` or ``wakeup`` is set first."""
    waiters = [asyncio.create_task(stop.wait())]
    if wakeup is not None:
        waiters.append(asyncio.create_task(wakeup.wait()))
    try:
        await asyncio.wait(waiters, timeout=max(0.0, seconds), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*waiters, return_exceptions=True)


async def wake_on_inserts(
    collection: AsyncCollection[dict[str, Any]], wakeup: asyncio.Event, stop: asyncio.Event, *, retry_seconds: float
) -> None:
    """Set ``wakeup`` whenever a document is inserted into ``collection`` (a change stream); polling by the
    caller remains the fallback when the server has no change streams."""
    while not stop.is_set():
        try:
            async with await collection.watch([{"$match": {"operationType": "insert"}}]) as stream:
                async for _ in stream:
                    wakeup.set()
        except PyMongoError as error:
            log.debug("change stream unavailable, polling", extra={"error": str(error)})
            await wait(stop, retry_seconds)
