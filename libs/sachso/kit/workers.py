"""Background workers that act when something falls due: one loop, one way to wait, one way to stop.

Lending's due watcher, notify's reminders and sender and the outbox relay all do the same thing: act on
what is due now, then sleep until the next deadline (or a wake-up, or at most ``max_sleep`` seconds, to notice
work that arrived meanwhile), back off while a dependency is away, and end promptly when ``stop`` is set —
including while backing off. :func:`run_until_stopped` is that loop; a worker supplies one *pass*.

What a process needs from a broker or an object store before some workers can begin (topics, a started producer,
a bucket) is a :class:`Prerequisite`: set up by a worker of its own with the same backoff, so the process starts
and serves what needs only its database while the broker or S3 is away, and the workers that need it begin when
it appears. :func:`retry_until_done` is the backoff both share.

Pure asyncio (no client): a service layer may use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

# One pass of a worker: act on what is due now; answer how many seconds until the next pass is needed
# (0: at once, more is due; None: nothing known, wait the longest).
Pass = Callable[[], Awaitable[float | None]]
# A background task of a service process: runs until ``stop`` is set.
Worker = Callable[[asyncio.Event], Awaitable[None]]


async def wait(stop: asyncio.Event, seconds: float, wakeup: asyncio.Event | None = None) -> None:
    """Sleep ``seconds`` unless ``stop`` (or ``wakeup``, if given) is set first."""
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


def seconds_until(deadline_seconds: float | None, max_sleep: float) -> float:
    """How long to sleep before a deadline ``deadline_seconds`` away, never more than ``max_sleep``."""
    if deadline_seconds is None:
        return max_sleep
    return max(0.0, min(max_sleep, deadline_seconds))


async def retry_until_done(
    name: str,
    action: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    *,
    initial_backoff: float = 0.5,
    max_backoff: float = 10.0,
    on_failure: Callable[[BaseException], Awaitable[None]] | None = None,
) -> bool:
    """Run ``action`` until it succeeds (True) or ``stop`` is set (False).

    A failure — the database, broker or object store away — is logged and retried after an exponential backoff,
    which ``stop`` also ends; ``on_failure`` runs after each failure with the error (e.g. to report a backlog).
    """
    backoff = initial_backoff
    while not stop.is_set():
        try:
            await action()
        except Exception as error:  # a dependency is away: the state is durable, try again later
            log.warning("%s failed, retrying", name, extra={"worker": name, "error": repr(error), "retry_in": backoff})
            if on_failure is not None:
                with contextlib.suppress(Exception):
                    await on_failure(error)
            await wait(stop, backoff)
            backoff = min(backoff * 2, max_backoff)
            continue
        return True
    return False


async def run_until_stopped(
    name: str,
    one_pass: Pass,
    stop: asyncio.Event,
    *,
    max_sleep: float,
    wakeup: asyncio.Event | None = None,
    initial_backoff: float = 0.5,
    max_backoff: float = 10.0,
    on_failure: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Run ``one_pass`` until ``stop`` is set.

    After a pass the loop sleeps for the seconds it answered (at most ``max_sleep``), or until ``wakeup`` is set
    (it is cleared before each pass, so a wake-up during a pass triggers the next one). A failing pass is retried
    as :func:`retry_until_done` does; ``on_failure`` runs after each failure.
    """
    answers: list[float | None] = []

    async def answered_pass() -> None:
        if wakeup is not None:
            wakeup.clear()
        answers.append(await one_pass())

    async def failed(_: BaseException) -> None:
        if on_failure is not None:
            await on_failure()

    while not stop.is_set():
        answers.clear()
        if not await retry_until_done(
            name, answered_pass, stop, initial_backoff=initial_backoff, max_backoff=max_backoff, on_failure=failed
        ):
            return
        next_in = answers[-1]
        if next_in is not None and next_in <= 0:
            continue  # more is due now
        await wait(stop, seconds_until(next_in, max_sleep), wakeup)


class Prerequisite:
    """What some workers need before they can begin and the process may start without: the broker's topics and
    a started producer, a bucket.

    :meth:`run` is a worker that sets it up (``set_up``) with :func:`retry_until_done`'s backoff until it
    succeeds; :meth:`before` makes a worker wait for it; :meth:`check` is a dependency check that fails until then
    (``sachso_dependency_up`` and ``/readyz``'s body show it). So a pod starts, and serves what needs only its
    database, during a broker or S3 outage.
    """

    def __init__(
        self,
        name: str,
        set_up: Callable[[], Awaitable[None]],
        *,
        initial_backoff: float = 0.5,
        max_backoff: float = 10.0,
    ) -> None:
        self.name = name
        self._set_up = set_up
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self._done = asyncio.Event()
        self.problem = "not set up yet"

    @property
    def done(self) -> bool:
        return self._done.is_set()

    async def run(self, stop: asyncio.Event) -> None:
        """Set up until it works, then idle until ``stop`` (the runtime restarts a worker that returns)."""

        async def failed(error: BaseException) -> None:
            self.problem = f"{type(error).__name__}: {error}"[:300]

        if not self.done and await retry_until_done(
            f"setting up {self.name}",
            self._set_up,
            stop,
            initial_backoff=self.initial_backoff,
            max_backoff=self.max_backoff,
            on_failure=failed,
        ):
            self._done.set()
            log.info("%s set up", self.name, extra={"prerequisite": self.name})
        await stop.wait()

    async def wait(self, stop: asyncio.Event) -> bool:
        """Wait until set up (True) or until ``stop`` (False)."""
        while not self.done and not stop.is_set():
            await wait(stop, 3600.0, self._done)
        return self.done

    def before(self, worker: Worker) -> Worker:
        """``worker``, begun only once this is set up."""

        async def gated(stop: asyncio.Event) -> None:
            if await self.wait(stop):
                await worker(stop)

        return gated

    async def check(self) -> None:
        """A dependency check: fails, saying why, until set up."""
        if not self.done:
            raise ConnectionError(f"{self.name}: {self.problem}")
