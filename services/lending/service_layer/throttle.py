"""Counting attempts before the work they ask for is done (rules in :mod:`lending.domain.throttle`): sign-ins
before their secrets are checked, card applications before an email is sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from lending.domain.throttle import ApplicationLimits, Limit, Step, ThrottlePolicy, attempt_steps, exceeded
from lending.errors import ApplicationsThrottled, SignInLocked
from lending.service_layer.clock import Clock, system_clock


class AttemptCounters(Protocol):
    """Fixed-window attempt counters shared by every replica. Written outside any unit of work on purpose: a
    refused or failed attempt must stay counted whatever becomes of the request that made it."""

    async def count_attempt(self, key: str, window_end: datetime) -> int:
        """Count one more attempt on ``key`` (atomic: concurrent attempts get distinct counts); the new count."""
        ...

    async def uncount_attempt(self, key: str) -> None:
        """Take one attempt back (never below zero)."""
        ...

    async def reset_attempts(self, key: str) -> None: ...

    async def is_known_sign_in_client(self, credential: str, client: str) -> bool: ...

    async def remember_sign_in_client(self, credential: str, client: str, until: datetime) -> None: ...


@dataclass
class Attempt:
    """An admitted attempt: the counters it took, to give back when the secret was right."""

    credential: str
    client: str
    counted: list[tuple[Step, str]] = field(default_factory=list)


class SignInThrottle:
    def __init__(
        self, counters: AttemptCounters, policy: ThrottlePolicy | None = None, clock: Clock = system_clock
    ) -> None:
        self.counters = counters
        self.policy = policy or ThrottlePolicy()
        self.clock = clock

    async def admit(self, credential: str, client: str) -> Attempt:
        """Count the attempt on every counter it passes; :class:`SignInLocked` (429) as soon as one is full.

        The answer is the same whether or not ``credential`` exists, so it tells nothing about card numbers.
        """
        now = self.clock()
        known = await self.counters.is_known_sign_in_client(credential, client)
        attempt = Attempt(credential, client)
        for step in attempt_steps(self.policy, credential, client, known_client=known):
            current: Step | None = step
            while current is not None:
                key = current.limit.key(current.subject, now)
                count = await self.counters.count_attempt(key, current.limit.window_end(now))
                attempt.counted.append((current, key))
                if not exceeded(current, count):
                    break
                if current.overflow is None:
                    raise SignInLocked(
                        "too many sign-in attempts; try again later", retry_after=current.limit.retry_after(now)
                    )
                current = current.overflow
        return attempt

    async def succeeded(self, attempt: Attempt) -> None:
        """The secret was right: this client is known to the credential, and its failures are forgiven."""
        now = self.clock()
        for step, key in attempt.counted:
            if step.limit is self.policy.per_credential_and_client:
                await self.counters.reset_attempts(key)
            else:
                await self.counters.uncount_attempt(key)
        await self.counters.remember_sign_in_client(
            attempt.credential, attempt.client, now + self.policy.known_client_for
        )


class ApplicationThrottle:
    """Card applications send an email to an address nobody has verified yet: at most a few per client and
    per address, counted before anything is written or sent (shared by every replica through the database)."""

    def __init__(
        self, counters: AttemptCounters, limits: ApplicationLimits | None = None, clock: Clock = system_clock
    ) -> None:
        self.counters = counters
        self.limits = limits or ApplicationLimits()
        self.clock = clock

    async def admit(self, client: str, email: str) -> None:
        now = self.clock()
        for limit, subject in ((self.limits.per_client, client), (self.limits.per_email, email)):
            if await self.counters.count_attempt(limit.key(subject, now), limit.window_end(now)) > limit.attempts:
                raise ApplicationsThrottled(_refusal(limit), retry_after=limit.retry_after(now))


def _refusal(limit: Limit) -> str:
    return f"too many card applications from this {limit.scope.removeprefix('application-')}; try again later"
