"""Exporting a library's e-book catalogue as MARC21 for its ILS: the full file, and the daily delta (records added,
changed or deleted that day) an ILS loads every night, as the Palace Project does for its libraries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pymarc import Record

from lending.domain.library_catalogue import listed_titles, listing_ended_at
from lending.domain.licensing import License
from lending.domain.marc import CatalogueTitle, ExportContext, deleted_record, title_record
from lending.domain.network import LibraryNetwork
from lending.errors import LibraryNotFound


class MarcExportRepository(Protocol):
    async def network(self) -> LibraryNetwork: ...

    async def licences_for_library(self, library_id: str, network: LibraryNetwork) -> list[License]:
        """Every licence that may serve the library's patrons (a superset is fine: the domain decides)."""

    async def titles(self, title_ids: set[str]) -> list[CatalogueTitle]: ...

    async def titles_changed(self, start: datetime, end: datetime) -> set[str]:
        """Ids of titles whose record changed (or that were withdrawn) in [start, end)."""


@dataclass(frozen=True)
class MarcExportFile:
    library_id: str
    records: list[Record]
    deleted: int


class MarcExport:
    def __init__(self, repository: MarcExportRepository, organisation: str, web_app_url: str) -> None:
        self.repository = repository
        self.organisation = organisation
        self.web_app_url = web_app_url

    async def _context(self, library_id: str) -> tuple[LibraryNetwork, ExportContext]:
        network = await self.repository.network()
        if library_id not in network:
            raise LibraryNotFound(f"no library {library_id}")
        return network, ExportContext(self.organisation, self.web_app_url, network.get(library_id).name)

    async def full(self, library_id: str, now: datetime) -> MarcExportFile:
        """Every title the library's catalogue lists now."""
        network, context = await self._context(library_id)
        licences = await self.repository.licences_for_library(library_id, network)
        listed = listed_titles(network, licences, library_id, now)
        titles = [title for title in await self.repository.titles(listed) if not title.withdrawn]
        records = [title_record(title, context, status="n") for title in sorted(titles, key=lambda t: t.id)]
        return MarcExportFile(library_id, records, 0)

    async def delta(self, library_id: str, start: datetime, end: datetime) -> MarcExportFile:
        """What changed in [start, end): new and changed records, and deletions for titles that left."""
        network, context = await self._context(library_id)
        licences = await self.repository.licences_for_library(library_id, network)
        before = listed_titles(network, licences, library_id, start)
        after = listed_titles(network, licences, library_id, end)
        changed = await self.repository.titles_changed(start, end)
        titles = {
            title.id: title for title in await self.repository.titles((after & changed) | (after - before) | before)
        }
        records: list[Record] = []
        deleted = 0
        for title_id in sorted(after | before):
            title = titles.get(title_id)
            if title is None:
                continue
            still_listed = title_id in after and not title.withdrawn
            withdrawn_earlier = title.withdrawn and title.changed_at is not None and title.changed_at < start
            if not still_listed and title_id in before and not withdrawn_earlier:
                left_at = title.changed_at if title.withdrawn else listing_ended_at(licences, title_id, end)
                records.append(deleted_record(title_id, context, left_at or end))
                deleted += 1
            elif still_listed and (title_id not in before or title_id in changed):
                records.append(title_record(title, context, status="n" if title_id not in before else "c"))
        return MarcExportFile(library_id, records, deleted)
