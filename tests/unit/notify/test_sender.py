"""The delivery sender on the in-memory unit of work: claims, sends, and records what each send revealed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from notify.domain.notices import Channel, Language, Notice, NoticeKind, RenderedNotice
from notify.domain.planning import PlannedDelivery
from notify.domain.subscriptions import Subscription
from notify.service_layer.channels import EmailDeferred, EmailRejected, OutgoingEmail, PushGone, PushTarget
from notify.service_layer.sender import DeliverySender, RetryPolicy
from tests.unit.notify.fakes import FakeDeliveries, FakeNotifyState, FakeNotifyUnitOfWork

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Mailer:
    """Accepts every address but ``refuse`` (bounced for good) and ``busy`` (temporary)."""

    def __init__(self, refuse: frozenset[str] = frozenset(), busy: frozenset[str] = frozenset()) -> None:
        self.sent: list[OutgoingEmail] = []
        self.refuse, self.busy = refuse, busy

    async def send(self, email: OutgoingEmail) -> None:
        if email.to_address in self.refuse:
            raise EmailRejected("550 No such user", bounced=True)
        if email.to_address in self.busy:
            raise EmailDeferred("451 try later")
        self.sent.append(email)


class Pusher:
    def __init__(self) -> None:
        self.sent: list[tuple[PushTarget, dict[str, Any]]] = []

    async def send(self, target: PushTarget, payload: dict[str, Any]) -> None:
        if "/gone/" in target.endpoint:
            raise PushGone("410 Gone")
        self.sent.append((target, payload))


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


async def plan(state: FakeNotifyState, notice_id: str, *targets: tuple[Channel, str]) -> None:
    notice = Notice(notice_id, NoticeKind.HOLD_READY, "ana", NOW, {"title": "Truyện Kiều"})
    rendered = RenderedNotice("Sách đã sẵn sàng", "Truyện Kiều chờ bạn", "text", "<p>html</p>")
    planned = [
        PlannedDelivery(f"{notice_id}:{channel.value}:{target}", channel, target, NOW) for channel, target in targets
    ]
    await FakeDeliveries(state).add_planned(
        planned, notice, recipient_name="An", language=Language.VI, rendered=rendered, created_at=NOW
    )


def sender(state: FakeNotifyState, mailer: Mailer, clock: Clock, pusher: Pusher | None = None) -> DeliverySender:
    return DeliverySender(
        lambda: FakeNotifyUnitOfWork(state), FakeDeliveries(state), mailer=mailer, pusher=pusher, clock=clock,
        retry=RetryPolicy(max_attempts=2, initial=timedelta(seconds=30)),
    )  # fmt: skip


async def test_a_batch_is_claimed_sent_and_recorded_once() -> None:
    state, clock, mailer = FakeNotifyState(), Clock(), Mailer()
    for index in range(5):
        await plan(state, f"n{index}", (Channel.EMAIL, f"p{index}@example.vn"))
    assert await sender(state, mailer, clock).run_once() == 5
    assert sorted(email.to_address for email in mailer.sent) == [f"p{index}@example.vn" for index in range(5)]
    assert {d["status"] for d in state.deliveries.values()} == {"sent"}
    assert await sender(state, mailer, clock).run_once() == 0  # nothing sent twice
    assert len(mailer.sent) == 5


async def test_a_bounce_is_recorded_with_the_outcome_and_stops_later_email() -> None:
    state, clock = FakeNotifyState(), Clock()
    mailer = Mailer(refuse=frozenset({"Gone@Example.vn"}))
    await plan(state, "n1", (Channel.EMAIL, "Gone@Example.vn"))
    await sender(state, mailer, clock).run_once()
    assert "No such user" in state.bounces["gone@example.vn"]
    assert state.deliveries["n1:email:Gone@Example.vn"]["status"] == "failed"

    await plan(state, "n2", (Channel.EMAIL, "gone@example.vn"))
    await sender(state, Mailer(), clock).run_once()
    assert state.deliveries["n2:email:gone@example.vn"]["last_error"] == "the address bounced earlier"


async def test_temporary_refusals_are_retried_later_then_fail() -> None:
    state, clock = FakeNotifyState(), Clock()
    mailer = Mailer(busy=frozenset({"busy@example.vn"}))
    await plan(state, "n1", (Channel.EMAIL, "busy@example.vn"))
    work = sender(state, mailer, clock)
    await work.run_once()
    delivery = state.deliveries["n1:email:busy@example.vn"]
    assert (delivery["status"], delivery["attempts"]) == ("pending", 1)
    assert delivery["not_before"] > NOW
    assert await work.run_once() == 0  # not due yet
    clock.now = delivery["not_before"]
    await work.run_once()
    delivery = state.deliveries["n1:email:busy@example.vn"]
    assert (delivery["status"], delivery["attempts"]) == ("failed", 2)
    assert mailer.sent == []


async def test_a_gone_push_subscription_is_marked_expired_and_skipped_after() -> None:
    state, clock, pusher = FakeNotifyState(), Clock(), Pusher()
    for identifier, endpoint in (("d1", "https://push.example/gone/1"), ("d2", "https://push.example/push/2")):
        state.subscriptions[identifier] = Subscription(identifier, "ana", endpoint, "k", "a", "phone", NOW)
    await plan(state, "n1", (Channel.PUSH, "d1"), (Channel.PUSH, "d2"))
    await sender(state, Mailer(), clock, pusher).run_once()
    assert state.subscriptions["d1"].expired_at == NOW
    assert state.subscriptions["d2"].expired_at is None
    assert [target.endpoint for target, _ in pusher.sent] == ["https://push.example/push/2"]
    assert pusher.sent[0][1]["title"] == "Sách đã sẵn sàng"

    await plan(state, "n2", (Channel.PUSH, "d1"))
    await sender(state, Mailer(), clock, pusher).run_once()
    assert state.deliveries["n2:push:d1"]["status"] == "failed"
    assert len(pusher.sent) == 1


async def test_a_lapsed_claim_is_taken_over() -> None:
    state, clock, mailer = FakeNotifyState(), Clock(), Mailer()
    await plan(state, "n1", (Channel.EMAIL, "an@example.vn"))
    claimed = await FakeDeliveries(state).claim_due(NOW, limit=10, lease=timedelta(minutes=2))  # a sender that died
    assert len(claimed) == 1
    assert await sender(state, mailer, clock).run_once() == 0
    clock.now = NOW + timedelta(minutes=3)
    assert await sender(state, mailer, clock).run_once() == 1
    assert [email.to_address for email in mailer.sent] == ["an@example.vn"]


class HeldMailer(Mailer):
    """Accepts every address once ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def send(self, email: OutgoingEmail) -> None:
        await self.release.wait()
        await super().send(email)


