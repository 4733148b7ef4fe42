"""Importing MARC21 records from a library's ILS: match each to a title by control number or ISBN, enrich it, and
report what matched, what is new and what was refused and why.

A record matches the title it was matched to before (its control number, 001 with 003, is linked on the first
match), else the one title with one of its ISBNs. A match fills what the title lacks (subjects are added to) and
links the control number. A record that matches nothing is reported as new, and added as a title without licences
only when asked (``create_missing``): the e-book catalogue does not list the ILS's print books by default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from lending.adapters.marc_io import ReadRecord
from lending.domain.marc import ImportedRecord, RecordRefused, TitleFields, enriched, imported_record


@dataclass(frozen=True)
class ExistingTitle:
    id: str
    fields: TitleFields


class MarcImportRepository(Protocol):
    async def title_by_control_number(self, control_number: str) -> ExistingTitle | None: ...

    async def titles_by_isbn(self, isbns: tuple[str, ...]) -> list[ExistingTitle]: ...

    async def enrich(self, title_id: str, fields: TitleFields, control_number: str) -> None:
        """Store the enriched fields and link the control number, in one transaction."""

    async def add_title(self, fields: TitleFields, control_number: str) -> str: ...


@dataclass(frozen=True)
class Matched:
    record: int
    title_id: str
    by: str  # control-number | isbn
    enriched: tuple[str, ...]


@dataclass(frozen=True)
class New:
    record: int
    title: str
    isbns: tuple[str, ...]
    control_number: str
    title_id: str | None = None  # when it was added


@dataclass(frozen=True)
class Refused:
    record: int
    reason: str


@dataclass
class ImportReport:
    matched: list[Matched] = field(default_factory=list)
    new: list[New] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)


class MarcImport:
    def __init__(self, repository: MarcImportRepository) -> None:
        self.repository = repository

    async def run(self, records: Iterable[ReadRecord], *, create_missing: bool = False) -> ImportReport:
        report = ImportReport()
        for read in records:
            if read.record is None:
                report.refused.append(Refused(read.position, read.problem))
                continue
            try:
                imported = imported_record(read.record)
            except RecordRefused as refusal:
                report.refused.append(Refused(read.position, str(refusal)))
                continue
            await self._one(read.position, imported, create_missing, report)
        return report

    async def _one(self, position: int, imported: ImportedRecord, create_missing: bool, report: ImportReport) -> None:
        by = "control-number"
        title = None
        if imported.control_number:
            title = await self.repository.title_by_control_number(imported.control_number)
        if title is None and imported.isbns:
            by = "isbn"
            candidates = await self.repository.titles_by_isbn(imported.isbns)
            if len(candidates) > 1:
                ids = ", ".join(sorted(candidate.id for candidate in candidates))
                report.refused.append(Refused(position, f"its ISBN matches several titles ({ids})"))
                return
            title = candidates[0] if candidates else None
        if title is None:
            created = None
            if create_missing:
                fields = TitleFields(
                    title=imported.title,
                    subtitle=imported.subtitle,
                    authors=imported.authors,
                    language=imported.language or "und",
                    isbn=imported.isbns[0] if imported.isbns else "",
                    publisher=imported.publisher,
                    subjects=imported.subjects,
                    description=imported.description,
                )
                created = await self.repository.add_title(fields, imported.control_number)
            report.new.append(New(position, imported.title, imported.isbns, imported.control_number, created))
            return
        fields = enriched(title.fields, imported)
        await self.repository.enrich(title.id, fields, imported.control_number)
        report.matched.append(Matched(position, title.id, by, fields.changed))
