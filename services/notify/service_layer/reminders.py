"""Fires reminders when they come due — loan due soon, hold about to lapse — with no batch job.

Like lending's due watcher: reads the ``(status, fire_at)`` index for what is due, fires each in its own
transaction (a conditional update, so replicas racing on one reminder fire it once), then sleeps until the next
one, waking at least every ``max_sleep`` seconds to see new reminders. State is in MongoDB, so reminders that
fell due while the service was down fire on the first pass after a restart (unless their deadline passed).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession

from notify.domain.schedule import Reminder
from notify.service_layer.notifier import Notifier
from notify.service_layer.waiting import wait

log = logging.getLogger(__name__)

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

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            try:
                if await self.run_once() >= BATCH:
                    continue  # more may be due
                next_fire = await self.reminders.next_fire_at()
                backoff = 0.5
            except Exception as error:  # database away: try again; nothing is lost, the state is in MongoDB
                log.warning("reminder scheduler failed, retrying", extra={"error": repr(error)})
                next_fire = None
                await wait(stop, backoff)
                backoff = min(backoff * 2, 10.0)
            sleep = self.max_sleep
            if next_fire is not None:
                sleep = min(sleep, (next_fire - self.notifier.clock()).total_seconds())
            await wait(stop, sleep)
