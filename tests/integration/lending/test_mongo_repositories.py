"""The repository contract on MongoDB (the real local server, a database per test)."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from lending.adapters.repositories import mongo_units_of_work
from lending.adapters.store import LendingStore
from lending.domain.loans import LendableTitle
from lending.domain.patrons import Patron
from lending.domain.policy import LendingPolicy
from sachso.kit.outbox import Outbox
from tests.unit.lending.repository_contract import DAKLAK, Repositories, RepositoryContract


@pytest.fixture
async def repositories(
    mongo: AsyncMongoClient[dict[str, Any]], database: AsyncDatabase[dict[str, Any]]
) -> Repositories:
    store = LendingStore(database)
    await store.ensure_indexes()
    await store.add_library(DAKLAK, "DL", LendingPolicy())
    outbox = Outbox(mongo, database, source="/sachso/lending")
    await outbox.ensure_indexes()

    async def add_patron(patron: Patron) -> None:
        await store.patrons.insert_one(
            {
                "_id": patron.id,
                "library_id": patron.library_id,
                "display_name": patron.display_name,
                "email": patron.email,
                "preferred_language": patron.preferred_language,
                "status": patron.status.value,
            }
        )

    async def add_title(title: LendableTitle) -> None:
        await store.titles.insert_one(
            {"_id": title.id, "publication_id": title.publication_id, "readable": title.readable}
        )

    async def published() -> int:
        return await outbox.collection.count_documents({})

    return Repositories(mongo_units_of_work(store, outbox), add_patron, add_title, published)


class TestMongoRepositories(RepositoryContract):
    pass
