"""The unit of work: a use case's reads and writes and the events they cause commit together, or not at all.

In the style of *Architecture Patterns with Python* (``AbstractUnitOfWork``), made async. A service derives its
own abstract unit of work that names the repositories its use cases need (``uow.loans``, ``uow.holds``) and
gives it two implementations: the MongoDB one (:class:`sachso.kit.mongo_unit_of_work.MongoUnitOfWork`, which
stores the emitted events in the transactional outbox) and an in-memory fake for the service-layer tests.

Two ways to use one::

    async with uow:                      # begin
        loan = await uow.loans.get(loan_id)
        uow.emit(event)                  # published only if the work commits
        await uow.commit()               # leaving the block without commit rolls back

    loan = await uow.run(work)           # work(uow) in a transaction, committed; re-run on transient conflicts

Use cases should prefer :meth:`UnitOfWork.run`: a database may ask for a whole transaction to be re-run (two
checkouts racing on one licence), so ``work`` must do nothing but read and write through the unit of work.

Pure (no client, no framework): a service layer may import it.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self, TypeVar

from sachso.kit.events import OutboundEvent

T = TypeVar("T")


class UnitOfWork(abc.ABC):
    """One transaction over a service's repositories, with the events it emits. Not reusable concurrently: take a
    fresh one per use case (services hand out a factory)."""

    def __init__(self) -> None:
        self._events: list[OutboundEvent] = []
        self._open = False

    def emit(self, event: OutboundEvent) -> None:
        """Publish ``event`` if, and only if, this unit of work commits."""
        if not self._open:
            raise RuntimeError("emit outside a unit of work")
        self._events.append(event)

    @property
    def pending_events(self) -> tuple[OutboundEvent, ...]:
        """What this unit of work has emitted so far (committed with it)."""
        return tuple(self._events)

    async def __aenter__(self) -> Self:
        self._events = []
        await self._begin()
        self._open = True
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._open:  # not committed: nothing of it happened
            await self.rollback()

    async def commit(self) -> None:
        """Make the writes and the emitted events durable together."""
        events, self._events = list(self._events), []
        self._open = False
        await self._commit(events)

    async def rollback(self) -> None:
        """Forget the writes and the emitted events."""
        self._events = []
        self._open = False
        await self._rollback()

    async def run(self, work: Callable[[Self], Awaitable[T]]) -> T:
        """Run ``work(self)`` in this unit of work and commit; an exception rolls it back and propagates."""
        async with self:
            result = await work(self)
            await self.commit()
            return result

    @abc.abstractmethod
    async def _begin(self) -> None:
        """Start the transaction and bind the repositories to it."""

    @abc.abstractmethod
    async def _commit(self, events: list[OutboundEvent]) -> None:
        """Commit the writes with ``events``."""

    @abc.abstractmethod
    async def _rollback(self) -> None:
        """Undo the writes (nothing may remain of them)."""
