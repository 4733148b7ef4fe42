"""DRM's unit of work: the repositories its use cases need, and the events they emit, committed together."""

from __future__ import annotations

from collections.abc import Callable

from drm.service_layer.repositories import (
    BlockedPatronRepository,
    LicenceRepository,
    LocalDocumentRepository,
    PassphraseRepository,
    PublicationRepository,
)
from sachso.kit.unit_of_work import UnitOfWork


class DrmUnitOfWork(UnitOfWork):
    """``async with uow:`` (or ``await uow.run(work)``) exposes these repositories, bound to one transaction."""

    licences: LicenceRepository
    passphrases: PassphraseRepository
    publications: PublicationRepository
    blocked_patrons: BlockedPatronRepository
    local_documents: LocalDocumentRepository


# A fresh unit of work per use case.
UnitOfWorkFactory = Callable[[], DrmUnitOfWork]
