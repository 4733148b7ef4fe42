"""The catalogue: titles from the reader service's publications (or staff), licences, and search."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession

from lending.adapters.store import Document, LendingStore
from lending.domain.licensing import License, LicenseTerms, copies_for, lending_order
from lending.domain.network import Sharing
from lending.domain.search import nfc, normalize_isbn, search_terms, words
from lending.domain.titles import STAFF_RECORD_PREFIX
from lending.errors import LibraryNotFound, PublicationOwnerMismatch, TitleNotFound
from lending.service_layer.clock import Clock, new_id, system_clock
from sachso.events.v1 import lending_events_pb2 as events
from sachso.events.v1 import reader_events_pb2
from sachso.kit.events import OutboundEvent
from sachso.kit.outbox import Emit, Outbox
from sachso.kit.topics import LENDING_EVENTS

MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class TitleMetadata:
    title: str
    authors: tuple[str, ...] = ()
    subtitle: str = ""
    language: str = "vi"
    isbn: str = ""
    publisher: str = ""
    subjects: tuple[str, ...] = ()
    description: str = ""

    @classmethod
    def from_publication(cls, metadata: reader_events_pb2.PublicationMetadata) -> TitleMetadata:
        return cls(
            title=metadata.title,
            authors=tuple(metadata.authors),
            subtitle=metadata.subtitle,
            language=metadata.language or "und",
            isbn=metadata.isbn,
            publisher=metadata.publisher,
            subjects=tuple(metadata.subjects),
            description=metadata.description,
        )

    def document(self) -> Document:
        return {
            "title": nfc(self.title),
            "subtitle": nfc(self.subtitle),
            "authors": [nfc(author) for author in self.authors],
            "language": self.language,
            "isbn": normalize_isbn(self.isbn),
            "publisher": nfc(self.publisher),
            "subjects": [nfc(subject) for subject in self.subjects],
            "description": nfc(self.description),
            "search_terms": search_terms(
                self.title, self.subtitle, self.authors, self.subjects, normalize_isbn(self.isbn)
            ),
        }


@dataclass(frozen=True)
class Availability:
    copies: int | None  # None: unlimited
    available: int | None
    holds: int


@dataclass(frozen=True)
class SearchPage:
    items: list[Document]
    total: int
    page: int
    size: int
    facets: dict[str, dict[str, int]]


class Catalogue:
    def __init__(self, store: LendingStore, outbox: Outbox, clock: Clock = system_clock) -> None:
        self.store = store
        self.outbox = outbox
        self.clock = clock

    async def record_publication(
        self,
        publication_id: str,
        metadata: TitleMetadata,
        session: AsyncClientSession,
        emit: Emit,
        *,
        publisher_id: str = "",
        readable: bool | None = None,
    ) -> str:
        """Add or update the title of a publication (called by the reader-events consumer, ``readable``: the file
        is ingested). A record staff typed in with the same ISBN and no file yet becomes this publication's title.

        A title is the title of one publication, and so of one publisher: every publication is its own title
        (the same book from two publishers is two titles), and an update naming another publisher than the
        title's is refused, never applied."""
        existing = await self.store.titles.find_one({"publication_id": publication_id}, session=session)
        owner = (existing or {}).get("publisher_id", "")
        if owner and publisher_id and owner != publisher_id:
            raise PublicationOwnerMismatch(
                f"publication {publication_id} is {owner}'s; an update from {publisher_id} is not applied"
            )
        if existing is None and readable and metadata.isbn:
            existing = await self.store.unreadable_title_with_isbn(normalize_isbn(metadata.isbn), session)
        title_id = existing["_id"] if existing else new_id()
        # changed_at: the record's datestamp for OAI-PMH and MARC delta exports
        document = {
            **metadata.document(),
            "publication_id": publication_id,
            "withdrawn": False,
            "changed_at": self.clock(),
        }
        if publisher_id:
            document["publisher_id"] = publisher_id
        if readable is not None:
            document["readable"] = readable
        await self.store.titles.update_one(
            {"_id": title_id},
            {"$set": document, "$setOnInsert": {"added_at": self.clock()}},
            upsert=True,
            session=session,
        )
        message_type = events.TitleUpdated if existing else events.TitleAdded
        emit(
            OutboundEvent(
                topic=LENDING_EVENTS.name,
                key=title_id,
                subject=title_id,
                payload=message_type(
                    title_id=title_id,
                    publication_id=publication_id,
                    title=document["title"],
                    authors=document["authors"],
                    language=document["language"],
                    isbn=document["isbn"],
                ),
            )
        )
        return title_id

    async def withdraw_publication(self, publication_id: str, session: AsyncClientSession) -> None:
        """A withdrawn book lends no more; current loans run to their end."""
        await self.store.titles.update_one(
            {"publication_id": publication_id},
            {"$set": {"withdrawn": True, "withdrawn_at": self.clock(), "changed_at": self.clock()}},
            session=session,
        )

    async def add_title(
        self, metadata: TitleMetadata, publication_id: str | None = None, *, added_by_library_id: str | None = None
    ) -> str:
        """A title for an ingested publication (imports, tests) or, without one, a record staff typed in: that
        one is catalogued but not lendable until a publication with its ISBN is ingested."""

        async def work(session: AsyncClientSession, emit: Emit) -> str:
            title_id = await self.record_publication(
                publication_id or f"{STAFF_RECORD_PREFIX}{new_id()}",
                metadata,
                session,
                emit,
                readable=publication_id is not None,
            )
            if added_by_library_id:
                await self.store.set_title_added_by(title_id, added_by_library_id, session)
            return title_id

        return await self.outbox.transaction(work)

    async def edit_title(self, title_id: str, metadata: TitleMetadata) -> None:
        """Staff correct a title's metadata; the change is announced like a publication update."""

        async def work(session: AsyncClientSession, emit: Emit) -> None:
            title = await self.store.titles.find_one({"_id": title_id}, {"publication_id": 1}, session=session)
            if title is None:
                raise TitleNotFound(f"no title {title_id}")
            await self.record_publication(title["publication_id"], metadata, session, emit)

        await self.outbox.transaction(work)

    async def set_online_only(self, title_id: str, online_only: bool) -> None:
        """Rare local documents (tài liệu địa chí): read online only, as watermarked page images; new loans
        carry the flag to DRM (no licence for reading apps) and to the reader service."""
        result = await self.store.titles.update_one(
            {"_id": title_id}, {"$set": {"online_only": online_only, "changed_at": self.clock()}}
        )
        if result.matched_count == 0:
            raise TitleNotFound(f"no title {title_id}")

    async def title(self, title_id: str) -> Document:
        document = await self.store.titles.find_one({"_id": title_id}, {"search_terms": 0})
        if document is None:
            raise TitleNotFound(f"no title {title_id}")
        return document

    async def add_license(
        self, title_id: str, owner_id: str, terms: LicenseTerms, sharing: Sharing = Sharing.SUBTREE
    ) -> License:
        """A library acquires a licence for a title; copies free up for the hold queue at once."""
        if await self.store.titles.find_one({"_id": title_id}) is None:
            raise TitleNotFound(f"no title {title_id}")
        if await self.store.library_document(owner_id) is None:
            raise LibraryNotFound(f"no library {owner_id}")
        license_ = License(
            id=new_id(),
            title_id=title_id,
            owner_id=owner_id,
            sharing=sharing,
            terms=terms,
            acquired_at=self.clock(),
            checkouts_left=terms.checkouts,
        )
        await self.store.add_license(license_)
        await self.store.titles.update_one(
            {"_id": title_id}, {"$addToSet": {"library_ids": owner_id}, "$set": {"changed_at": license_.acquired_at}}
        )
        return license_

    async def availability(self, title_id: str, patron_library_id: str) -> Availability:
        now = self.clock()
        network = await self.store.network()
        licenses = await self.store.licenses_for(title_id)
        copies = copies_for(network, licenses, patron_library_id, now)
        free = lending_order(network, licenses, patron_library_id, now)
        available: int | None = None
        if copies is not None:
            available = sum(
                (lic.terms.concurrency or 0) - lic.in_use for lic in free if lic.terms.concurrency is not None
            )
        waiting = await self.store.holds.count_documents({"title_id": title_id, "state": "waiting"})
        return Availability(copies=copies, available=available, holds=waiting)

    async def search(
        self,
        query: str = "",
        *,
        language: str | None = None,
        library_id: str | None = None,
        page: int = 1,
        size: int = 20,
    ) -> SearchPage:
        """Diacritic-insensitive word-prefix search over title, subtitle, authors, subjects and ISBN."""
        size = max(1, min(size, MAX_PAGE_SIZE))
        page = max(1, page)
        base: dict[str, Any] = {"withdrawn": {"$ne": True}}
        terms = words(query)
        if terms:
            base["$and"] = [{"search_terms": {"$regex": f"^{re.escape(term)}"}} for term in terms]
        filters = dict(base)
        if language:
            filters["language"] = language
        if library_id:
            filters["library_ids"] = library_id
        total = await self.store.titles.count_documents(filters)
        cursor = (
            self.store.titles.find(filters, {"search_terms": 0})
            .sort([("title", ASCENDING), ("_id", ASCENDING)])
            .skip((page - 1) * size)
            .limit(size)
        )
        items = [document async for document in cursor]
        facets = {
            "language": await self._facet(base, "language", library_id=library_id),
            "library": await self._facet(base, "library_ids", language=language),
        }
        return SearchPage(items, total, page, size, facets)

    async def _facet(self, base: dict[str, Any], field: str, **others: str | None) -> dict[str, int]:
        match = dict(base)
        if others.get("language"):
            match["language"] = others["language"]
        if others.get("library_id"):
            match["library_ids"] = others["library_id"]
        pipeline: list[Document] = [{"$match": match}]
        if field == "library_ids":
            pipeline.append({"$unwind": "$library_ids"})
        pipeline.append({"$group": {"_id": f"${field}", "count": {"$sum": 1}}})
        cursor = await self.store.titles.aggregate(pipeline)
        return {str(row["_id"]): row["count"] async for row in cursor if row["_id"] is not None}
