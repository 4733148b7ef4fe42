"""The repository contract on the in-memory fakes (the handler tests rely on them)."""

from __future__ import annotations

import pytest

from notify.domain.inbox import InboxMessage
from tests.unit.notify.fakes import FakeNotifyState, FakeNotifyUnitOfWork, FakeReminders, FakeSubscriptions
from tests.unit.notify.repository_contract import Repositories, RepositoryContract


@pytest.fixture
def repositories() -> Repositories:
    state = FakeNotifyState()

    async def inbox_of(patron_id: str) -> list[InboxMessage]:
        mine = [m for m in state.inbox.values() if m.patron_id == patron_id]
        return sorted(mine, key=lambda m: (m.created_at, m.id), reverse=True)

    return Repositories(lambda: FakeNotifyUnitOfWork(state), FakeReminders(state), FakeSubscriptions(), inbox_of)


class TestFakeRepositories(RepositoryContract):
    pass
