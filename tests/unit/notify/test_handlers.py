"""Notify's event handlers and reminders on the in-memory unit of work: what each event leaves behind."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from google.protobuf.message import Message

from notify.domain.notices import Channel, Language, NoticeKind, RenderedNotice
from notify.service_layer.handlers import NotifyHandlers
from notify.service_layer.notifier import Notifier, ReminderLeads
from notify.service_layer.reminders import ReminderScheduler
from sachso.events.v1 import drm_events_pb2
from sachso.events.v1 import lending_events_pb2 as lending
from sachso.kit.events import ReceivedEvent
from tests.unit.notify.fakes import FakeNotifyState, FakeNotifyUnitOfWork, FakeReminders

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Renderer:
    def render(
        self, kind: NoticeKind, language: Language, facts: Mapping[str, Any], *, name: str = "", time_zone: ZoneInfo
    ) -> RenderedNotice:
        return RenderedNotice(f"{language.value}:{kind.value}:{facts.get('title')}", f"for {name}", "text", "html")


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def received(payload: Message, event_id: str | None = None) -> ReceivedEvent[Any]:
    return ReceivedEvent(
        id=event_id or uuid.uuid4().hex, type=payload.DESCRIPTOR.full_name, source="/sachso/lending", subject=None,
        time=NOW, key=None, payload=payload, trace_headers={}, topic="t", partition=0, offset=0,
    )  # fmt: skip


class Notify:
    def __init__(self) -> None:
        self.state = FakeNotifyState()
        self.clock = Clock()
        self.notifier = Notifier(renderer=Renderer(), leads=ReminderLeads(), clock=self.clock)
        self.handlers = NotifyHandlers(self.notifier)

    def uow(self) -> FakeNotifyUnitOfWork:
        return FakeNotifyUnitOfWork(self.state)

    async def handle(self, name: str, payload: Message, event_id: str | None = None) -> None:
        event = received(payload, event_id)
        await self.uow().run(lambda uow: getattr(self.handlers, name)(event, uow))


@pytest.fixture
async def notify() -> Notify:
    notify = Notify()
    await notify.handle("patron_approved", lending.PatronApproved(
        patron_id="ana", display_name="Nguyễn Thị An", email="an@example.vn", preferred_language="vi",
        card_number="DL-0001",
    ))  # fmt: skip
    await notify.handle("title_added", lending.TitleAdded(title_id="t1", title="Truyện Kiều"))
    return notify


async def test_a_ready_hold_is_told_in_her_language_once_with_a_lapse_reminder(notify: Notify) -> None:
    ready = lending.HoldReady(hold_id="h1", patron_id="ana", title_id="t1")
    ready.ready_until.FromDatetime(NOW + timedelta(days=3))
    await notify.handle("hold_ready", ready, "e1")
    with pytest.raises(ValueError, match="duplicate"):  # redelivered in a new transaction: MongoDB refuses it too
        await notify.handle("hold_ready", ready, "e1")
    inbox = [m for m in notify.state.inbox.values() if m.kind is NoticeKind.HOLD_READY]
    assert [(m.patron_id, m.title) for m in inbox] == [("ana", "vi:hold-ready:Truyện Kiều")]
    emails = [d for d in notify.state.deliveries.values() if d["kind"] is NoticeKind.HOLD_READY]
    assert [(d["channel"], d["target"]) for d in emails] == [(Channel.EMAIL, "an@example.vn")]
    ((reminder, status),) = notify.state.reminders.values()
    assert (reminder.kind, reminder.subject_id, status) == (NoticeKind.HOLD_LAPSING, "h1", "scheduled")


async def test_a_loan_cancels_the_hold_reminder_and_schedules_its_own_which_a_return_cancels(notify: Notify) -> None:
    ready = lending.HoldReady(hold_id="h1", patron_id="ana", title_id="t1")
    ready.ready_until.FromDatetime(NOW + timedelta(days=3))
    await notify.handle("hold_ready", ready)
    loan = lending.LoanCreated(loan_id="l1", patron_id="ana", title_id="t1")
    loan.starts_at.FromDatetime(NOW)
    loan.due_at.FromDatetime(NOW + timedelta(days=14))
    await notify.handle("loan_created", loan)
    statuses = {r.kind: status for r, status in notify.state.reminders.values()}
    assert statuses == {NoticeKind.HOLD_LAPSING: "cancelled", NoticeKind.LOAN_DUE_SOON: "scheduled"}
    await notify.handle("loan_returned", lending.LoanReturned(loan_id="l1", patron_id="ana", title_id="t1"))
    assert {status for _, status in notify.state.reminders.values()} == {"cancelled"}
    assert notify.state.loans["l1"]["ended"] is True
    assert not [d for d in notify.state.deliveries.values() if d["kind"] is NoticeKind.LOAN_ENDED]  # she did it


async def test_a_revocation_before_its_loan_waits_for_it(notify: Notify) -> None:
    await notify.handle("license_revoked", drm_events_pb2.LicenseRevoked(loan_id="l2", reason="publisher"))
    assert not [m for m in notify.state.inbox.values() if m.kind is NoticeKind.LICENSE_REVOKED]
    loan = lending.LoanCreated(loan_id="l2", patron_id="ana", title_id="t1")
    loan.due_at.FromDatetime(NOW + timedelta(days=14))
    await notify.handle("loan_created", loan)
    (revoked,) = [m for m in notify.state.inbox.values() if m.kind is NoticeKind.LICENSE_REVOKED]
    assert revoked.patron_id == "ana"


async def test_due_reminders_fire_once_then_the_scheduler_sleeps_until_the_next(notify: Notify) -> None:
    loan = lending.LoanCreated(loan_id="l3", patron_id="ana", title_id="t1")
    loan.starts_at.FromDatetime(NOW)
    loan.due_at.FromDatetime(NOW + timedelta(days=14))
    await notify.handle("loan_created", loan)
    scheduler = ReminderScheduler(FakeReminders(notify.state), notify.uow, notify.notifier)
    assert await scheduler.run_once() == 0
    notify.clock.now = NOW + timedelta(days=13)
    assert await scheduler.run_once() == 1
    assert await scheduler.run_once() == 0  # fired once
    (due,) = [m for m in notify.state.inbox.values() if m.kind is NoticeKind.LOAN_DUE_SOON]
    assert due.title == "vi:loan-due-soon:Truyện Kiều"
