"""Sign-in throttling that stops guessing without letting a stranger lock the owner out.

After OWASP's Authentication and Credential Stuffing guidance: failures are counted per (credential, client),
so five wrong PINs lock that client out of that card, not the card; each client has its own ceiling across all
credentials (stops spraying and enumeration); and a credential under attack from many clients is slowed down, not
locked, for clients it has never signed in from, while a client it signed in from recently keeps its normal
lane. Every attempt is counted *before* its secret is checked, atomically, so concurrent guesses cannot overtake
the count. Counters are fixed windows kept in the database, shared by every replica.

This module only decides; the counting is the store's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Limit:
    """At most ``attempts`` in each fixed ``window`` (counted per ``scope``)."""

    scope: str
    attempts: int
    window: timedelta

    def window_start(self, now: datetime) -> datetime:
        seconds = self.window.total_seconds()
        return datetime.fromtimestamp(math.floor(now.timestamp() / seconds) * seconds, tz=now.tzinfo)

    def window_end(self, now: datetime) -> datetime:
        return self.window_start(now) + self.window

    def key(self, subject: str, now: datetime) -> str:
        """The counter of ``subject`` in the window containing ``now``."""
        return f"{self.scope}:{subject}:{int(self.window_start(now).timestamp())}"

    def retry_after(self, now: datetime) -> int:
        """Whole seconds until the window ends (at least one)."""
        return max(1, math.ceil((self.window_end(now) - now).total_seconds()))


@dataclass(frozen=True)
class ThrottlePolicy:
    # one client guessing one card: the classic "five wrong PINs", but only for that client
    per_credential_and_client: Limit = Limit("pair", 5, timedelta(minutes=15))
    # one client trying many cards (spraying, enumerating sequential card numbers)
    per_client: Limit = Limit("client", 30, timedelta(minutes=15))
    # many clients trying one card: beyond this, unknown clients share a slow lane...
    per_credential: Limit = Limit("credential", 10, timedelta(minutes=15))
    # ...of one attempt per window for all of them together...
    slow_lane: Limit = Limit("slow", 1, timedelta(seconds=30))
    # ...and a daily ceiling for unknown clients; clients the card signed in from stay unaffected
    per_credential_daily: Limit = Limit("credential-day", 30, timedelta(days=1))
    # a client that signed in to a credential is "known" to it this long
    known_client_for: timedelta = field(default=timedelta(days=30))


@dataclass(frozen=True)
class Step:
    """Count one attempt on ``limit`` for ``subject``; ``overflow`` is the step taken when the count exceeds the
    limit (a slow lane) — without one, exceeding the limit refuses the attempt."""

    limit: Limit
    subject: str
    overflow: Step | None = None


def attempt_steps(policy: ThrottlePolicy, credential: str, client: str, *, known_client: bool) -> list[Step]:
    """The counters one sign-in attempt passes through, in order; the first that refuses stops it."""
    steps = [
        Step(policy.per_client, client),
        Step(policy.per_credential_and_client, f"{credential}|{client}"),
    ]
    if not known_client:
        steps += [
            Step(policy.per_credential_daily, credential),
            Step(policy.per_credential, credential, overflow=Step(policy.slow_lane, credential)),
        ]
    return steps


def exceeded(step: Step, count: int) -> bool:
    return count > step.limit.attempts


@dataclass(frozen=True)
class ApplicationLimits:
    """Card applications: each sends a code to an unverified address, so each client and each address gets few
    (a library's front-desk computer registering readers all day stays well within the client limit)."""

    per_client: Limit = Limit("application-client", 20, timedelta(hours=1))
    per_email: Limit = Limit("application-address", 3, timedelta(days=1))

    @classmethod
    def of(cls, per_client_per_hour: int, per_address_per_day: int) -> ApplicationLimits:
        return cls(
            Limit("application-client", per_client_per_hour, timedelta(hours=1)),
            Limit("application-address", per_address_per_day, timedelta(days=1)),
        )
