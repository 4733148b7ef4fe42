"""Ends loans at their due time and ready holds at the end of their window — within a second, no batch.

The watcher reads the ``(status, due_at)`` and ``(state, ready_until)`` indexes for what is due now, acts on
each in its own transaction (the transaction re-checks the state, so replicas racing on one loan act once), then
sleeps until the earliest next deadline, waking at least every ``max_sleep`` seconds to see new loans. All state
is in MongoDB, so a restart simply carries on: anything that fell due while the service was down is handled on
the first pass.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from lending.adapters.store import LendingStore, utc
from lending.service_layer.circulation import ACTIVE, Circulation
from sachso.kit.workers import run_until_stopped

log = logging.getLogger(__name__)

BATCH = 100


class DueWatcher:
    def __init__(self, store: LendingStore, circulation: Circulation, *, max_sleep: float = 1.0) -> None:
        self.store = store
        self.circulation = circulation
        self.max_sleep = max_sleep

    async def run_once(self) -> int:
        """Act on everything due now; return how many loans and holds ended."""
        now = self.circulation.clock()
        ended = 0
        async for loan in self.store.loans.find({"status": ACTIVE, "due_at": {"$lte": now}}, {"_id": 1}).limit(BATCH):
            ended += await self.circulation.expire_loan(loan["_id"])
        async for hold in self.store.holds.find({"state": "ready", "ready_until": {"$lte": now}}, {"_id": 1}).limit(
            BATCH
        ):
            ended += await self.circulation.expire_ready_hold(hold["_id"])
        return ended

    async def next_deadline(self) -> datetime | None:
        loan = await self.store.loans.find_one({"status": ACTIVE}, {"due_at": 1}, sort=[("due_at", 1)])
        hold = await self.store.holds.find_one({"state": "ready"}, {"ready_until": 1}, sort=[("ready_until", 1)])
        deadlines = [utc(doc[field]) for doc, field in ((loan, "due_at"), (hold, "ready_until")) if doc]
        return min((deadline for deadline in deadlines if deadline), default=None)

    async def _one_pass(self) -> float | None:
        """Act on what is due; how many seconds until the next deadline (0: more is due now)."""
        if await self.run_once() >= BATCH:
            return 0.0  # more may be due
        deadline = await self.next_deadline()
        return None if deadline is None else (deadline - self.circulation.clock()).total_seconds()

    async def run(self, stop: asyncio.Event) -> None:
        """Watch until ``stop``; database outages are retried with backoff (the state is in MongoDB)."""
        await run_until_stopped("due watcher", self._one_pass, stop, max_sleep=self.max_sleep)
