"""DRM's unit of work on MongoDB: its repositories bound to the transaction, events into the outbox."""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from drm.adapters.mongo_repositories import MongoRepositories
from drm.service_layer.unit_of_work import DrmUnitOfWork
from sachso.kit.mongo_unit_of_work import MongoDatabaseUnitOfWork

Document = dict[str, Any]


class MongoDrmUnitOfWork(MongoDatabaseUnitOfWork, DrmUnitOfWork):
    def _bind(self, session: AsyncClientSession) -> None:
        repositories = MongoRepositories(self.database, session)
        self.licences = repositories.licences
        self.passphrases = repositories.passphrases
        self.publications = repositories.publications
        self.blocked_patrons = repositories.blocked_patrons
        self.local_documents = repositories.local_documents
