"""MongoDB for local documents in the catalogue, open titles and digitisation progress.

Collections: ``local_documents`` (lending's record of each scanned document), ``digitisation_counts`` (one per
library and month, counters moved with ``$inc`` — the consumer records each event once, in the same transaction),
``digitisation_corrected_pages`` (a page counts as corrected once), ``digitisation_targets`` (one per library and
year) and ``open_reads`` (per title, library and month). Titles stay in the catalogue's ``titles`` collection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from lending.domain.digitisation import StageCounts, Target
from lending.service_layer.clock import new_id
from lending.service_layer.local_documents import (
    DigitisationCounts,
    DocumentRecord,
    DocumentRecords,
    LocalDocumentsUnitOfWork,
    OpenReadCount,
    OpenReads,
    TitleAccess,
    TitleAccesses,
)
from sachso.kit.mongo_unit_of_work import MongoDatabaseUnitOfWork
from sachso.kit.text import distinct_words

Document = dict[str, Any]
_COUNT_FIELDS = [item.name for item in fields(StageCounts)]


class MongoDocumentRecords(DocumentRecords):
    def __init__(self, database: AsyncDatabase[Document], session: AsyncClientSession | None) -> None:
        self.collection = database["local_documents"]
        self.session = session

    async def get(self, document_id: str) -> DocumentRecord | None:
        found = await self.collection.find_one({"_id": document_id}, session=self.session)
        if found is None:
            return None
        values: dict[str, Any] = {key: tuple(v) if isinstance(v, list) else v for key, v in found.items()}
        values["document_id"] = values.pop("_id")
        return DocumentRecord(**values)

    async def save(self, record: DocumentRecord) -> None:
        body = {key: list(v) if isinstance(v, tuple) else v for key, v in asdict(record).items()}
        body.pop("document_id")
        await self.collection.update_one({"_id": record.document_id}, {"$set": body}, upsert=True,
                                         session=self.session)  # fmt: skip


def _title_access(document: Document) -> TitleAccess:
    stewards = list(document.get("library_ids", []))
    added_by = document.get("added_by_library_id")
    if added_by and added_by not in stewards:
        stewards.insert(0, added_by)
    return TitleAccess(
        title_id=document["_id"], publication_id=document.get("publication_id", ""),
        online_only=bool(document.get("online_only")), open_access=bool(document.get("open_access")),
        withdrawn=bool(document.get("withdrawn")), readable=bool(document.get("readable")),
        library_ids=tuple(stewards), local_document=bool(document.get("local_document")),
        manifest_url=document.get("manifest_url", ""),
    )  # fmt: skip


_ACCESS_FIELDS = {"publication_id": 1, "online_only": 1, "open_access": 1, "withdrawn": 1, "readable": 1,
                  "library_ids": 1, "added_by_library_id": 1, "local_document": 1, "manifest_url": 1}  # fmt: skip


class MongoTitleAccesses(TitleAccesses):
    def __init__(self, database: AsyncDatabase[Document], session: AsyncClientSession | None) -> None:
        self.titles = database["titles"]
        self.session = session

    async def get(self, title_id: str) -> TitleAccess | None:
        found = await self.titles.find_one({"_id": title_id}, _ACCESS_FIELDS, session=self.session)
        return _title_access(found) if found else None

    async def of_publication(self, publication_id: str) -> TitleAccess | None:
        found = await self.titles.find_one({"publication_id": publication_id}, _ACCESS_FIELDS, session=self.session)
        return _title_access(found) if found else None

    async def save_local_document(self, record: DocumentRecord, at: datetime) -> tuple[str, bool]:
        existing = await self.titles.find_one({"publication_id": record.document_id}, {"_id": 1},
                                              session=self.session)  # fmt: skip
        title_id = existing["_id"] if existing else new_id()
        body = {
            "publication_id": record.document_id, "title": record.title, "subtitle": "",
            "authors": list(record.creators), "language": record.languages[0] if record.languages else "vi",
            "isbn": "", "publisher": record.publisher, "subjects": list(record.subjects),
            "description": record.description, "search_terms": distinct_words(*record.searchable),
            "withdrawn": False, "readable": True, "changed_at": at, "local_document": True,
            "online_only": record.access == "online-only", "open_access": record.access == "open",
            "manifest_url": record.manifest_url, "added_by_library_id": record.library_id,
            "page_count": record.page_count,
        }  # fmt: skip
        await self.titles.update_one(
            {"_id": title_id},
            {"$set": body, "$setOnInsert": {"added_at": at}, "$addToSet": {"library_ids": record.library_id}},
            upsert=True, session=self.session,
        )  # fmt: skip
        return title_id, existing is None

    async def set_fulltext(self, publication_id: str, words: Sequence[str]) -> None:
        await self.titles.update_one({"publication_id": publication_id}, {"$set": {"fulltext_terms": list(words)}},
                                     session=self.session)  # fmt: skip

    async def set_open(self, title_id: str, open_access: bool, at: datetime) -> None:
        await self.titles.update_one({"_id": title_id}, {"$set": {"open_access": open_access, "changed_at": at}},
                                     session=self.session)  # fmt: skip


def _counts(document: Document | None) -> StageCounts:
    return StageCounts(**{name: int((document or {}).get(name, 0)) for name in _COUNT_FIELDS})


class MongoDigitisationCounts(DigitisationCounts):
    def __init__(self, database: AsyncDatabase[Document], session: AsyncClientSession | None) -> None:
        self.counts = database["digitisation_counts"]
        self.corrected = database["digitisation_corrected_pages"]
        self.target_documents = database["digitisation_targets"]
        self.session = session

    async def add(self, library_id: str, month: str, counts: StageCounts) -> None:
        increments = {name: value for name, value in asdict(counts).items() if value}
        await self.counts.update_one(
            {"_id": f"{library_id}:{month}"},
            {"$inc": increments, "$setOnInsert": {"library_id": library_id, "month": month}},
            upsert=True, session=self.session,
        )  # fmt: skip

    async def first_correction(self, document_id: str, page: int) -> bool:
        result = await self.corrected.update_one(
            {"_id": f"{document_id}:{page}"}, {"$setOnInsert": {"document_id": document_id, "page": page}},
            upsert=True, session=self.session,
        )  # fmt: skip
        return result.upserted_id is not None

    async def monthly(self, library_ids: Sequence[str], months: Sequence[str]) -> dict[tuple[str, str], StageCounts]:
        cursor = self.counts.find({"library_id": {"$in": list(library_ids)}, "month": {"$in": list(months)}},
                                  session=self.session)  # fmt: skip
        return {(row["library_id"], row["month"]): _counts(row) async for row in cursor}

    async def before(self, library_ids: Sequence[str], month: str) -> dict[str, StageCounts]:
        cursor = self.counts.find({"library_id": {"$in": list(library_ids)}, "month": {"$lt": month}},
                                  session=self.session)  # fmt: skip
        totals: dict[str, StageCounts] = {}
        async for row in cursor:
            totals[row["library_id"]] = totals.get(row["library_id"], StageCounts()) + _counts(row)
        return totals

    async def targets(self, library_ids: Sequence[str], year: int) -> dict[str, Target]:
        cursor = self.target_documents.find({"library_id": {"$in": list(library_ids)}, "year": year},
                                            session=self.session)  # fmt: skip
        return {row["library_id"]: Target(row["library_id"], row["year"], row["pages"], row["items"])
                async for row in cursor}  # fmt: skip

    async def set_target(self, target: Target, by: str, at: datetime) -> None:
        await self.target_documents.update_one(
            {"_id": f"{target.library_id}:{target.year}"},
            {"$set": {**asdict(target), "set_by": by, "set_at": at}}, upsert=True, session=self.session,
        )  # fmt: skip


class MongoOpenReads(OpenReads):
    def __init__(self, database: AsyncDatabase[Document], session: AsyncClientSession | None) -> None:
        self.collection = database["open_reads"]
        self.session = session

    async def record(self, title_id: str, library_id: str, month: str) -> None:
        await self.collection.update_one(
            {"_id": f"{title_id}:{library_id}:{month}"},
            {"$inc": {"reads": 1}, "$setOnInsert": {"title_id": title_id, "library_id": library_id, "month": month}},
            upsert=True, session=self.session,
        )  # fmt: skip

    async def counts(self, library_ids: Sequence[str], months: Sequence[str]) -> list[OpenReadCount]:
        cursor = self.collection.find(
            {"library_id": {"$in": list(library_ids)}, "month": {"$in": list(months)}}, session=self.session
        ).sort([("month", 1), ("library_id", 1), ("title_id", 1)])
        return [OpenReadCount(row["month"], row["library_id"], row["title_id"], row["reads"]) async for row in cursor]


class MongoLocalDocumentsUnitOfWork(MongoDatabaseUnitOfWork, LocalDocumentsUnitOfWork):
    def _bind(self, session: AsyncClientSession) -> None:
        self.documents = MongoDocumentRecords(self.database, session)
        self.titles = MongoTitleAccesses(self.database, session)
        self.progress = MongoDigitisationCounts(self.database, session)
        self.open_reads = MongoOpenReads(self.database, session)


async def ensure_indexes(database: AsyncDatabase[Document]) -> None:
    await database["titles"].create_index("fulltext_terms")
    await database["digitisation_counts"].create_index([("library_id", 1), ("month", 1)])
    await database["open_reads"].create_index([("library_id", 1), ("month", 1)])
    await database["digitisation_targets"].create_index([("library_id", 1), ("year", 1)])
