"""What staff screens and a patron's card page read — libraries, patrons, a library's loans — and adding a library.

Queries with no rules of their own, kept out of the routes so that no route touches storage (issue 13). The
access rules they serve (:func:`lending.service_layer.staff.ensure_may_manage`) take the network from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from lending.adapters.repositories import loan_from
from lending.adapters.store import LendingStore, library_from, patron_from
from lending.domain.loans import Loan
from lending.domain.network import Library, LibraryNetwork
from lending.domain.patrons import CardStatus, Patron
from lending.domain.policy import LendingPolicy
from sachso.kit.errors import Conflict

LIBRARY_LOANS_SHOWN = 500


@dataclass(frozen=True)
class LibraryLoan:
    loan: Loan
    title: str
    borrower: Patron | None


class Directory:
    def __init__(self, store: LendingStore) -> None:
        self.store = store

    async def network(self) -> LibraryNetwork:
        return await self.store.network()

    async def libraries(self) -> list[Library]:
        """Every library of the network, by id (read afresh: a library added elsewhere shows at once)."""
        return [library_from(document) async for document in self.store.libraries.find({}).sort("_id", 1)]

    async def add_library(self, library: Library, code: str, policy: LendingPolicy) -> None:
        network = await self.store.network()
        if library.id in network:
            raise Conflict(f"library {library.id} exists")
        network.with_library(library)  # refuses a library that does not fit the tree
        await self.store.add_library(library, code, policy)

    async def library_names(self) -> dict[str, str]:
        return await self.store.library_names()

    async def patron(self, patron_id: str) -> Patron | None:
        return await self.store.patron(patron_id)

    async def patron_of(self, library_id: str, patron_id: str) -> Patron | None:
        """The patron if her card belongs to ``library_id`` (another library's patron does not exist here)."""
        patron = await self.store.patron(patron_id)
        return patron if patron is not None and patron.library_id == library_id else None

    async def applications(self, library_id: str, status: CardStatus) -> list[Patron]:
        """A library's cards in ``status`` (applications waiting, by default), oldest application first."""
        cursor = self.store.patrons.find({"library_id": library_id, "status": status.value}).sort("applied_at", 1)
        return [patron_from(document) async for document in cursor]

    async def library_loans(self, library_id: str, status: str) -> list[LibraryLoan]:
        """A library's latest loans in ``status``, with title and borrower."""
        cursor = self.store.loans.find({"library_id": library_id, "status": status})
        loans = [loan_from(document) async for document in cursor.sort("starts_at", -1).limit(LIBRARY_LOANS_SHOWN)]
        borrowers = await self.store.patrons_by_id([loan.patron_id for loan in loans])
        titles = await self.store.title_names([loan.title_id for loan in loans])
        return [LibraryLoan(loan, titles.get(loan.title_id, ""), borrowers.get(loan.patron_id)) for loan in loans]
