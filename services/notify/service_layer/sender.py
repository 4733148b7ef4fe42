"""Sends what the consumer and the scheduler planned: email over SMTP and Web Push, with retries.

The sender claims due deliveries in batches (several replicas share the work; a crashed sender's claims are
taken over when its lease runs out), sends them concurrently, then records each outcome: sent; failed for good
(a bounced address — recorded so no further email goes there —, an expired push subscription — marked so no
further push goes there —, or a permanent refusal); or tried again later with doubling backoff, until
``max_attempts`` failures mark it failed. It wakes when a delivery is written (a change stream) and otherwise
polls.

Each batch costs two short units of work: one claims the batch (and reads which of its addresses bounced
before and its push devices), one records every outcome together with the bounces and gone devices the batch
revealed. The next batch is claimed while one is being sent (``batches_in_flight``), so the database's round
trips overlap the mail server's. The mailer keeps its SMTP connections open and sends message after message on
each.

Sending and recording are two steps, so a crash between them sends that one message again when the lease runs
out; the Message-ID is derived from the delivery, so mail clients show it once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from prometheus_client import Counter, Histogram

from notify.domain.deliveries import Delivery, Outcome, email_key
from notify.domain.notices import Channel, NoticeKind, app_path
from notify.domain.schedule import retry_delay
from notify.domain.subscriptions import Subscription
from notify.service_layer.channels import (
    EmailRejected,
    Mailer,
    OutgoingEmail,
    Pusher,
    PushGone,
    PushRejected,
    PushTarget,
)
from notify.service_layer.clock import Clock, system_clock
from notify.service_layer.repositories import DueDeliveries
from notify.service_layer.unit_of_work import NotifyUnitOfWork, UnitOfWorkFactory
from sachso.kit.workers import run_until_stopped, wait

log = logging.getLogger(__name__)

DELIVERIES = Counter("notify_deliveries_total", "Deliveries settled by the sender", ["channel", "outcome"])
# From when a delivery became due (planned, after quiet hours, or a retry time) to the mail server or push service
# accepting it: the notify part of "the hold-ready email within a minute" (deploy/k8s/SLO.md).
DELIVERY_SECONDS = Histogram(
    "notify_delivery_seconds",
    "Time from due to accepted by the mail server or push service",
    ["kind", "channel"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600),
)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    initial: timedelta = timedelta(seconds=30)
    maximum: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class _Batch:
    """Deliveries claimed together, with what the claim read for them: which addresses bounced before, and
    the push devices they go to."""

    deliveries: list[Delivery]
    bounced: set[str]
    devices: dict[str, Subscription]


# Sets the event whenever a delivery is stored, until the stop event (a change stream; polling is the fallback).
WakeOnNew = Callable[[asyncio.Event, asyncio.Event], Coroutine[Any, Any, None]]


class DeliverySender:
    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        queue: DueDeliveries,
        *,
        mailer: Mailer,
        pusher: Pusher | None,
        retry: RetryPolicy = RetryPolicy(),
        clock: Clock = system_clock,
        batch_size: int = 100,
        concurrency: int = 16,
        lease: timedelta = timedelta(minutes=2),
        poll_seconds: float = 1.0,
        gather_seconds: float = 0.05,
        batches_in_flight: int = 2,
        wake_on_new: WakeOnNew | None = None,
    ) -> None:
        self.unit_of_work = unit_of_work
        self.queue = queue
        self.mailer = mailer
        self.pusher = pusher
        self.retry = retry
        self.clock = clock
        self.batch_size = batch_size
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.gather_seconds = gather_seconds
        self._slots = asyncio.Semaphore(concurrency)
        self._in_flight = asyncio.Semaphore(batches_in_flight)
        self._sending: set[asyncio.Task[None]] = set()
        self._wakeup = asyncio.Event()
        self.wake_on_new = wake_on_new

    async def run_once(self) -> int:
        """Claim one batch of due deliveries, send it and record how each went; return how many were claimed."""
        batch = await self._claim()
        if batch.deliveries:
            await self._send_and_record(batch)
        return len(batch.deliveries)

    async def _claim(self) -> _Batch:
        now = self.clock()

        async def claim(uow: NotifyUnitOfWork) -> _Batch:
            claimed = await uow.deliveries.claim_due(now, limit=self.batch_size, lease=self.lease)
            if not claimed:
                return _Batch([], set(), {})
            emails = [delivery.target for delivery in claimed if delivery.channel is Channel.EMAIL]
            pushes = [delivery.target for delivery in claimed if delivery.channel is Channel.PUSH]
            return _Batch(
                claimed,
                await uow.bounces.bounced_among(emails) if emails else set(),
                await uow.push_devices.by_ids(pushes) if pushes else {},
            )

        return await self.unit_of_work().run(claim)

    async def _send_and_record(self, batch: _Batch) -> None:
        outcomes = await asyncio.gather(
            *(self._send(delivery, batch.bounced, batch.devices) for delivery in batch.deliveries)
        )
        settled_at = self.clock()

        async def settle(uow: NotifyUnitOfWork) -> None:
            await uow.deliveries.settle(outcomes, settled_at)
            for outcome in outcomes:
                if outcome.bounced:
                    await uow.bounces.record_bounce(outcome.delivery.target, outcome.error, settled_at)
                if outcome.expired_device is not None:
                    await uow.push_devices.mark_expired(outcome.expired_device, outcome.error, settled_at)

        await self.unit_of_work().run(settle)
        for outcome in outcomes:
            result = "sent" if outcome.sent else "failed" if outcome.failed else "retry"
            delivery = outcome.delivery
            DELIVERIES.labels(channel=delivery.channel.value, outcome=result).inc()
            if outcome.sent and delivery.due_at is not None:
                DELIVERY_SECONDS.labels(kind=delivery.kind, channel=delivery.channel.value).observe(
                    max(0.0, (settled_at - delivery.due_at).total_seconds())
                )

    async def _send(self, delivery: Delivery, bounced: set[str], devices: dict[str, Subscription]) -> Outcome:
        async with self._slots:
            try:
                if delivery.channel is Channel.EMAIL:
                    return await self._email(delivery, bounced)
                return await self._push(delivery, devices.get(delivery.target))
            except Exception as error:  # temporary (4xx, timeouts, connections) or unexpected: try again later
                return self._retry_or_fail(delivery, error)

    def _retry_or_fail(self, delivery: Delivery, error: Exception) -> Outcome:
        attempts = delivery.attempts + 1
        reason = f"{type(error).__name__}: {error}"
        if attempts >= self.retry.max_attempts:
            log.error(
                "delivery failed for good", extra={"delivery": delivery.id, "attempts": attempts, "error": reason}
            )
            return Outcome(delivery, failed=True, error=reason)
        log.warning(
            "delivery failed, will retry", extra={"delivery": delivery.id, "attempt": attempts, "error": reason}
        )
        delay = retry_delay(attempts, initial=self.retry.initial, maximum=self.retry.maximum)
        return Outcome(delivery, retry_at=self.clock() + delay, error=reason)

    async def _email(self, delivery: Delivery, bounced: set[str]) -> Outcome:
        # a verification code was asked for at that address just now: tried even if it bounced before
        if email_key(delivery.target) in bounced and delivery.kind != NoticeKind.EMAIL_VERIFICATION.value:
            return Outcome(delivery, failed=True, error="the address bounced earlier")
        email = OutgoingEmail(
            delivery_id=delivery.id,
            to_address=delivery.target,
            to_name=delivery.recipient_name,
            language=delivery.language.value,
            subject=delivery.subject,
            text=delivery.text,
            html=delivery.html,
        )
        try:
            await self.mailer.send(email)
        except EmailRejected as error:
            return Outcome(delivery, failed=True, error=f"rejected: {error}", bounced=error.bounced)
        return Outcome(delivery, sent=True)

    async def _push(self, delivery: Delivery, device: Subscription | None) -> Outcome:
        if self.pusher is None:
            return Outcome(delivery, failed=True, error="Web Push is not configured")
        if device is None or device.expired_at is not None:
            return Outcome(delivery, failed=True, error="the push subscription was removed or has expired")
        payload = {
            "id": delivery.notice_id,
            "kind": delivery.kind,
            "lang": delivery.language.value,
            "title": delivery.subject,
            "body": delivery.summary,
            "url": app_path(delivery.kind),
        }
        try:
            await self.pusher.send(PushTarget(device.endpoint, device.p256dh, device.auth), payload)
        except PushGone as error:
            return Outcome(delivery, failed=True, error=f"subscription gone: {error}", expired_device=device.id)
        except PushRejected as error:
            return Outcome(delivery, failed=True, error=f"rejected: {error}")
        return Outcome(delivery, sent=True)

    async def _one_pass(self, stop: asyncio.Event) -> float | None:
        """Claim one batch and start sending it; how long until the next delivery falls due (0: more are due now).

        While a batch is sent, the next is claimed, up to ``batches_in_flight`` claimed and not yet recorded: the
        database's round trips for one batch overlap the mail server's for another.
        """
        await self._in_flight.acquire()
        if stop.is_set():
            self._in_flight.release()
            return None
        try:
            batch = await self._claim()
        except BaseException:
            self._in_flight.release()
            raise
        if not batch.deliveries:
            self._in_flight.release()
            next_due = await self.queue.next_due()
            return None if next_due is None else (next_due - self.clock()).total_seconds()
        sending = asyncio.create_task(self._send_and_record(batch))
        self._sending.add(sending)
        sending.add_done_callback(self._recorded)
        if len(batch.deliveries) >= self.batch_size:
            return 0.0  # more are due
        # Busy: let a few more deliveries gather so the next batch is worth its database round trips. An idle
        # sender acts at once on the first one (no added latency).
        await wait(stop, self.gather_seconds)
        return 0.0

    def _recorded(self, sending: asyncio.Task[None]) -> None:
        self._sending.discard(sending)
        self._in_flight.release()
        if not sending.cancelled() and (error := sending.exception()) is not None:
            # what was sent goes again when its lease runs out (the same Message-ID: shown once)
            log.warning("recording a batch failed", extra={"error": repr(error)})

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop``; database failures are retried with backoff (deliveries stay in MongoDB). Batches
        being sent when ``stop`` comes are finished and recorded."""
        watcher = asyncio.create_task(self.wake_on_new(self._wakeup, stop)) if self.wake_on_new else None
        try:
            await run_until_stopped(
                "delivery sender",
                lambda: self._one_pass(stop),
                stop,
                max_sleep=self.poll_seconds,
                wakeup=self._wakeup,
                initial_backoff=0.2,
            )
        finally:
            if watcher is not None:
                watcher.cancel()
            await asyncio.gather(*self._sending, return_exceptions=True)
