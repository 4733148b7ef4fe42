"""What a refusing mail server does to deliveries: a bounce stops email to that address, temporary refusals are
retried with backoff until they pass or the attempts run out. The server is a real SMTP server (aiosmtpd) on
127.0.0.1 whose answers depend on the recipient."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from google.protobuf.timestamp_pb2 import Timestamp
from stack import free_port

from sachso.events.v1 import lending_events_pb2 as lending
from tests.integration.kafka_helpers import wait_until
from tests.integration.notify.conftest import Notify, NotifyFactory

pytestmark = pytest.mark.integration


class PickyServer:
    """Refuses ``bounce-*`` for good (550), ``busy-*`` always for now (451), ``flaky-*`` twice, then accepts."""

    def __init__(self) -> None:
        self.accepted: list[str] = []
        self.tries: dict[str, int] = {}

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        self.tries[address] = self.tries.get(address, 0) + 1
        if address.startswith("bounce-"):
            return "550 5.1.1 No such user here"
        if address.startswith("busy-") or (address.startswith("flaky-") and self.tries[address] <= 2):
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.accepted.extend(envelope.rcpt_tos)
        return "250 Message accepted for delivery"


@pytest.fixture(scope="module")
def picky() -> Iterator[tuple[PickyServer, int]]:
    handler = PickyServer()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture(scope="module")
async def notify(notify_factory: NotifyFactory, picky: tuple[PickyServer, int]) -> AsyncIterator[Notify]:
    async with notify_factory(
        smtp_host="127.0.0.1",
        smtp_port=picky[1],
        delivery_max_attempts=3,
        delivery_initial_backoff_seconds=0.2,
        delivery_max_backoff_seconds=1.0,
    ) as running:
        yield running


def stamp(moment: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(moment)
    return value


async def approve(notify: Notify, email: str) -> str:
    patron_id = f"patron-{uuid.uuid4().hex[:8]}"
    await notify.publish(
        lending.PatronApproved(
            patron_id=patron_id, card_number="DL-9", display_name="Đỗ Thị Thu", email=email, preferred_language="vi"
        ),
        key=patron_id,
    )
    await notify.wait_for_inbox(patron_id, 1)
    return patron_id


async def settled(notify: Notify, notice_id: str, status: str) -> dict[str, Any]:
    async def done() -> bool:
        return [d["status"] for d in await notify.deliveries(notice_id=notice_id)] == [status]

    await wait_until(done, within=20)
    (delivery,) = await notify.deliveries(notice_id=notice_id)
    return delivery


async def test_a_bounced_address_is_recorded_and_gets_no_more_email(
    notify: Notify, picky: tuple[PickyServer, int]
) -> None:
    email = f"bounce-{uuid.uuid4().hex[:6]}@example.vn"
    patron_id = await approve(notify, email)
    (approval,) = [d async for d in notify.database["deliveries"].find({"patron_id": patron_id})]
    failed = await settled(notify, approval["notice_id"], "failed")
    assert failed["attempts"] == 1  # a permanent refusal is not retried
    assert "550" in failed["last_error"]
    bounce = await notify.database["bounces"].find_one({"_id": email})
    assert bounce is not None
    assert "No such user" in bounce["reason"]

    expired = await notify.publish(lending.HoldExpired(hold_id="h1", patron_id=patron_id, title_id="t1"), key="t1")
    await notify.wait_for_inbox(patron_id, 2)  # the inbox still gets it; the address is not tried again
    refused = await settled(notify, expired, "failed")
    assert refused["last_error"] == "the address bounced earlier"
    assert picky[0].tries[email] == 1

    # she asks for a new verification code at that address: it is tried again (and bounces again)
    code = await notify.publish(
        lending.EmailVerificationRequested(
            patron_id=patron_id, email=email, code="123456", expires_at=stamp(datetime.now(UTC) + timedelta(minutes=30))
        ),
        key=patron_id,
    )
    await settled(notify, code, "failed")
    assert picky[0].tries[email] == 2
    assert email not in picky[0].accepted


async def test_temporary_refusals_are_retried_with_backoff(notify: Notify, picky: tuple[PickyServer, int]) -> None:
    email = f"flaky-{uuid.uuid4().hex[:6]}@example.vn"
    patron_id = await approve(notify, email)
    (approval,) = [d async for d in notify.database["deliveries"].find({"patron_id": patron_id})]
    sent = await settled(notify, approval["notice_id"], "sent")
    assert sent["attempts"] == 3
    assert "451" in sent["last_error"]  # the last failure stays on record
    assert picky[0].accepted.count(email) == 1
    assert picky[0].tries[email] == 3


async def test_after_the_last_attempt_a_delivery_fails(notify: Notify, picky: tuple[PickyServer, int]) -> None:
    email = f"busy-{uuid.uuid4().hex[:6]}@example.vn"
    patron_id = await approve(notify, email)
    (approval,) = [d async for d in notify.database["deliveries"].find({"patron_id": patron_id})]
    failed = await settled(notify, approval["notice_id"], "failed")
    assert failed["attempts"] == 3  # delivery_max_attempts
    assert picky[0].tries[email] == 3
    assert await notify.database["bounces"].find_one({"_id": email}) is None  # busy is not a bounce
