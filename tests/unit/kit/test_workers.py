"""The one loop every background worker runs: passes, sleeps to the next deadline, backs off, stops."""

from __future__ import annotations

import asyncio

from sachso.kit.workers import run_until_stopped, seconds_until


async def test_runs_again_at_once_while_more_is_due_and_stops_when_asked() -> None:
    stop = asyncio.Event()
    answers = [0.0, 0.0]
    passes = 0

    async def one_pass() -> float | None:
        nonlocal passes
        passes += 1
        if not answers:
            stop.set()
            return None
        return answers.pop(0)

    # max_sleep is long: only "0 = at once" and stop can make three passes end this test
    await run_until_stopped("test", one_pass, stop, max_sleep=3600, wakeup=asyncio.Event())
    assert passes == 3


async def test_a_failing_pass_backs_off_and_stop_ends_the_backoff() -> None:
    """Lending's old loop slept through its backoff; now ``stop`` ends it at once."""
    stop = asyncio.Event()
    failures: list[str] = []

    async def one_pass() -> float | None:
        raise ConnectionError("database away")

    async def on_failure() -> None:
        failures.append("reported")
        stop.set()

    await run_until_stopped("test", one_pass, stop, max_sleep=1, initial_backoff=3600, on_failure=on_failure)
    assert failures == ["reported"]


async def test_a_wakeup_ends_the_sleep() -> None:
    stop = asyncio.Event()
    wakeup = asyncio.Event()
    first_pass = asyncio.Event()
    passes = 0

    async def one_pass() -> float | None:
        nonlocal passes
        passes += 1
        first_pass.set()
        if passes == 2:
            stop.set()
        return 3600.0

    task = asyncio.create_task(run_until_stopped("test", one_pass, stop, max_sleep=3600, wakeup=wakeup))
    await first_pass.wait()
    wakeup.set()
    await task
    assert passes == 2


def test_sleep_is_bounded_by_max_sleep_and_never_negative() -> None:
    assert seconds_until(None, 1.0) == 1.0
    assert seconds_until(5.0, 1.0) == 1.0
    assert seconds_until(0.25, 1.0) == 0.25
    assert seconds_until(-3.0, 1.0) == 0.0
