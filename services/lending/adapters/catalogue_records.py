"""The catalogue as the library-system links read and write it on MongoDB: titles as MARC/OAI records, the
licences that list them in a library's catalogue, and MARC imports written through the catalogue's own use case
(so search terms and ``TitleUpdated`` events stay as for any other edit)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession

from lending.adapters.store import TITLE_FIELDS, LendingStore, license_from, utc
from lending.domain.licensing import License
from lending.domain.marc import CatalogueTitle, TitleFields
from lending.domain.network import LibraryNetwork, Sharing
from lending.service_layer.catalogue import Catalogue, TitleMetadata
from lending.service_layer.clock import new_id
from lending.service_layer.marc_import import ExistingTitle
from sachso.kit.outbox import Emit, Outbox

Document = dict[str, Any]


def catalogue_title(document: Document) -> CatalogueTitle:
    return CatalogueTitle(
        id=document["_id"],
        title=document.get("title", ""),
        subtitle=document.get("subtitle", ""),
        authors=tuple(document.get("authors", [])),
        language=document.get("language") or "und",
        isbn=document.get("isbn", ""),
        publisher=document.get("publisher", ""),
        subjects=tuple(document.get("subjects", [])),
        description=document.get("description", ""),
        online_only=bool(document.get("online_only")),
        withdrawn=bool(document.get("withdrawn")),
        added_at=utc(document.get("added_at")),
        changed_at=utc(document.get("changed_at") or document.get("added_at")),
        local_document=bool(document.get("local_document")),
        holding_library_ids=tuple(document.get("library_ids", [])) if document.get("local_document") else (),
    )


def title_fields(document: Document) -> TitleFields:
    title = catalogue_title(document)
    return TitleFields(
        title=title.title,
        subtitle=title.subtitle,
        authors=title.authors,
        language=title.language,
        isbn=title.isbn,
        publisher=title.publisher,
        subjects=title.subjects,
        description=title.description,
    )


def title_metadata(fields: TitleFields) -> TitleMetadata:
    return TitleMetadata(
        title=fields.title,
        authors=fields.authors,
        subtitle=fields.subtitle,
        language=fields.language,
        isbn=fields.isbn,
        publisher=fields.publisher,
        subjects=fields.subjects,
        description=fields.description,
    )


class MongoCatalogueRecords:
    """Reads for the MARC export and the OAI-PMH provider."""

    def __init__(self, store: LendingStore) -> None:
        self.store = store

    async def network(self) -> LibraryNetwork:
        return await self.store.network()

    async def licences_for_library(self, library_id: str, network: LibraryNetwork) -> list[License]:
        groups = [group.id for group in network.groups if library_id in network.group_members(group.id)]
        query = {
            "$or": [
                {"owner_id": {"$in": network.lineage(library_id)}},
                {"sharing": Sharing.GROUP.value, "group_id": {"$in": groups}},
            ]
        }
        return [license_from(document) async for document in self.store.licenses.find(query)]

    async def licences_of(self, title_ids: list[str]) -> list[License]:
        cursor = self.store.licenses.find({"title_id": {"$in": title_ids}})
        return [license_from(document) async for document in cursor]

    async def titles(self, title_ids: set[str]) -> list[CatalogueTitle]:
        cursor = self.store.titles.find({"_id": {"$in": sorted(title_ids)}}, TITLE_FIELDS)
        return [catalogue_title(document) async for document in cursor]

    async def title(self, title_id: str) -> CatalogueTitle | None:
        document = await self.store.titles.find_one({"_id": title_id}, TITLE_FIELDS)
        return catalogue_title(document) if document else None

    async def earliest_change(self) -> datetime | None:
        first = await self.store.titles.find_one({}, {"added_at": 1}, sort=[("added_at", 1)])
        return utc(first.get("added_at")) if first else None

    async def title_page(
        self, after: str, limit: int, changed_since: datetime | None, snapshot: datetime
    ) -> list[CatalogueTitle]:
        query: Document = {"_id": {"$gt": after}}
        if changed_since is not None:
            ended = self.store.licenses.find(
                {"terms.expires_at": {"$gte": changed_since, "$lte": snapshot}}, {"title_id": 1}
            )
            acquired = self.store.licenses.find({"acquired_at": {"$gte": changed_since}}, {"title_id": 1})
            touched = {document["title_id"] async for document in ended} | {
                document["title_id"] async for document in acquired
            }
            query["$or"] = [{"changed_at": {"$gte": changed_since}}, {"_id": {"$in": sorted(touched)}}]
        cursor = self.store.titles.find(query, TITLE_FIELDS).sort("_id", 1).limit(limit)
        return [catalogue_title(document) async for document in cursor]

    async def titles_changed(self, start: datetime, end: datetime) -> set[str]:
        cursor = self.store.titles.find({"changed_at": {"$gte": start, "$lt": end}}, {"_id": 1})
        return {document["_id"] async for document in cursor}


class MongoMarcImportRepository:
    def __init__(self, store: LendingStore, outbox: Outbox, catalogue: Catalogue) -> None:
        self.store = store
        self.outbox = outbox
        self.catalogue = catalogue

    async def title_by_control_number(self, control_number: str) -> ExistingTitle | None:
        document = await self.store.titles.find_one({"ils_control_numbers": control_number}, TITLE_FIELDS)
        return ExistingTitle(document["_id"], title_fields(document)) if document else None

    async def titles_by_isbn(self, isbns: tuple[str, ...]) -> list[ExistingTitle]:
        cursor = self.store.titles.find({"isbn": {"$in": list(isbns)}, "withdrawn": {"$ne": True}}, TITLE_FIELDS)
        return [ExistingTitle(document["_id"], title_fields(document)) async for document in cursor]

    async def enrich(self, title_id: str, fields: TitleFields, control_number: str) -> None:
        async def work(session: AsyncClientSession, emit: Emit) -> None:
            title = await self.store.titles.find_one({"_id": title_id}, {"publication_id": 1}, session=session)
            assert title is not None
            if fields.changed:
                await self.catalogue.record_publication_in(session, title["publication_id"], title_metadata(fields))
            await self._link(title_id, control_number, session)

        await self.outbox.transaction(work)

    async def add_title(self, fields: TitleFields, control_number: str) -> str:
        async def work(session: AsyncClientSession, emit: Emit) -> str:
            publication_id = f"marc:{new_id()}"
            title_id = await self.catalogue.record_publication_in(session, publication_id, title_metadata(fields))
            await self._link(title_id, control_number, session)
            return title_id

        return await self.outbox.transaction(work)

    async def _link(self, title_id: str, control_number: str, session: AsyncClientSession) -> None:
        if control_number:
            await self.store.titles.update_one(
                {"_id": title_id}, {"$addToSet": {"ils_control_numbers": control_number}}, session=session
            )
