"""DRM's repository contract against MongoDB (the same suite runs against the in-memory fakes)."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from drm.adapters.mongo_repositories import MongoLicences, MongoRepositories
from tests.contracts.drm_repositories import DrmRepositoryContract

pytestmark = pytest.mark.integration


class TestMongoDrmRepositories(DrmRepositoryContract):
    @pytest.fixture
    async def repositories(self, database: AsyncDatabase[dict[str, Any]]) -> MongoRepositories:
        await MongoLicences(database["licences"]).ensure_indexes()
        return MongoRepositories(database)
