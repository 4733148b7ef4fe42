"""Fires reminders when they come due — loan due soon, hold about to lapse — with no batch job.

Like lending's due watcher: reads the ``(status, fire_at)`` index for what is due, fires each in its own
transaction (a conditional update, so replicas racing on one reminder fire it once), then sleeps until the next
one, waking at least every ``max_sleep`` seconds to see new reminders. State is in MongoDB, so reminders that
fell due while the service was down fire on the first pass after a restart (unless their deadline passed).
"""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession

from notify.domain.schedule import Reminder
from notify.service_layer.notifier import Notifier
from sachso.kit.workers import run_until_stopped

BATCH = 100


class ReminderScheduler:
    def __init__(self, client: AsyncMongoClient[dict[str, Any]], notifier: Notifier, *, max_sleep: float = 1.0) -> None:
        self.client = client
        self.notifier = notifier
        self.reminders = notifier.reminders
        self.max_sleep = max_sleep

    async def run_once(self) -> int:
        """Fire every reminder due now (up to a batch); return how many fired."""
        fired = 0
        for reminder in await self.reminders.due(self.notifier.clock(), BATCH):
            fired += await self.fire(reminder)
        return fired

    async def fire(self, reminder: Reminder) -> bool:
        async with self.client.start_session() as session:

            async def work(session: AsyncClientSession) -> bool:
                now = self.notifier.clock()
                if not await self.reminders.fire(reminder.id, now, session):
                    return False  # fired by another replica, or cancelled
                title = await self.notifier.projections.title(reminder.title_id, session)
                await self.notifier.notify(reminder.notice(title=title, now=now), session)
                return True

            return await session.with_transaction(work)

    async def _one_pass(self) -> float | None:
        """Fire what is due; how long until the next reminder falls due (0: more may be due now)."""
        if await self.run_once() >= BATCH:
            return 0.0
        next_fire = await self.reminders.next_fire_at()
        return None if next_fire is None else (next_fire - self.notifier.clock()).total_seconds()

    async def run(self, stop: asyncio.Event) -> None:
        """Fire reminders until ``stop``; nothing is lost while the database is away (the state is in it)."""
        await run_until_stopped("reminder scheduler", self._one_pass, stop, max_sleep=self.max_sleep)
