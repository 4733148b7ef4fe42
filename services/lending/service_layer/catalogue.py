"""The catalogue's writes: titles from the reader service's publications (or staff, MARC imports, ODL offers) and
the licences libraries acquire, each in a unit of work; finding titles is
:mod:`lending.service_layer.catalogue_search`'s."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lending.domain.availability import Availability
from lending.domain.digitisation import ensure_access_changed_here, ensure_may_mark_online_only
from lending.domain.licensing import License, LicenseTerms
from lending.domain.network import Sharing
from lending.domain.search import nfc, normalize_isbn, search_terms
from lending.domain.titles import STAFF_RECORD_PREFIX, book_format
from lending.errors import LibraryNotFound, PublicationOwnerMismatch, TitleNotFound
from lending.service_layer.catalogue_search import CatalogueSearch
from lending.service_layer.clock import Clock, new_id, system_clock
from lending.service_layer.unit_of_work import LendingUnitOfWork, UnitOfWorkFactory
from sachso.events.v1 import lending_events_pb2 as events
from sachso.events.v1 import reader_events_pb2
from sachso.kit.events import OutboundEvent
from sachso.kit.topics import LENDING_EVENTS

Document = dict[str, Any]


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


async def record_publication(
    uow: LendingUnitOfWork,
    now: datetime,
    publication_id: str,
    metadata: TitleMetadata,
    *,
    publisher_id: str = "",
    readable: bool | None = None,
    media_type: str = "",
) -> str:
    """Add or update the title of a publication, in ``uow`` (the reader-events consumer, MARC imports, ODL offers,
    staff; ``readable``: the file is ingested). A record staff typed in with the same ISBN and no file yet becomes
    this publication's title.

    A title is the title of one publication, and so of one publisher: every publication is its own title
    (the same book from two publishers is two titles), and an update naming another publisher than the
    title's is refused, never applied."""
    existing = await uow.catalogue.by_publication(publication_id)
    owner = (existing or {}).get("publisher_id", "")
    if owner and publisher_id and owner != publisher_id:
        raise PublicationOwnerMismatch(
            f"publication {publication_id} is {owner}'s; an update from {publisher_id} is not applied"
        )
    if existing is None and readable and metadata.isbn:
        existing = await uow.catalogue.unreadable_with_isbn(normalize_isbn(metadata.isbn))
    title_id = existing["_id"] if existing else new_id()
    # changed_at: the record's datestamp for OAI-PMH and MARC delta exports
    document = {**metadata.document(), "publication_id": publication_id, "withdrawn": False, "changed_at": now}
    if publisher_id:
        document["publisher_id"] = publisher_id
    if media_type:
        document["format"] = book_format(media_type)
    if readable is not None:
        document["readable"] = readable
    await uow.catalogue.save(title_id, document, added_at=now)
    message_type = events.TitleUpdated if existing else events.TitleAdded
    uow.emit(
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


async def withdraw_publication(uow: LendingUnitOfWork, now: datetime, publication_id: str) -> None:
    """A withdrawn book lends no more; current loans run to their end."""
    await uow.catalogue.withdraw(publication_id, now)


# A unit of work inside a transaction someone else owns (an event consumer's, a MARC import's), given that
# transaction's handle: its writes and events commit with the owner's, or not at all.
JoinedUnits = Callable[[Any], LendingUnitOfWork]


class Catalogue:
    """The catalogue's use cases, each in its own unit of work (or in the caller's, ``…_in``); finding titles is
    :attr:`queries`."""

    def __init__(
        self, units: UnitOfWorkFactory, joined: JoinedUnits, queries: CatalogueSearch, clock: Clock = system_clock
    ) -> None:
        self.units = units
        self.joined = joined
        self.queries = queries
        self.clock = clock

    async def record_publication_in(
        self, transaction: object, publication_id: str, metadata: TitleMetadata, **details: Any
    ) -> str:
        """:func:`record_publication` in the caller's ``transaction``."""
        return await self.joined(transaction).run(
            lambda uow: record_publication(uow, self.clock(), publication_id, metadata, **details)
        )

    async def withdraw_publication_in(self, transaction: object, publication_id: str) -> None:
        """:func:`withdraw_publication` in the caller's ``transaction``."""
        await self.joined(transaction).run(lambda uow: withdraw_publication(uow, self.clock(), publication_id))

    async def add_title(
        self, metadata: TitleMetadata, publication_id: str | None = None, *, added_by_library_id: str | None = None
    ) -> str:
        """A title for an ingested publication (imports, tests) or, without one, a record staff typed in: that
        one is catalogued but not lendable until a publication with its ISBN is ingested."""

        async def work(uow: LendingUnitOfWork) -> str:
            title_id = await record_publication(
                uow,
                self.clock(),
                publication_id or f"{STAFF_RECORD_PREFIX}{new_id()}",
                metadata,
                readable=publication_id is not None,
            )
            if added_by_library_id:
                await uow.catalogue.set_added_by(title_id, added_by_library_id)
            return title_id

        return await self.units().run(work)

    async def edit_title(self, title_id: str, metadata: TitleMetadata) -> None:
        """Staff correct a title's metadata; the change is announced like a publication update."""

        async def work(uow: LendingUnitOfWork) -> None:
            publication_id = await uow.catalogue.publication_of(title_id)
            if publication_id is None:
                raise TitleNotFound(f"no title {title_id}")
            await record_publication(uow, self.clock(), publication_id, metadata)

        await self.units().run(work)

    async def set_online_only(self, title_id: str, online_only: bool) -> None:
        """Rare local documents (tài liệu địa chí): read online only, as watermarked page images; new loans
        carry the flag to DRM (no licence for reading apps) and to the reader service."""

        async def work(uow: LendingUnitOfWork) -> None:
            marks = await uow.catalogue.access_marks(title_id)
            ensure_access_changed_here(marks.local_document, changing=True)
            ensure_may_mark_online_only(marks.open_access, online_only)
            if not await uow.catalogue.set_online_only(title_id, online_only, self.clock()):
                raise TitleNotFound(f"no title {title_id}")

        await self.units().run(work)

    async def title(self, title_id: str) -> Document:
        return await self.queries.title(title_id)

    async def add_license(
        self, title_id: str, owner_id: str, terms: LicenseTerms, sharing: Sharing = Sharing.SUBTREE
    ) -> License:
        """A library acquires a licence for a title (recorded with the title's owners, together)."""

        async def work(uow: LendingUnitOfWork) -> License:
            if await uow.catalogue.publication_of(title_id) is None:
                raise TitleNotFound(f"no title {title_id}")
            if owner_id not in await uow.libraries.network():
                raise LibraryNotFound(f"no library {owner_id}")
            now = self.clock()
            license_ = License(
                id=new_id(),
                title_id=title_id,
                owner_id=owner_id,
                sharing=sharing,
                terms=terms,
                acquired_at=now,
                checkouts_left=terms.checkouts,
            )
            await uow.licences.add(license_)
            await uow.catalogue.add_owner(title_id, owner_id, now)
            return license_

        return await self.units().run(work)

    async def availability(self, title_id: str, patron_library_id: str | None) -> Availability:
        """The title's availability for patrons of ``patron_library_id`` (None: anyone in the network)."""
        return await self.queries.availability(title_id, patron_library_id)
