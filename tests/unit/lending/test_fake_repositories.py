"""The repository contract on the in-memory fakes (the service-layer tests rely on them)."""

from __future__ import annotations

import pytest

from lending.domain.loans import LendableTitle
from lending.domain.patrons import Patron
from tests.unit.lending.fakes import LendingState, fake_units_of_work
from tests.unit.lending.repository_contract import DAKLAK, Repositories, RepositoryContract


@pytest.fixture
def repositories() -> Repositories:
    state = LendingState(libraries=[DAKLAK])

    async def add_patron(patron: Patron) -> None:
        state.patrons[patron.id] = patron

    async def add_title(title: LendableTitle) -> None:
        state.titles[title.id] = title

    async def published() -> int:
        return len(state.published)

    return Repositories(fake_units_of_work(state), add_patron, add_title, published)


class TestFakeRepositories(RepositoryContract):
    pass
