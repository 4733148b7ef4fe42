"""Reading state that follows a patron across devices: the position (a Readium Locator), bookmarks, highlights.

Positions: the latest write wins, judged by the time the device says it read there (``modified``), so an old
device coming back online cannot drag the reader back; every write records the device. ``changes_since`` lets a
device catch up on what other devices did. The rules are in :mod:`reader.domain.reading`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from reader.domain.reading import Annotation, Position, credible_modified
from reader.service_layer.unit_of_work import ReaderUnitOfWork, UnitOfWorkFactory
from sachso.kit.errors import NotFound

__all__ = ["Annotation", "Position", "Reading"]


def _now() -> datetime:
    return datetime.now(UTC)


class Reading:
    def __init__(self, uow: UnitOfWorkFactory, clock: Callable[[], datetime] = _now) -> None:
        self.uow = uow
        self.clock = clock

    async def save_position(
        self, patron_id: str, publication_id: str, locator: dict[str, Any], device_id: str, device_name: str,
        modified: datetime,
    ) -> Position:  # fmt: skip
        """Keep this position unless a later one (by the device's clock) is already stored."""
        now = self.clock()
        position = Position(publication_id, locator, device_id, device_name, credible_modified(modified, now))
        return await self.uow().run(lambda uow: uow.positions.keep_if_later(patron_id, position, now))

    async def position(self, patron_id: str, publication_id: str) -> Position:
        found = await self.uow().run(lambda uow: uow.positions.get(patron_id, publication_id))
        if found is None:
            raise NotFound("no reading position saved for this publication")
        return found

    async def changes_since(self, patron_id: str, since: datetime) -> list[Position]:
        return await self.uow().run(lambda uow: uow.positions.received_since(patron_id, since))

    async def add_annotation(
        self, patron_id: str, publication_id: str, kind: str, locator: dict[str, Any], note: str, color: str
    ) -> Annotation:
        annotation = Annotation(uuid.uuid4().hex, patron_id, publication_id, kind, locator, note, color, self.clock())
        await self.uow().run(lambda uow: uow.annotations.add(annotation))
        return annotation

    async def annotations_of(self, patron_id: str, publication_id: str) -> list[Annotation]:
        return await self.uow().run(lambda uow: uow.annotations.of(patron_id, publication_id))

    async def delete_annotation(self, patron_id: str, annotation_id: str) -> None:
        async def work(uow: ReaderUnitOfWork) -> bool:
            return await uow.annotations.delete(patron_id, annotation_id)

        if not await self.uow().run(work):
            raise NotFound(f"you have no annotation {annotation_id}")
