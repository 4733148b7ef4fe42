"""DRM's repository contract against the in-memory fakes (the same suite runs against MongoDB)."""

from __future__ import annotations

import pytest

from tests.contracts.drm_repositories import DrmRepositoryContract
from tests.unit.drm.fakes import FakeDrmUnitOfWork, FakeState


class TestFakeDrmRepositories(DrmRepositoryContract):
    @pytest.fixture
    def repositories(self) -> FakeDrmUnitOfWork:
        return FakeDrmUnitOfWork(FakeState())
