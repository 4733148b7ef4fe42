"""The MongoDB unit of work: one client session and transaction, its events in the transactional outbox.

A service subclasses :class:`MongoUnitOfWork` and builds its repositories in :meth:`MongoUnitOfWork._bind`,
bound to the transaction's session; its service layer then sees only the repositories and ``emit`` — never a
session or a collection. :meth:`MongoUnitOfWork.run` is PyMongo's ``with_transaction``: a transient error (a
write conflict between two transactions, a failover) re-runs the work from the start, an unknown commit result
retries the commit.

A consumer handler already runs in the transaction that records the event as handled; a unit of work made with
``session=`` *joins* it: it writes through that session and adds its events to the outbox in it, and leaves
commit and retry to the transaction's owner.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Self, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from sachso.kit.events import OutboundEvent
from sachso.kit.outbox import Outbox
from sachso.kit.unit_of_work import UnitOfWork

T = TypeVar("T")


class MongoUnitOfWork(UnitOfWork):
    def __init__(self, outbox: Outbox, *, session: AsyncClientSession | None = None) -> None:
        super().__init__()
        self.outbox = outbox
        self._joined = session
        self._session: AsyncClientSession | None = None

    def _bind(self, session: AsyncClientSession) -> None:
        """Bind the service's repositories to ``session`` (override; called at the start of each attempt)."""

    async def _begin(self) -> None:
        if self._joined is not None:
            self._session = self._joined
        else:
            self._session = self.outbox.client.start_session()
            await self._session.start_transaction()
        self._bind(self._session)

    async def _commit(self, events: list[OutboundEvent]) -> None:
        session = self._session
        assert session is not None, "commit outside a unit of work"
        await self.outbox.add(events, session)
        if self._joined is None:
            try:
                await session.commit_transaction()
            finally:
                await self._end()

    async def _rollback(self) -> None:
        if self._joined is None and self._session is not None:
            try:
                if self._session.in_transaction:
                    await self._session.abort_transaction()
            finally:
                await self._end()

    async def _end(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.end_session()

    async def run(self, work: Callable[[Self], Awaitable[T]]) -> T:
        """``work(self)`` in a transaction with its events, committed; re-run whole on transient errors."""
        if self._joined is not None:
            return await super().run(work)  # the owner of the transaction commits and retries
        async with self.outbox.client.start_session() as session:

            async def attempt(session: AsyncClientSession) -> T:
                self._events = []
                self._session = session
                self._open = True
                self._bind(session)
                try:
                    result = await work(self)
                    await self.outbox.add(self._events, session)
                    return result
                finally:
                    self._open = False
                    self._events = []
                    self._session = None

            return await session.with_transaction(attempt)


class MongoDatabaseUnitOfWork(MongoUnitOfWork):
    """A unit of work whose repositories live in one database (``self.database``), bound in ``_bind``."""

    def __init__(
        self, database: AsyncDatabase[dict[str, Any]], outbox: Outbox, *, session: AsyncClientSession | None = None
    ) -> None:
        super().__init__(outbox, session=session)
        self.database = database
