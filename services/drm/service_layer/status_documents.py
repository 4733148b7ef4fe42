"""License Status Document use cases: what a reading app sees and asks (register, return, renew).

A return ends the licence here and tells lending (``LicenseReturned``), whose consumer returns the loan; a renewal
asks lending first, which applies its own rules (holds, renewal limits), and extends the licence as far as the loan.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from drm.domain import licences as rules
from drm.domain.documents import Links, status_document
from drm.domain.licences import Licence
from drm.domain.status import Status
from drm.errors import LicenceNotFound, StatusRequestRefused
from drm.service_layer import events
from drm.service_layer.licences import Clock, ensure_not_blocked, utc_now
from drm.service_layer.unit_of_work import DrmUnitOfWork, UnitOfWorkFactory
from sachso.kit.errors import Conflict, PreconditionFailed

RenewLoan = Callable[[str], Awaitable[datetime]]


async def _licence(uow: DrmUnitOfWork, licence_id: str) -> Licence:
    licence = await uow.licences.by_id(licence_id)
    if licence is None:
        raise LicenceNotFound(f"no licence {licence_id}")
    return licence


class StatusDocuments:
    def __init__(self, uow: UnitOfWorkFactory, links: Links, *, clock: Clock = utc_now) -> None:
        self.uow = uow
        self.links = links
        self.clock = clock

    async def document(self, licence_id: str, language: str) -> dict[str, Any]:
        async def work(uow: DrmUnitOfWork) -> Licence:
            return await _licence(uow, licence_id)

        return status_document(await self.uow().run(work), self.links, language)

    async def register(self, licence_id: str, device_id: str, device_name: str) -> None:
        """A device says it holds the licence: ready → active; the same device again changes nothing."""
        rules.check_device_named(device_id, device_name)  # before looking the licence up, as the LSD does

        async def work(uow: DrmUnitOfWork) -> None:
            licence = await _licence(uow, licence_id)
            now = self.clock()
            event = rules.registration(licence, device_id, device_name, now)
            if event is None:
                return
            await uow.licences.add_device(licence_id, device_id)
            await uow.licences.change_status(licence_id, Status.ACTIVE, now, event)
            uow.emit(events.status_changed(licence, Status.ACTIVE, now, device_id))

        await self.uow().run(work)

    async def give_back(self, licence_id: str, device_id: str, device_name: str) -> None:
        """The reading app gives the book back: the licence ends here, lending hears of it and returns the loan."""

        async def work(uow: DrmUnitOfWork) -> None:
            licence = await _licence(uow, licence_id)
            now = self.clock()
            outcome = rules.giving_back(licence, device_id, device_name, now)
            if outcome is None:
                return
            ended, event = outcome
            await uow.licences.change_status(licence_id, ended, now, event)
            uow.emit(events.status_changed(licence, ended, now, event.id))
            uow.emit(events.licence_returned(licence, event.id, now))

        await self.uow().run(work)

    async def renew(self, licence_id: str, device_id: str, device_name: str, renew_loan: RenewLoan) -> None:
        """Extend the licence as far as lending renews the loan (lending decides: holds, renewal limits)."""

        async def check(uow: DrmUnitOfWork) -> Licence:
            licence = await _licence(uow, licence_id)
            rules.check_renewable(licence)
            await ensure_not_blocked(uow, licence.patron_id or "")
            return licence

        licence = await self.uow().run(check)
        try:
            new_end = await renew_loan(licence.loan_id)
        except (Conflict, PreconditionFailed) as refused:
            raise StatusRequestRefused("renew", refused.detail) from None

        async def work(uow: DrmUnitOfWork) -> None:
            await uow.licences.renewed(licence_id, new_end, rules.renewal_event(device_id, device_name, self.clock()))

        await self.uow().run(work)
