"""The repository contract on the in-memory fakes (the service-layer tests rely on them)."""

from __future__ import annotations

import pytest

from tests.unit.reader.fakes import FakePublications, FakeRevocationReads, ReaderState, fake_units_of_work
from tests.unit.reader.repository_contract import Repositories, RepositoryContract


@pytest.fixture
def repositories() -> Repositories:
    state = ReaderState()

    async def published() -> int:
        return len(state.published)

    return Repositories(fake_units_of_work(state), FakePublications(state), FakeRevocationReads(state), published)


class TestFakeRepositories(RepositoryContract):
    pass
