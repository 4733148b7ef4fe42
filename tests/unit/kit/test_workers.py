"""The one loop every background worker runs: passes, sleeps to the next deadline, backs off, stops."""

from __future__ import annotations

import asyncio

import pytest

from sachso.kit.workers import Prerequisite, retry_until_done, run_until_stopped, seconds_until


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


async def test_a_prerequisite_is_retried_until_it_works_and_gates_the_workers_that_need_it() -> None:
    """The broker (or S3) away at start: set-up is retried with backoff; the relay begins once it worked."""
    stop = asyncio.Event()
    attempts = 0
    began = asyncio.Event()

    async def set_up() -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionError("broker away")

    kafka = Prerequisite("Kafka", set_up, initial_backoff=0.01, max_backoff=0.02)

    async def relay(stop: asyncio.Event) -> None:
        began.set()
        await stop.wait()

    with pytest.raises(ConnectionError, match="not set up yet"):
        await kafka.check()
    gated = asyncio.ensure_future(kafka.before(relay)(stop))
    setting_up = asyncio.create_task(kafka.run(stop))
    await asyncio.wait_for(began.wait(), 5)
    assert attempts == 3
    assert kafka.done
    await kafka.check()  # passes now
    stop.set()
    await asyncio.wait_for(asyncio.gather(gated, setting_up), 5)


async def test_a_prerequisite_that_never_works_says_why_and_stop_ends_everything_waiting() -> None:
    stop = asyncio.Event()

    async def set_up() -> None:
        raise ConnectionError("no S3 at 127.0.0.1:9")

    async def never(stop: asyncio.Event) -> None:
        raise AssertionError("must not begin")

    bucket = Prerequisite("the S3 bucket", set_up, initial_backoff=0.01, max_backoff=0.01)
    tasks = [asyncio.create_task(bucket.run(stop)), asyncio.ensure_future(bucket.before(never)(stop))]
    await asyncio.sleep(0.05)
    with pytest.raises(ConnectionError, match=r"no S3 at 127\.0\.0\.1:9"):
        await bucket.check()
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert not bucket.done


async def test_retry_until_done_reports_each_failure_and_answers_false_when_stopped() -> None:
    stop = asyncio.Event()
    errors: list[str] = []

    async def action() -> None:
        raise ConnectionError("away")

    async def failed(error: BaseException) -> None:
        errors.append(str(error))
        if len(errors) == 2:
            stop.set()

    assert not await retry_until_done("test", action, stop, initial_backoff=0.01, on_failure=failed)
    assert errors == ["away", "away"]
