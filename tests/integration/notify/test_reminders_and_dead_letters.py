"""Scheduled reminders survive a restart; malformed events go to notify's dead-letter topic and never stop it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from sachso.events.v1 import lending_events_pb2 as lending
from sachso.kit import events as ce
from sachso.kit.consumer import DLQ_ERROR
from sachso.kit.topics import LENDING_EVENTS, dead_letter_topic
from tests.integration.kafka_helpers import read_topic, wait_until
from tests.integration.notify.conftest import NotifyFactory

pytestmark = pytest.mark.integration


def stamp(moment: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(moment)
    return value


async def test_a_loan_due_reminder_fires_after_a_restart(notify_factory: NotifyFactory) -> None:
    namespace = f"n{uuid.uuid4().hex[:10]}"
    patron_id, loan_id, title_id = (f"{kind}-{uuid.uuid4().hex[:6]}" for kind in ("patron", "loan", "title"))
    email = f"{patron_id}@example.vn"
    lead = timedelta(seconds=6)
    hours = lead.total_seconds() / 3600
    async with notify_factory(namespace, loan_due_reminder_hours=hours) as first:
        await first.publish(
            lending.PatronApproved(patron_id=patron_id, display_name="Bùi Thị Xuân", email=email, card_number="X"),
            key=patron_id,
        )
        await first.wait_for_inbox(patron_id, 1)
        await first.publish(lending.TitleAdded(title_id=title_id, title="Vợ chồng A Phủ"), key=title_id)
        now = datetime.now(UTC)
        due_at = now + 2 * lead  # the reminder fires `lead` before: in ~6 s, after this process has gone
        await first.publish(
            lending.LoanCreated(
                loan_id=loan_id, patron_id=patron_id, title_id=title_id, starts_at=stamp(now), due_at=stamp(due_at)
            ),
            key=title_id,
        )

        async def scheduled() -> bool:
            reminder = await first.database["reminders"].find_one({"subject_id": loan_id})
            return reminder is not None and reminder["status"] == "scheduled"

        await wait_until(scheduled, within=10)
    # the first process is gone; a new one on the same database fires the reminder at its time
    async with notify_factory(namespace, loan_due_reminder_hours=hours) as second:
        messages = await second.wait_for_inbox(patron_id, 2, within=20)
        due = next(message for message in messages if message["kind"] == "loan-due-soon")
        assert due["title"] == "Sắp đến hạn trả: Vợ chồng A Phủ"
        assert datetime.now(UTC) >= due_at - lead - timedelta(seconds=1)
        mails = await second.wait_for_mail(email, 2)
        assert "Sắp đến hạn trả: Vợ chồng A Phủ" in [str(mail["Subject"]) for mail in mails]
        reminder = await second.database["reminders"].find_one({"subject_id": loan_id})
        assert reminder is not None
        assert reminder["status"] == "fired"


async def test_malformed_events_are_dead_lettered_and_the_consumer_goes_on(notify_factory: NotifyFactory) -> None:
    async with notify_factory() as notify:
        topic = notify.topic(LENDING_EVENTS.name)
        # claims to be a HoldReady, but the payload is not one
        broken = ce.encode(
            event_id="evt-broken",
            event_type="sachso.events.v1.HoldReady",
            source="/sachso/lending",
            key="title-x",
            data=b"\xff\xff\xff not protobuf",
            time=datetime.now(UTC),
        )
        await notify.producer.send_and_wait(
            topic, value=broken.value, key=b"title-x", headers=list(broken.headers.items())
        )
        # no CloudEvents attributes at all, but a type notify handles
        await notify.producer.send_and_wait(
            topic, value=b"{}", key=b"title-x", headers=[("ce_type", b"sachso.events.v1.HoldExpired")]
        )
        patron_id = f"patron-{uuid.uuid4().hex[:6]}"
        await notify.publish(lending.HoldExpired(hold_id="h", patron_id=patron_id, title_id="title-x"), key="title-x")
        await notify.wait_for_inbox(patron_id, 1)  # the event after the bad ones was handled

        dlq = f"{notify.settings.kafka_topic_prefix}{dead_letter_topic('notify').name}"
        letters = await read_topic(notify.settings.kafka_bootstrap_servers, dlq, expected=2, within=20)
        assert len(letters) == 2
        errors = [dict(letter.headers)[DLQ_ERROR].decode() for letter in letters]
        assert "not a valid sachso.events.v1.HoldReady" in errors[0]
        assert "CloudEvents" in errors[1]
        assert letters[0].value == broken.value  # kept as it was, for a replay once fixed
        assert await notify.database["handled_events"].count_documents({"_id": "notify:evt-broken"}) == 0
