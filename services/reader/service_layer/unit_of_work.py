"""The reader's unit of work: the repositories its use cases need, and the events they emit, committed together."""

from __future__ import annotations

from collections.abc import Callable

from reader.service_layer.repositories import (
    AnnotationRepository,
    PositionRepository,
    PublicationRepository,
    RevocationRepository,
)
from sachso.kit.unit_of_work import UnitOfWork


class ReaderUnitOfWork(UnitOfWork):
    """``async with uow:`` (or ``await uow.run(work)``) exposes these repositories, bound to one transaction."""

    publications: PublicationRepository
    positions: PositionRepository
    annotations: AnnotationRepository
    revocations: RevocationRepository


# A fresh unit of work per use case.
UnitOfWorkFactory = Callable[[], ReaderUnitOfWork]
