"""Background workers that act when something falls due: one loop, one way to wait, one way to stop.

Lending's due watcher, notify's reminders and sender and the outbox relay all do the same thing: act on
what is due now, then sleep until the next deadline (or a wake-up, or at most ``max_sleep`` seconds, to notice
work that arrived meanwhile), back off while a dependency is away, and end promptly when ``stop`` is set —
including while backing off. :func:`run_until_stopped` is that loop; a worker supplies one *pass*.

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
    (it is cleared before each pass, so a wake-up during a pass triggers the next one). A failing pass — the
    database or broker away — is logged and retried after an exponential backoff, which ``stop`` also ends;
    ``on_failure`` runs after each failure (e.g. to report a growing backlog).
    """
    backoff = initial_backoff
    while not stop.is_set():
        if wakeup is not None:
            wakeup.clear()
        try:
            next_in = await one_pass()
        except Exception as error:  # a dependency is away: the state is durable, try again later
            log.warning("%s failed, retrying", name, extra={"worker": name, "error": repr(error)})
            if on_failure is not None:
                with contextlib.suppress(Exception):
                    await on_failure()
            await wait(stop, backoff)
            backoff = min(backoff * 2, max_backoff)
            continue
        backoff = initial_backoff
        if next_in is not None and next_in <= 0:
            continue  # more is due now
        await wait(stop, seconds_until(next_in, max_sleep), wakeup)
