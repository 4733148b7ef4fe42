"""The catalogue's read queries on MongoDB (:class:`lending.service_layer.catalogue_search.CatalogueReads`)."""

from __future__ import annotations

import re
from typing import Any

from pymongo import ASCENDING

from lending.adapters.store import TITLE_FIELDS, LendingStore, license_from
from lending.domain.holds import HoldState
from lending.domain.licensing import License
from lending.domain.network import LibraryNetwork
from lending.domain.policy import LendingPolicy
from lending.service_layer.catalogue_search import TitleQuery

Document = dict[str, Any]


def title_filter(query: TitleQuery) -> Document:
    """The MongoDB filter of ``query`` (search terms are stored folded: prefixes match with an anchored regex)."""
    found: Document = {"withdrawn": {"$ne": True}}
    if query.terms:
        # the record's words, or a scanned document's full text (its OCR and corrections: fulltext_terms)
        found["$and"] = [
            {"$or": [{field: {"$regex": f"^{re.escape(term)}"}} for field in ("search_terms", "fulltext_terms")]}
            for term in query.terms
        ]
    if query.language:
        found["language"] = query.language
    if query.library_id:
        found["library_ids"] = query.library_id
    if query.book_format:
        found["format"] = query.book_format
    if query.among is not None:
        found["_id"] = {"$in": list(query.among)}
    if query.lendable_only:
        found["readable"] = {"$ne": False}
    return found


class MongoCatalogueReads:
    def __init__(self, store: LendingStore) -> None:
        self.store = store

    async def network(self) -> LibraryNetwork:
        return await self.store.network()

    async def policy(self, library_id: str) -> LendingPolicy:
        return await self.store.policy(library_id)

    async def title(self, title_id: str) -> Document | None:
        return await self.store.titles.find_one({"_id": title_id}, TITLE_FIELDS)

    async def find(self, query: TitleQuery, skip: int, limit: int) -> tuple[list[Document], int]:
        filters = title_filter(query)
        total = await self.store.titles.count_documents(filters)
        cursor = (
            self.store.titles.find(filters, TITLE_FIELDS)
            .sort([("title", ASCENDING), ("_id", ASCENDING)])
            .skip(skip)
            .limit(limit)
        )
        return [document async for document in cursor], total

    async def count_by(self, query: TitleQuery, field: str) -> dict[str, int]:
        pipeline: list[Document] = [{"$match": title_filter(query)}]
        if field == "library_ids":
            pipeline.append({"$unwind": "$library_ids"})
        pipeline.append({"$group": {"_id": f"${field}", "count": {"$sum": 1}}})
        cursor = await self.store.titles.aggregate(pipeline)
        return {str(row["_id"]): row["count"] async for row in cursor if row["_id"] is not None}

    async def availability_inputs(self, title_ids: list[str]) -> dict[str, tuple[list[License], int]]:
        """One aggregation: the titles' licences, with their waiting holds counted and unioned in."""
        found: dict[str, tuple[list[License], int]] = {title_id: ([], 0) for title_id in title_ids}
        pipeline: list[Document] = [
            {"$match": {"title_id": {"$in": title_ids}}},
            {
                "$unionWith": {
                    "coll": self.store.holds.name,
                    "pipeline": [
                        {"$match": {"title_id": {"$in": title_ids}, "state": HoldState.WAITING.value}},
                        {"$group": {"_id": "$title_id", "waiting": {"$sum": 1}}},
                    ],
                }
            },
        ]
        async for row in await self.store.licenses.aggregate(pipeline):
            if "waiting" in row:
                licenses, _ = found.setdefault(row["_id"], ([], 0))
                found[row["_id"]] = (licenses, row["waiting"])
            else:
                found.setdefault(row["title_id"], ([], 0))[0].append(license_from(row))
        return found

    async def licences_with_a_free_copy(self) -> list[License]:
        query: Document = {"$or": [{"terms.concurrency": None}, {"$expr": {"$lt": ["$in_use", "$terms.concurrency"]}}]}
        return [license_from(document) async for document in self.store.licenses.find(query)]
