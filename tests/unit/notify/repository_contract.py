"""One contract for notify's repositories, run against the in-memory fakes and the MongoDB implementations.

``tests/unit/notify/test_fake_repositories.py`` runs it on the fakes, ``tests/integration/notify/
test_mongo_repositories.py`` on MongoDB (the real local server); each provides the ``repositories`` fixture.
The handler tests trust the fakes on exactly these behaviours: the latest patron event completes what notify knows
of her, a licence event that comes before its loan waits for it, one reminder per deadline fired once and never
after it was cancelled, inbox messages newest first, and nothing left behind by a unit of work that failed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from notify.domain.deliveries import Delivery, Outcome
from notify.domain.inbox import InboxMessage
from notify.domain.notices import Channel, Language, Notice, NoticeKind, RenderedNotice
from notify.domain.planning import PlannedDelivery
from notify.domain.schedule import Reminder
from notify.service_layer.repositories import ReminderQueue, SubscriptionRepository
from notify.service_layer.unit_of_work import NotifyUnitOfWork, UnitOfWorkFactory

T = TypeVar("T")
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@dataclass
class Repositories:
    units: UnitOfWorkFactory
    queue: ReminderQueue
    subscriptions: SubscriptionRepository
    inbox_of: Callable[[str], Awaitable[list[InboxMessage]]]  # what her inbox lists, newest first

    async def run(self, work: Callable[[NotifyUnitOfWork], Awaitable[T]]) -> T:
        return await self.units().run(work)


def reminder(reminder_id: str, kind: NoticeKind, subject: str, minutes: int, title: str = "kieu") -> Reminder:
    fire_at = NOW + timedelta(minutes=minutes)
    return Reminder(reminder_id, kind, "ana", subject, title, fire_at + timedelta(days=1), fire_at)


def message(message_id: str, patron_id: str, minutes: int) -> InboxMessage:
    return InboxMessage(message_id, patron_id, NoticeKind.HOLD_READY, Language.VI, "Sách đã sẵn sàng",
                        "Truyện Kiều chờ bạn", NOW + timedelta(minutes=minutes))  # fmt: skip


class RepositoryContract:
    async def test_patron_projection_keeps_what_later_events_leave_out(self, repositories: Repositories) -> None:
        recipient, preferences = await repositories.run(lambda uow: uow.projections.patron("ana"))
        assert (recipient.display_name, recipient.language, preferences.time_zone) == (
            "",
            Language.VI,
            "Asia/Ho_Chi_Minh",
        )
        await repositories.run(
            lambda uow: uow.projections.record_patron(
                "ana", display_name="Nguyễn An", email="an@example.vn", language="en-GB"
            )
        )
        await repositories.run(
            lambda uow: uow.projections.record_patron("ana", display_name="", email="an@moi.vn", language="")
        )
        recipient, _ = await repositories.run(lambda uow: uow.projections.patron("ana"))
        assert (recipient.display_name, recipient.email, recipient.language) == ("Nguyễn An", "an@moi.vn", Language.EN)

    async def test_titles_and_a_revocation_that_arrives_before_its_loan(self, repositories: Repositories) -> None:
        assert await repositories.run(lambda uow: uow.projections.title("kieu")) is None
        await repositories.run(lambda uow: uow.projections.record_title("kieu", "Truyện Kiều", ["Nguyễn Du"]))
        assert await repositories.run(lambda uow: uow.projections.title("kieu")) == "Truyện Kiều"
        await repositories.run(lambda uow: uow.projections.park_revocation("loan-1", {"reason": "revoked"}))
        assert await repositories.run(lambda uow: uow.projections.loan("loan-1")) is None  # only the revocation
        parked = await repositories.run(lambda uow: uow.projections.record_loan("loan-1", "ana", "kieu", NOW))
        assert parked == {"reason": "revoked"}
        again = await repositories.run(lambda uow: uow.projections.record_loan("loan-1", "ana", "kieu", NOW))
        assert again is None  # handed over once
        await repositories.run(lambda uow: uow.projections.end_loan("loan-1"))
        loan = await repositories.run(lambda uow: uow.projections.loan("loan-1"))
        assert loan is not None
        assert (loan.patron_id, loan.title_id) == ("ana", "kieu")

    async def test_one_reminder_per_deadline_fired_once(self, repositories: Repositories) -> None:
        due_soon = reminder("r-loan", NoticeKind.LOAN_DUE_SOON, "loan-1", 30)
        lapsing = reminder("r-hold", NoticeKind.HOLD_LAPSING, "hold-1", 10)
        other_title = reminder("r-other", NoticeKind.HOLD_LAPSING, "hold-2", 20, title="lucvan")
        for one in (due_soon, lapsing, other_title):
            await repositories.run(lambda uow, one=one: uow.reminders.schedule(one))  # type: ignore[misc]
        moved = reminder("r-loan", NoticeKind.LOAN_DUE_SOON, "loan-1", 5)
        await repositories.run(lambda uow: uow.reminders.schedule(moved))  # exists: stays as first scheduled
        assert await repositories.queue.next_fire_at() == NOW + timedelta(minutes=10)
        due = await repositories.queue.due(NOW + timedelta(hours=1), 10)
        assert [(r.id, r.fire_at) for r in due] == [
            ("r-hold", NOW + timedelta(minutes=10)),
            ("r-other", NOW + timedelta(minutes=20)),
            ("r-loan", NOW + timedelta(minutes=30)),
        ]
        assert [r.id for r in await repositories.queue.due(NOW + timedelta(minutes=15), 10)] == ["r-hold"]
        await repositories.run(lambda uow: uow.reminders.cancel_hold_reminders("ana", "kieu"))  # she borrowed it
        assert not await repositories.run(lambda uow: uow.reminders.fire("r-hold", NOW))
        assert await repositories.run(lambda uow: uow.reminders.fire("r-other", NOW))
        assert not await repositories.run(lambda uow: uow.reminders.fire("r-other", NOW))  # fired once
        await repositories.run(lambda uow: uow.reminders.cancel_for("loan-1"))
        assert await repositories.queue.due(NOW + timedelta(days=2), 10) == []
        assert await repositories.queue.next_fire_at() is None

    async def test_inbox_messages_are_hers_newest_first(self, repositories: Repositories) -> None:
        for one in (message("m1", "ana", 1), message("m2", "ana", 3), message("m3", "binh", 2)):
            await repositories.run(lambda uow, one=one: uow.inbox.add(one))  # type: ignore[misc]
        assert [m.id for m in await repositories.inbox_of("ana")] == ["m2", "m1"]
        assert [m.id for m in await repositories.inbox_of("binh")] == ["m3"]

    async def test_subscriptions_one_per_endpoint_and_hers_only(self, repositories: Repositories) -> None:
        endpoint = "https://push.example.vn/send/abc"
        first = await repositories.subscriptions.save(
            "ana", endpoint=endpoint, p256dh="key", auth="auth", device_name="Điện thoại", at=NOW
        )
        again = await repositories.subscriptions.save(
            "ana", endpoint=endpoint, p256dh="key2", auth="auth2", device_name="Điện thoại mới", at=NOW
        )
        assert again.id == first.id
        assert [s.device_name for s in await repositories.subscriptions.list_for("ana")] == ["Điện thoại mới"]
        assert not await repositories.subscriptions.delete("binh", first.id)
        assert await repositories.subscriptions.delete("ana", first.id)
        assert await repositories.subscriptions.list_for("ana") == []

    async def test_deliveries_are_claimed_when_due_once_per_lease_and_settled_by_their_claim(
        self, repositories: Repositories
    ) -> None:
        notice = Notice("n1", NoticeKind.HOLD_READY, "ana", NOW, {})
        rendered = RenderedNotice("Sách đã sẵn sàng", "Truyện Kiều chờ bạn", "text", "<p>html</p>")
        planned = [
            PlannedDelivery("n1:email", Channel.EMAIL, "an@example.vn", NOW),
            PlannedDelivery("n1:push:d1", Channel.PUSH, "d1", NOW + timedelta(minutes=1)),
            PlannedDelivery("n1:push:d2", Channel.PUSH, "d2", NOW + timedelta(minutes=10)),  # quiet hours
        ]
        await repositories.run(
            lambda uow: uow.deliveries.add_planned(
                planned, notice, recipient_name="An", language=Language.VI, rendered=rendered, created_at=NOW
            )
        )
        lease = timedelta(minutes=2)

        async def claim(at: datetime) -> dict[str, Delivery]:
            claimed = await repositories.run(lambda uow: uow.deliveries.claim_due(at, limit=10, lease=lease))
            return {delivery.id: delivery for delivery in claimed}

        async def settle(*outcomes: Outcome) -> None:
            await repositories.run(lambda uow: uow.deliveries.settle(outcomes, NOW))

        first = await claim(NOW + timedelta(minutes=1))
        assert sorted(first) == ["n1:email", "n1:push:d1"]
        assert await claim(NOW + timedelta(minutes=1)) == {}  # held by the first claim
        email, push = first["n1:email"], first["n1:push:d1"]
        await settle(Outcome(email, sent=True), Outcome(push, retry_at=NOW + timedelta(minutes=2), error="503"))
        retried = await claim(NOW + timedelta(minutes=2))
        assert list(retried) == ["n1:push:d1"]
        assert retried["n1:push:d1"].attempts == 1
        # that sender dies; its lease runs out and another takes the delivery over, with the quiet-hours one
        taken_over = await claim(NOW + timedelta(minutes=10))
        assert sorted(taken_over) == ["n1:push:d1", "n1:push:d2"]
        await settle(Outcome(retried["n1:push:d1"], sent=True))  # the first sender, late: its claim is gone
        await settle(*(Outcome(delivery, failed=True, error="410") for delivery in taken_over.values()))
        assert await claim(NOW + timedelta(days=1)) == {}  # sent or failed: never claimed again

    async def test_a_unit_of_work_that_fails_leaves_nothing_behind(self, repositories: Repositories) -> None:
        async def work(uow: NotifyUnitOfWork) -> None:
            await uow.reminders.schedule(reminder("r1", NoticeKind.LOAN_DUE_SOON, "loan-1", 5))
            await uow.inbox.add(message("m1", "ana", 1))
            await uow.projections.record_title("kieu", "Truyện Kiều", [])
            raise RuntimeError("the notice could not be planned")

        with pytest.raises(RuntimeError):
            await repositories.run(work)
        assert await repositories.queue.next_fire_at() is None
        assert await repositories.inbox_of("ana") == []
        assert await repositories.run(lambda uow: uow.projections.title("kieu")) is None
