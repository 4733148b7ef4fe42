"""The reader's repository contract on MongoDB (the real local server, a database per test)."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from reader.adapters.mongo_repositories import MongoPublicationReads, MongoRevocationReads, ensure_indexes
from reader.adapters.mongo_unit_of_work import mongo_units_of_work
from sachso.kit.outbox import Outbox
from tests.unit.reader.repository_contract import Repositories, RepositoryContract


@pytest.fixture
async def repositories(
    mongo: AsyncMongoClient[dict[str, Any]], database: AsyncDatabase[dict[str, Any]]
) -> Repositories:
    await ensure_indexes(database)
    outbox = Outbox(mongo, database, source="/sachso/reader")
    await outbox.ensure_indexes()

    async def published() -> int:
        return await outbox.collection.count_documents({})

    return Repositories(
        mongo_units_of_work(database, outbox),
        MongoPublicationReads(database),
        MongoRevocationReads(database),
        published,
    )


class TestMongoRepositories(RepositoryContract):
    pass
