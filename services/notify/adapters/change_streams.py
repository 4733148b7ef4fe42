"""Waking notify's workers when MongoDB gets new work (a change stream), polling when it has none."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import PyMongoError

from sachso.kit.workers import wait

log = logging.getLogger(__name__)


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
