"""Finding titles: the catalogue's search and one title's page, each with its availability.

Read-only use cases over :class:`CatalogueReads`, a small repository (``adapters/catalogue_reads.py`` on MongoDB,
``tests/unit/lending/catalogue_fakes.py`` in memory). They run outside any unit of work, as they write nothing:
an answer a moment stale is what a catalogue shows anyway. The rules — what "Có sẵn", "Chờ ~N ngày" and "Chưa
có bản" mean — are the domain's (:mod:`lending.domain.availability`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from lending.domain.availability import Availability, free_for, title_availability
from lending.domain.licensing import License
from lending.domain.network import LibraryNetwork
from lending.domain.policy import LendingPolicy
from lending.domain.search import words
from lending.domain.titles import unlendable_reason
from lending.errors import LibraryNotFound, TitleNotFound
from lending.service_layer.clock import Clock, system_clock

Document = dict[str, Any]
MAX_PAGE_SIZE = 100
FACETS = {"language": "language", "library": "library_ids", "format": "format"}


@dataclass(frozen=True)
class TitleQuery:
    """Which titles: every word a prefix of one of their search terms, and the filters set."""

    terms: tuple[str, ...] = ()
    language: str | None = None
    library_id: str | None = None  # titles this library holds licences of
    book_format: str | None = None
    among: tuple[str, ...] | None = None  # only these title ids (None: any)
    lendable_only: bool = False  # not records without a readable file

    def without(self, facet: str) -> TitleQuery:
        """The query a facet counts over: every filter but its own."""
        field = {"language": "language", "library": "library_id", "format": "book_format"}[facet]
        return TitleQuery(**{**self.__dict__, field: None})


class CatalogueReads(Protocol):
    async def network(self) -> LibraryNetwork: ...

    async def policy(self, library_id: str) -> LendingPolicy: ...

    async def title(self, title_id: str) -> Document | None:
        """The title's record (without its search terms)."""
        ...

    async def find(self, query: TitleQuery, skip: int, limit: int) -> tuple[list[Document], int]:
        """A page of the titles matching ``query`` (not withdrawn), by title, and how many match in all."""
        ...

    async def count_by(self, query: TitleQuery, field: str) -> dict[str, int]:
        """How many titles matching ``query`` have each value of ``field`` (a list field counts each element)."""
        ...

    async def availability_inputs(self, title_ids: list[str]) -> dict[str, tuple[list[License], int]]:
        """Each title's licences and number of waiting holds, in one query however many titles."""
        ...

    async def licences_with_a_free_copy(self) -> list[License]:
        """Licences a copy may be free of (unlimited, or fewer readers than copies)."""
        ...


@dataclass(frozen=True)
class SearchPage:
    items: list[Document]
    total: int
    page: int
    size: int
    facets: dict[str, dict[str, int]]
    availability: dict[str, Availability]  # by title id, for every item


class CatalogueSearch:
    def __init__(self, reads: CatalogueReads, clock: Clock = system_clock) -> None:
        self.reads = reads
        self.clock = clock

    async def title(self, title_id: str) -> Document:
        document = await self.reads.title(title_id)
        if document is None:
            raise TitleNotFound(f"no title {title_id}")
        return document

    async def availability(self, title_id: str, library_id: str | None) -> Availability:
        """The title's availability for patrons of ``library_id`` (None: anyone in the network)."""
        return (await self._availability([await self.title(title_id)], library_id))[title_id]

    async def search(
        self,
        query: str = "",
        *,
        language: str | None = None,
        library_id: str | None = None,
        book_format: str | None = None,
        available_now: bool = False,
        for_library: str | None = None,
        page: int = 1,
        size: int = 20,
    ) -> SearchPage:
        """Diacritic-insensitive word-prefix search over title, subtitle, authors, subjects and ISBN, with each
        result's availability for patrons of ``for_library`` (None: a visitor, anyone in the network).

        ``available_now`` keeps the titles with a copy free now (for ``for_library``'s patrons)."""
        size = max(1, min(size, MAX_PAGE_SIZE))
        page = max(1, page)
        among = tuple(await self._free_title_ids(for_library)) if available_now else None
        wanted = TitleQuery(tuple(words(query)), language, library_id, book_format, among, lendable_only=available_now)
        items, total = await self.reads.find(wanted, (page - 1) * size, size)
        facets = {name: await self.reads.count_by(wanted.without(name), field) for name, field in FACETS.items()}
        return SearchPage(items, total, page, size, facets, await self._availability(items, for_library))

    async def _network_with(self, library_id: str | None) -> LibraryNetwork:
        network = await self.reads.network()
        if library_id is not None and library_id not in network:
            raise LibraryNotFound(f"no library {library_id}")
        return network

    async def _availability(self, documents: list[Document], library_id: str | None) -> dict[str, Availability]:
        network = await self._network_with(library_id)
        inputs = await self.reads.availability_inputs([document["_id"] for document in documents])
        policy = await self.reads.policy(library_id) if library_id else LendingPolicy()
        now = self.clock()
        found = {}
        for document in documents:
            licenses, waiting = inputs.get(document["_id"], ([], 0))
            reason = unlendable_reason(
                document.get("publication_id"), document.get("readable"), bool(document.get("withdrawn"))
            )
            found[document["_id"]] = title_availability(
                network, [] if reason else licenses, waiting, library_id, now, policy.default_period
            )
        return found

    async def _free_title_ids(self, library_id: str | None) -> list[str]:
        network = await self._network_with(library_id)
        by_title: dict[str, list[License]] = {}
        for license_ in await self.reads.licences_with_a_free_copy():
            by_title.setdefault(license_.title_id, []).append(license_)
        now = self.clock()
        return [title_id for title_id, licenses in by_title.items() if free_for(network, licenses, library_id, now)]
