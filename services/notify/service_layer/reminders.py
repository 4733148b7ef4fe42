"""Fires reminders when they come due — loan due soon, hold about to lapse — with no batch job.

Like lending's due watcher: reads the ``(status, fire_at)`` index for what is due, fires each in its own
transaction (a conditional update, so replicas racing on one reminder fire it once), then sleeps until the next
one, waking at least every ``max_sleep`` seconds to see new reminders. State is in MongoDB, so reminders that
fell due while the service was down fire on the first pass after a restart (unless their deadline passed).
"""

from __future__ import annotations

import asyncio

from notify.domain.schedule import Reminder
from notify.service_layer.notifier import Notifier
from notify.service_layer.repositories import ReminderQueue
from notify.service_layer.unit_of_work import NotifyUnitOfWork, UnitOfWorkFactory
from sachso.kit.workers import run_until_stopped

BATCH = 100


class ReminderScheduler:
    def __init__(
        self, reminders: ReminderQueue, uow: UnitOfWorkFactory, notifier: Notifier, *, max_sleep: float = 1.0
    ) -> None:
        self.reminders = reminders
        self.uow = uow
        self.notifier = notifier
        self.max_sleep = max_sleep

    async def run_once(self) -> int:
        """Fire every reminder due now (up to a batch); return how many fired."""
        fired = 0
        for reminder in await self.reminders.due(self.notifier.clock(), BATCH):
            fired += await self.fire(reminder)
        return fired

    async def fire(self, reminder: Reminder) -> bool:
        """Fire one reminder in its own unit of work (a conditional update: replicas racing fire it once)."""

        async def work(uow: NotifyUnitOfWork) -> bool:
            now = self.notifier.clock()
            if not await uow.reminders.fire(reminder.id, now):
                return False  # fired by another replica, or cancelled
            title = await uow.projections.title(reminder.title_id)
            await self.notifier.notify(reminder.notice(title=title, now=now), uow)
            return True

        return await self.uow().run(work)

    async def _one_pass(self) -> float | None:
        """Fire what is due; how long until the next reminder falls due (0: more may be due now)."""
        if await self.run_once() >= BATCH:
            return 0.0
        next_fire = await self.reminders.next_fire_at()
        return None if next_fire is None else (next_fire - self.notifier.clock()).total_seconds()

    async def run(self, stop: asyncio.Event) -> None:
        """Fire reminders until ``stop``; nothing is lost while the database is away (the state is in it)."""
        await run_until_stopped("reminder scheduler", self._one_pass, stop, max_sleep=self.max_sleep)
