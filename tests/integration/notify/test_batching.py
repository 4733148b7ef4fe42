"""Notify's consumer in batches, against the real database: a burst of hold-ready events costs a few database
commands per batch, not several per event, and each event still has exactly one effect per channel.

The commands are counted with PyMongo's command monitoring (``sachso_db_commands`` below): a count, not a time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from notify.adapters.deliveries import MongoDeliveries
from notify.adapters.inbox_repository import MongoInbox
from notify.adapters.mongo_unit_of_work import ConsumerTransactions, NotifyStores
from notify.adapters.projections import MongoProjections
from notify.adapters.reminders import MongoReminders
from notify.adapters.subscriptions import MongoSubscriptions
from notify.adapters.templates import TemplateRenderer
from notify.entrypoints.consumers import notify_consumers
from notify.service_layer.handlers import NotifyHandlers
from notify.service_layer.notifier import Notifier
from sachso.events.v1 import lending_events_pb2 as lending
from sachso.kit import events as ce
from sachso.kit.consumer import IdempotentConsumer
from sachso.kit.events import KafkaRecord
from sachso.kit.outbox import Outbox

pytestmark = pytest.mark.integration
Document = dict[str, Any]
EVENTS = 100
NOW = datetime.now(UTC)


class Commands(monitoring.CommandListener):
    """Counts the commands sent to the database (one per round trip)."""

    def __init__(self) -> None:
        self.count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.count += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None: ...

    def failed(self, event: monitoring.CommandFailedEvent) -> None: ...


@pytest.fixture
async def counted(
    stack_env: dict[str, str], namespace: str
) -> AsyncIterator[tuple[AsyncMongoClient[Document], AsyncDatabase[Document], Commands]]:
    commands = Commands()
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        stack_env["SACHSO_MONGO_URI"], retryWrites=False, tz_aware=True, event_listeners=[commands]
    )
    yield client, client[namespace], commands
    await client.drop_database(namespace)
    await client.close()


class NoDeadLetters:
    async def send_and_wait(self, topic: str, value: bytes | None, key: bytes | None, headers: Any) -> None:
        raise AssertionError(f"nothing should be dead-lettered ({topic})")


def hold_ready(number: int, batch: str) -> KafkaRecord:
    payload = lending.HoldReady(hold_id=f"h{batch}{number}", patron_id=f"p{batch}{number}", title_id=f"t{number % 10}")
    payload.ready_until.FromDatetime(datetime.now(UTC) + timedelta(hours=72))
    message = ce.encode(
        event_id=f"e{batch}{number}", event_type=str(payload.DESCRIPTOR.full_name), source="/sachso/lending",
        key=payload.title_id, data=payload.SerializeToString(), time=datetime.now(UTC),
    )  # fmt: skip
    return KafkaRecord("lending", 0, number, payload.title_id.encode(), message.value, tuple(message.headers.items()))


async def commands_per_event(
    client: AsyncMongoClient[Document],
    database: AsyncDatabase[Document],
    commands: Commands,
    batch_size: int,
    *,
    push: bool = False,
) -> float:
    batch = f"b{batch_size}{'p' if push else ''}-"
    stores = NotifyStores(
        MongoProjections(database), MongoReminders(database), MongoInbox(database), MongoDeliveries(database),
        MongoSubscriptions(database),
    )  # fmt: skip
    await database["patrons"].insert_many(
        [{"_id": f"p{batch}{i}", "display_name": f"Bạn đọc {i}", "email": f"p{i}@x.vn", "language": "vi"}
         for i in range(EVENTS)]
    )  # fmt: skip
    if push:  # one patron in the batch has a browser subscribed (to Web Push; the others have none)
        await stores.subscriptions.save(
            f"p{batch}7", endpoint=f"https://push.example.vn/{batch}", p256dh="k", auth="a", device_name="", at=NOW
        )
    transactions = ConsumerTransactions(Outbox(client, database, source="/sachso/notify"), stores, push_enabled=push)
    notifier = Notifier(renderer=TemplateRenderer(web_url="https://sachso.vn"), push_enabled=push)
    registry = notify_consumers(
        NotifyHandlers(notifier), transactions.unit_of_work, batch_size=batch_size, scope=transactions
    )
    consumer = IdempotentConsumer(registry, client=client, database=database, dead_letters=NoDeadLetters())
    records = [hold_ready(number, batch) for number in range(EVENTS)]
    before = commands.count
    outcomes = await consumer.handle_batch(records)
    spent = commands.count - before
    assert outcomes == ["handled"] * EVENTS
    assert await consumer.handle_batch(records[:10]) == ["duplicate"] * 10  # redelivered: no second effect
    for collection in ("inbox", "reminders"):
        assert await database[collection].count_documents({"patron_id": {"$regex": f"^p{batch}"}}) == EVENTS
    emails = await database["deliveries"].count_documents({"patron_id": {"$regex": f"^p{batch}"}, "channel": "email"})
    pushes = await database["deliveries"].find({"patron_id": {"$regex": f"^p{batch}"}, "channel": "push"}).to_list()
    assert emails == EVENTS
    assert [delivery["patron_id"] for delivery in pushes] == ([f"p{batch}7"] if push else [])
    return spent / EVENTS


async def test_a_burst_of_hold_ready_events_costs_a_few_commands_per_batch(
    counted: tuple[AsyncMongoClient[Document], AsyncDatabase[Document], Commands],
) -> None:
    client, database, commands = counted
    await database["titles"].insert_many([{"_id": f"t{i}", "title": f"Sách {i}", "authors": []} for i in range(10)])
    one_by_one = await commands_per_event(client, database, commands, batch_size=1)
    batched = await commands_per_event(client, database, commands, batch_size=EVENTS)
    print(f"database commands per hold-ready event: one by one {one_by_one:.2f}, in batches of {EVENTS} {batched:.2f}")
    assert one_by_one >= 6  # marker check, transaction, marker, patron, inbox, delivery, reminder, commit
    assert batched <= 0.1  # some ten commands for the whole batch


async def test_with_web_push_on_the_batch_reads_push_devices_once_not_per_event(
    counted: tuple[AsyncMongoClient[Document], AsyncDatabase[Document], Commands],
) -> None:
    client, database, commands = counted
    await database["titles"].insert_many([{"_id": f"t{i}", "title": f"Sách {i}", "authors": []} for i in range(10)])
    one_by_one = await commands_per_event(client, database, commands, batch_size=1, push=True)
    batched = await commands_per_event(client, database, commands, batch_size=EVENTS, push=True)
    print(f"with Web Push on: one by one {one_by_one:.2f}, in batches of {EVENTS} {batched:.2f}")
    assert one_by_one >= 7  # as above, and her push devices
    assert batched <= 0.1  # the batch's push devices with one more query