async def until(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.001)


async def test_the_next_batch_is_claimed_while_one_is_sent_and_stopping_records_what_was_sent() -> None:
    state, clock, mailer = FakeNotifyState(), Clock(), HeldMailer()
    for index in range(5):
        await plan(state, f"n{index}", (Channel.EMAIL, f"p{index}@example.vn"))
    work = DeliverySender(
        lambda: FakeNotifyUnitOfWork(state), FakeDeliveries(state), mailer=mailer, pusher=None, clock=clock,
        batch_size=2, batches_in_flight=2, poll_seconds=0.01, gather_seconds=0.0,
    )  # fmt: skip
    stop = asyncio.Event()
    running = asyncio.create_task(work.run(stop))

    def statuses() -> list[str]:
        return sorted(d["status"] for d in state.deliveries.values())

    await until(lambda: statuses() == ["pending"] + ["sending"] * 4)  # two batches out, none sent yet
    await asyncio.sleep(0.05)
    assert statuses() == ["pending"] + ["sending"] * 4  # and no third before one of them is recorded
    mailer.release.set()
    await until(lambda: statuses() == ["sent"] * 5)
    stop.set()
    await running
    assert sorted(email.to_address for email in mailer.sent) == [f"p{index}@example.vn" for index in range(5)]

    mailer.release.clear()  # stopped while a batch is being sent: it is finished and recorded
    await plan(state, "n5", (Channel.EMAIL, "p5@example.vn"))
    stop = asyncio.Event()
    running = asyncio.create_task(work.run(stop))
    await until(lambda: state.deliveries["n5:email:p5@example.vn"]["status"] == "sending")
    stop.set()
    mailer.release.set()
    await running
    assert state.deliveries["n5:email:p5@example.vn"]["status"] == "sent"
    assert len(mailer.sent) == 6
