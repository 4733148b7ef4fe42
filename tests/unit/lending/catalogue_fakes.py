"""An in-memory :class:`CatalogueReads`: title records, licences and waiting holds, with the MongoDB queries'
meaning (word prefixes over the folded search terms, withdrawn titles never found, sorted by title then id)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lending.domain.licensing import License
from lending.domain.network import Library, LibraryNetwork
from lending.domain.policy import LendingPolicy
from lending.domain.search import nfc, search_terms
from lending.service_layer.catalogue_search import TitleQuery

Document = dict[str, Any]
HIDDEN = {"search_terms", "fulltext_terms"}


@dataclass
class FakeCatalogueReads:
    libraries: list[Library]
    titles: dict[str, Document] = field(default_factory=dict)
    licences: list[License] = field(default_factory=list)
    waiting: Counter[str] = field(default_factory=Counter)  # waiting holds by title id
    policies: dict[str, LendingPolicy] = field(default_factory=dict)
    availability_queries: int = 0  # how many times availability was read (once per page, whatever its size)

    def add_title(
        self, title_id: str, title: str, *, language: str = "vi", book_format: str = "epub", **more: Any
    ) -> None:
        authors = list(more.pop("authors", []))
        self.titles[title_id] = {
            "_id": title_id,
            "title": nfc(title),
            "authors": authors,
            "language": language,
            "format": book_format,
            "publication_id": more.pop("publication_id", f"pub-{title_id}"),
            "readable": more.pop("readable", True),
            "library_ids": [],
            "search_terms": search_terms(title, "", authors, (), ""),
            **more,
        }

    def add_licence(self, licence: License) -> None:
        self.licences.append(licence)
        owners = self.titles[licence.title_id]["library_ids"]
        if licence.owner_id not in owners:
            owners.append(licence.owner_id)

    def _matches(self, document: Document, query: TitleQuery) -> bool:
        terms = [*document.get("search_terms", []), *document.get("fulltext_terms", [])]
        return (
            not document.get("withdrawn")
            and all(any(term.startswith(word) for term in terms) for word in query.terms)
            and (not query.language or document.get("language") == query.language)
            and (not query.library_id or query.library_id in document.get("library_ids", []))
            and (not query.book_format or document.get("format") == query.book_format)
            and (query.among is None or document["_id"] in query.among)
            and (not query.lendable_only or document.get("readable") is not False)
        )

    async def network(self) -> LibraryNetwork:
        return LibraryNetwork(self.libraries, [])

    async def policy(self, library_id: str) -> LendingPolicy:
        return self.policies.get(library_id, LendingPolicy())

    async def title(self, title_id: str) -> Document | None:
        document = self.titles.get(title_id)
        return None if document is None else {k: v for k, v in document.items() if k not in HIDDEN}

    async def find(self, query: TitleQuery, skip: int, limit: int) -> tuple[list[Document], int]:
        found = sorted(
            (document for document in self.titles.values() if self._matches(document, query)),
            key=lambda document: (document["title"], document["_id"]),
        )
        page = [{k: v for k, v in document.items() if k not in HIDDEN} for document in found[skip : skip + limit]]
        return page, len(found)

    async def count_by(self, query: TitleQuery, field: str) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for document in self.titles.values():
            if self._matches(document, query):
                value = document.get(field)
                for item in value if isinstance(value, list) else [value]:
                    if item is not None:
                        counts[str(item)] += 1
        return dict(counts)

    async def availability_inputs(self, title_ids: list[str]) -> dict[str, tuple[list[License], int]]:
        self.availability_queries += 1
        return {
            title_id: ([lic for lic in self.licences if lic.title_id == title_id], self.waiting[title_id])
            for title_id in title_ids
        }

    async def licences_with_a_free_copy(self) -> list[License]:
        return [lic for lic in self.licences if lic.terms.concurrency is None or lic.in_use < lic.terms.concurrency]
