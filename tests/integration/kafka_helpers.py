"""Reading topics back in integration tests."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaConsumer


async def read_topic(bootstrap: str, topic: str, *, expected: int, within: float = 30.0) -> list[Any]:
    """Records of ``topic`` from the beginning until ``expected`` arrived or ``timeout`` passed."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    records: list[Any] = []
    deadline = time.monotonic() + within
    try:
        while len(records) < expected and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for partition_records in batch.values():
                records.extend(partition_records)
            if not batch:
                await asyncio.sleep(0.05)
    finally:
        await consumer.stop()
    return records


async def wait_until(predicate: Any, *, within: float = 30.0, interval: float = 0.1) -> None:
    """Poll the async ``predicate`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {within} s")
