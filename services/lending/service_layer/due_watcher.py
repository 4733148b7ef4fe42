"""Ends loans at their due time and ready holds at the end of their window — within a second, no batch.

The watcher asks for what is due now (the ``(status, due_at)`` and ``(state, ready_until)`` indexes), acts on
each in its own unit of work (which re-checks the state, so replicas racing on one loan act once), then sleeps
until the earliest next deadline, waking at least every ``max_sleep`` seconds to see new loans. All state is in
MongoDB, so a restart simply carries on: anything that fell due while the service was down is handled on the
first pass.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from lending.service_layer.circulation import Circulation
from lending.service_layer.unit_of_work import LendingUnitOfWork
from sachso.kit.workers import run_until_stopped

BATCH = 100


class DueWatcher:
    def __init__(self, circulation: Circulation, *, max_sleep: float = 1.0) -> None:
        self.circulation = circulation
        self.max_sleep = max_sleep

    async def run_once(self) -> int:
        """Act on everything due now; return how many loans and holds ended."""
        now = self.circulation.clock()

        async def due(uow: LendingUnitOfWork) -> tuple[list[str], list[str]]:
            return await uow.loans.due(now, BATCH), await uow.holds.ready_until_passed(now, BATCH)

        loan_ids, hold_ids = await self.circulation.uow().run(due)
        ended = 0
        for loan_id in loan_ids:
            ended += await self.circulation.expire_loan(loan_id)
        for hold_id in hold_ids:
            ended += await self.circulation.expire_ready_hold(hold_id)
        return ended

    async def next_deadline(self) -> datetime | None:
        async def earliest(uow: LendingUnitOfWork) -> list[datetime | None]:
            return [await uow.loans.earliest_due(), await uow.holds.earliest_ready_until()]

        return min((deadline for deadline in await self.circulation.uow().run(earliest) if deadline), default=None)

    async def _one_pass(self) -> float | None:
        """Act on what is due; how many seconds until the next deadline (0: more is due now)."""
        if await self.run_once() >= BATCH:
            return 0.0  # more may be due
        deadline = await self.next_deadline()
        return None if deadline is None else (deadline - self.circulation.clock()).total_seconds()

    async def run(self, stop: asyncio.Event) -> None:
        """Watch until ``stop``; database outages are retried with backoff (the state is in MongoDB)."""
        await run_until_stopped("due watcher", self._one_pass, stop, max_sleep=self.max_sleep)
