"""One outbox transaction per use case, handing the use case a repository bound to the transaction's session: the
shape of the unit of work the service layer will have everywhere (issue 13)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession

from sachso.kit.outbox import Emit, Outbox

R = TypeVar("R")
T = TypeVar("T")


class RepositoryTransactions(Generic[R]):
    def __init__(
        self,
        outbox: Outbox,
        repository: Callable[[AsyncClientSession, Emit], R],
        after: Callable[[], None] | None = None,
    ) -> None:
        self.outbox = outbox
        self.repository = repository
        self.after = after

    async def run(self, work: Callable[[R], Awaitable[T]]) -> T:
        async def attempt(session: AsyncClientSession, emit: Emit) -> T:
            return await work(self.repository(session, emit))

        try:
            return await self.outbox.transaction(attempt)
        finally:
            if self.after is not None:
                self.after()
