"""In-memory transactions for the services' fake units of work: the state is snapshotted when a unit of work
begins, restored when it rolls back, and its events are published when it commits."""

from __future__ import annotations

from typing import Any, Protocol

from sachso.kit.events import OutboundEvent


class SnapshottedState(Protocol):
    published: list[OutboundEvent]

    def snapshot(self) -> dict[str, Any]: ...

    def restore(self, snapshot: dict[str, Any]) -> None: ...


class SnapshotTransactions:
    """Mixed in before a service's unit-of-work class, whose hooks it implements over ``self.state``."""

    state: SnapshottedState
    _snapshot: dict[str, Any] | None = None

    async def _begin(self) -> None:
        self._snapshot = self.state.snapshot()

    async def _commit(self, events: list[OutboundEvent]) -> None:
        self.state.published.extend(events)
        self._snapshot = None

    async def _rollback(self) -> None:
        if self._snapshot is not None:
            self.state.restore(self._snapshot)
            self._snapshot = None
