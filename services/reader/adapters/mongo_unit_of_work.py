"""The reader's unit of work on MongoDB: its repositories bound to the transaction, events into the outbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from reader.adapters.mongo_repositories import MongoAnnotations, MongoPositions, MongoPublications, MongoRevocations
from reader.service_layer.unit_of_work import ReaderUnitOfWork, UnitOfWorkFactory
from sachso.kit.mongo_unit_of_work import MongoDatabaseUnitOfWork
from sachso.kit.outbox import Outbox

Document = dict[str, Any]


class MongoReaderUnitOfWork(MongoDatabaseUnitOfWork, ReaderUnitOfWork):
    def _bind(self, session: AsyncClientSession) -> None:
        self.publications = MongoPublications(self.database, session)
        self.positions = MongoPositions(self.database, session)
        self.annotations = MongoAnnotations(self.database, session)
        self.revocations = MongoRevocations(self.database, session)


def mongo_units_of_work(database: AsyncDatabase[Document], outbox: Outbox) -> UnitOfWorkFactory:
    """A fresh MongoDB unit of work per use case."""
    return lambda: MongoReaderUnitOfWork(database, outbox)


def joined_units_of_work(
    database: AsyncDatabase[Document], outbox: Outbox
) -> Callable[[AsyncClientSession], ReaderUnitOfWork]:
    """A unit of work joining a consumer's transaction (its writes commit with the handled-event record)."""
    return lambda session: MongoReaderUnitOfWork(database, outbox, session=session)
