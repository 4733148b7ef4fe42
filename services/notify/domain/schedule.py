"""When reminders fire and failed deliveries are tried again: plain arithmetic on times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from notify.domain.notices import Notice, NoticeKind


def reminder_time(start: datetime, deadline: datetime, lead: timedelta) -> datetime | None:
    """When to remind about ``deadline``: ``lead`` before it, but never in the first half of the span.

    A 3-day hold window with a 24 h lead reminds after 48 h; a 1-day loan with a 2-day lead reminds after 12 h
    rather than the moment she borrowed. None when there is no span at all.
    """
    if deadline <= start:
        return None
    return max(deadline - lead, start + (deadline - start) / 2)


def retry_delay(attempt: int, *, initial: timedelta, maximum: timedelta) -> timedelta:
    """How long to wait after the ``attempt``-th failure (1, 2, …): doubling from ``initial``, capped."""
    if attempt < 1:
        return timedelta(0)
    delay: timedelta = initial * (2 ** min(attempt - 1, 30))
    return min(delay, maximum)


def reminder_id(kind: str, subject_id: str, deadline: datetime) -> str:
    """One reminder per deadline: a renewed loan gets a new reminder, a redelivered event the same one."""
    return f"{kind}:{subject_id}:{int(deadline.timestamp())}"


@dataclass(frozen=True)
class Reminder:
    """A notice to give later: ``kind`` about ``subject_id`` (a loan or a hold) at ``fire_at``."""

    id: str
    kind: NoticeKind
    patron_id: str
    subject_id: str
    title_id: str
    deadline: datetime
    fire_at: datetime

    @classmethod
    def before(
        cls, kind: NoticeKind, *, patron_id: str, subject_id: str, title_id: str, start: datetime, deadline: datetime,
        lead: timedelta,
    ) -> Reminder | None:  # fmt: skip
        """The reminder ``lead`` before ``deadline`` (see :func:`reminder_time`); None if there is no time for one."""
        fire_at = reminder_time(start, deadline, lead)
        if fire_at is None:
            return None
        return cls(
            reminder_id(kind.value, subject_id, deadline), kind, patron_id, subject_id, title_id, deadline, fire_at
        )

    def notice(self, *, title: str | None, now: datetime) -> Notice:
        deadline_fact = "due_at" if self.kind is NoticeKind.LOAN_DUE_SOON else "ready_until"
        return Notice(
            id=self.id,
            kind=self.kind,
            patron_id=self.patron_id,
            occurred_at=now,
            facts={"title": title, deadline_fact: self.deadline},
            deadline=self.deadline,
        )
