"""Notify's repository contract on MongoDB (the real local server, a database per test)."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from notify.adapters.deliveries import MongoDeliveries
from notify.adapters.inbox_repository import MongoInbox
from notify.adapters.mongo_unit_of_work import MongoNotifyUnitOfWork, NotifyStores
from notify.adapters.projections import MongoProjections
from notify.adapters.reminders import MongoReminders
from notify.adapters.subscriptions import MongoSubscriptions
from notify.domain.inbox import InboxMessage
from sachso.kit.outbox import Outbox
from tests.unit.notify.repository_contract import Repositories, RepositoryContract


@pytest.fixture
async def repositories(
    mongo: AsyncMongoClient[dict[str, Any]], database: AsyncDatabase[dict[str, Any]]
) -> Repositories:
    outbox = Outbox(mongo, database, source="/sachso/notify")
    await outbox.ensure_indexes()
    stores = NotifyStores(
        MongoProjections(database, title_cache_seconds=0),
        MongoReminders(database),
        MongoInbox(database),
        MongoDeliveries(database),
        MongoSubscriptions(database),
    )
    for store in (stores.projections, stores.reminders, stores.inbox, stores.deliveries, stores.subscriptions):
        await store.ensure_indexes()

    async def inbox_of(patron_id: str) -> list[InboxMessage]:
        return await stores.inbox.list_for(patron_id, limit=100)

    return Repositories(lambda: MongoNotifyUnitOfWork(outbox, stores), stores.reminders, stores.subscriptions, inbox_of)


class TestMongoRepositories(RepositoryContract):
    pass
