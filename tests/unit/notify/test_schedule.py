"""Reminder times and retry delays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notify.domain.notices import NoticeKind
from notify.domain.schedule import Reminder, reminder_id, reminder_time, retry_delay

START = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def test_the_reminder_comes_the_lead_time_before_the_deadline() -> None:
    assert reminder_time(START, START + timedelta(days=14), timedelta(days=2)) == START + timedelta(days=12)


def test_a_short_span_is_reminded_halfway_not_at_once() -> None:
    assert reminder_time(START, START + timedelta(days=1), timedelta(days=2)) == START + timedelta(hours=12)


def test_no_span_no_reminder() -> None:
    assert reminder_time(START, START, timedelta(hours=1)) is None
    assert reminder_time(START, START - timedelta(hours=1), timedelta(hours=1)) is None


def test_retry_delays_double_up_to_a_ceiling() -> None:
    initial, ceiling = timedelta(seconds=30), timedelta(minutes=10)
    delays = [retry_delay(attempt, initial=initial, maximum=ceiling) for attempt in range(1, 8)]
    assert delays[:4] == [timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert delays[-1] == ceiling
    assert retry_delay(0, initial=initial, maximum=ceiling) == timedelta(0)
    assert retry_delay(10_000, initial=initial, maximum=ceiling) == ceiling


def test_a_reminder_is_keyed_by_its_deadline() -> None:
    due = START + timedelta(days=14)
    reminder = Reminder.before(
        NoticeKind.LOAN_DUE_SOON,
        patron_id="p1",
        subject_id="loan-1",
        title_id="t1",
        start=START,
        deadline=due,
        lead=timedelta(days=2),
    )
    assert reminder is not None
    assert reminder.id == reminder_id("loan-due-soon", "loan-1", due) == f"loan-due-soon:loan-1:{int(due.timestamp())}"
    renewed = Reminder.before(
        NoticeKind.LOAN_DUE_SOON,
        patron_id="p1",
        subject_id="loan-1",
        title_id="t1",
        start=START,
        deadline=due + timedelta(days=7),
        lead=timedelta(days=2),
    )
    assert renewed is not None
    assert renewed.id != reminder.id


def test_a_fired_reminder_becomes_a_notice_with_its_deadline() -> None:
    until = START + timedelta(hours=72)
    reminder = Reminder.before(
        NoticeKind.HOLD_LAPSING,
        patron_id="p1",
        subject_id="hold-1",
        title_id="t1",
        start=START,
        deadline=until,
        lead=timedelta(hours=24),
    )
    assert reminder is not None
    assert reminder.fire_at == START + timedelta(hours=48)
    notice = reminder.notice(title="Truyện Kiều", now=reminder.fire_at)
    assert notice.id == reminder.id
    assert notice.kind is NoticeKind.HOLD_LAPSING
    assert notice.deadline == until
    assert notice.facts == {"title": "Truyện Kiều", "ready_until": until}
