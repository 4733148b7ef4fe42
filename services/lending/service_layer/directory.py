"""What staff screens and a patron's card page read — libraries, patrons, a library's loans — and adding a library.

Queries with no rules of their own, kept out of the routes so that no route touches storage (issue 13). The
access rules they serve (:func:`lending.service_layer.staff.ensure_may_manage`) take the network from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from lending.domain.loans import Loan
from lending.domain.network import Library, LibraryNetwork
from lending.domain.patrons import CardStatus, Patron
from lending.domain.policy import LendingPolicy
from lending.service_layer.unit_of_work import DuplicateEntry, LendingUnitOfWork, UnitOfWorkFactory
from sachso.kit.errors import Conflict

LIBRARY_LOANS_SHOWN = 500


@dataclass(frozen=True)
class LibraryLoan:
    loan: Loan
    title: str
    borrower: Patron | None


class Directory:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self.uow = uow

    async def network(self) -> LibraryNetwork:
        return await self.uow().run(lambda uow: uow.libraries.network())

    async def libraries(self) -> list[Library]:
        """Every library of the network, by id (read afresh: a library added elsewhere shows at once)."""
        return await self.uow().run(lambda uow: uow.libraries.all())

    async def add_library(self, library: Library, code: str, policy: LendingPolicy) -> None:
        async def work(uow: LendingUnitOfWork) -> None:
            network = await uow.libraries.network()
            if library.id in network:
                raise Conflict(f"library {library.id} exists")
            network.with_library(library)  # refuses a library that does not fit the tree
            try:
                await uow.libraries.add(library, code, policy)
            except DuplicateEntry:
                raise Conflict(f"library {library.id} exists") from None

        await self.uow().run(work)

    async def library_names(self) -> dict[str, str]:
        return await self.uow().run(lambda uow: uow.libraries.names())

    async def patron(self, patron_id: str) -> Patron | None:
        return await self.uow().run(lambda uow: uow.patrons.get(patron_id))

    async def patron_of(self, library_id: str, patron_id: str) -> Patron | None:
        """The patron if her card belongs to ``library_id`` (another library's patron does not exist here)."""
        patron = await self.patron(patron_id)
        return patron if patron is not None and patron.library_id == library_id else None

    async def applications(self, library_id: str, status: CardStatus) -> list[Patron]:
        """A library's cards in ``status`` (applications waiting, by default), oldest application first."""
        return await self.uow().run(lambda uow: uow.patrons.of_library(library_id, status))

    async def library_loans(self, library_id: str, status: str) -> list[LibraryLoan]:
        """A library's latest loans in ``status``, with title and borrower."""

        async def work(uow: LendingUnitOfWork) -> list[LibraryLoan]:
            loans = await uow.loans.latest_of_library(library_id, status, LIBRARY_LOANS_SHOWN)
            borrowers = await uow.patrons.by_ids([loan.patron_id for loan in loans])
            titles = await uow.titles.names([loan.title_id for loan in loans])
            return [LibraryLoan(loan, titles.get(loan.title_id, ""), borrowers.get(loan.patron_id)) for loan in loans]

        return await self.uow().run(work)
