"""Digitisation of local documents and open titles: what the progress report counts and what an open title is.

Pure rules, no I/O. A province sets each library a target (pages and items by a year); the report counts, per
library and month (Vietnam time), the items and pages *digitised* (scans stored), *recognised* (OCR done for the
whole item), *corrected* (pages whose text staff corrected at least once), *published* (listed in the catalogue)
— and the province's total against the sum of the targets.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from lending.errors import LocalDocumentAccess, TitleIsOnlineOnly, TitleIsOpen
from sachso.kit.errors import InvalidInput

VIETNAM = timezone(timedelta(hours=7))
STAGES = ("digitised", "recognised", "corrected", "published")
TOTAL = "*"  # the row key of the province (or subtree) total


def month_of(moment: datetime) -> str:
    """The calendar month in Vietnam's time, ``YYYY-MM``."""
    return moment.astimezone(VIETNAM).strftime("%Y-%m")


def months_between(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last`` inclusive (``YYYY-MM``)."""
    year, month = map(int, first.split("-"))
    end = tuple(map(int, last.split("-")))
    if (year, month) > end:
        raise InvalidInput("'to' must not be before 'from'")
    found: list[str] = []
    while (year, month) <= end and len(found) < 600:
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


@dataclass(frozen=True)
class StageCounts:
    """Items and pages that reached each stage (in one month, or in total)."""

    items_digitised: int = 0
    pages_digitised: int = 0
    items_recognised: int = 0
    pages_recognised: int = 0
    pages_corrected: int = 0
    items_published: int = 0
    pages_published: int = 0

    def __add__(self, other: StageCounts) -> StageCounts:
        return StageCounts(*(a + b for a, b in zip(self.values(), other.values(), strict=True)))

    def values(self) -> tuple[int, ...]:
        return (self.items_digitised, self.pages_digitised, self.items_recognised, self.pages_recognised,
                self.pages_corrected, self.items_published, self.pages_published)  # fmt: skip


@dataclass(frozen=True)
class Target:
    """What a province expects of a library by the end of ``year`` (pages and items digitised in all)."""

    library_id: str
    year: int
    pages: int
    items: int = 0

    def checked(self) -> Target:
        if not 2000 <= self.year <= 2100:
            raise InvalidInput("a target's year must be between 2000 and 2100")
        if self.pages < 0 or self.items < 0 or (self.pages == 0 and self.items == 0):
            raise InvalidInput("a target needs a positive number of pages or items")
        return self


@dataclass(frozen=True)
class ProgressRow:
    """One library (or the total, ``library_id == TOTAL``) in one month (``month == ""``: the whole window)."""

    library_id: str
    month: str
    counts: StageCounts
    target_pages: int = 0
    target_items: int = 0
    pages_to_date: int = 0  # pages digitised from the beginning to the end of the window
    items_to_date: int = 0

    @property
    def percent_of_target(self) -> float | None:
        if not self.target_pages:
            return None
        return round(100 * self.pages_to_date / self.target_pages, 1)


@dataclass(frozen=True)
class ProgressReport:
    months: list[str]
    rows: list[ProgressRow] = field(default_factory=list)


def progress_report(
    library_ids: list[str],
    months: list[str],
    monthly: Mapping[tuple[str, str], StageCounts],
    before: Mapping[str, StageCounts],
    targets: Mapping[str, Target],
) -> ProgressReport:
    """Rows per library and month, one summary row per library for the window, and the total of them all.

    ``monthly[(library, month)]``: counts in that month; ``before[library]``: counts before the window (for the
    to-date figures against the target); ``targets``: each library's target (those of other years ignored).
    """
    rows: list[ProgressRow] = []
    grand = StageCounts()
    grand_before = StageCounts()
    for library_id in library_ids:
        summary = StageCounts()
        for month in months:
            counts = monthly.get((library_id, month), StageCounts())
            if counts != StageCounts():
                rows.append(ProgressRow(library_id, month, counts))
            summary += counts
        earlier = before.get(library_id, StageCounts())
        target = targets.get(library_id)
        rows.append(ProgressRow(
            library_id, "", summary, target.pages if target else 0, target.items if target else 0,
            earlier.pages_digitised + summary.pages_digitised, earlier.items_digitised + summary.items_digitised,
        ))  # fmt: skip
        grand += summary
        grand_before += earlier
    rows.append(ProgressRow(
        TOTAL, "", grand, sum(t.pages for t in targets.values() if t.library_id in library_ids),
        sum(t.items for t in targets.values() if t.library_id in library_ids),
        grand_before.pages_digitised + grand.pages_digitised, grand_before.items_digitised + grand.items_digitised,
    ))  # fmt: skip
    return ProgressReport(months, rows)


CSV_HEADERS = {
    "vi": ["Tháng", "Thư viện", "Tài liệu số hóa", "Trang số hóa", "Tài liệu đã OCR", "Trang đã OCR",
           "Trang đã hiệu đính", "Tài liệu đã công bố", "Trang đã công bố", "Chỉ tiêu (trang)",
           "Chỉ tiêu (tài liệu)", "Trang số hóa lũy kế", "% chỉ tiêu"],
    "en": ["month", "library", "items_digitised", "pages_digitised", "items_recognised", "pages_recognised",
           "pages_corrected", "items_published", "pages_published", "target_pages", "target_items",
           "pages_to_date", "percent_of_target"],
}  # fmt: skip


def progress_csv(report: ProgressReport, library_names: Mapping[str, str], language: str = "vi") -> str:
    """The report as CSV (UTF-8 with BOM so spreadsheet programs read Vietnamese right)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADERS[language])
    whole = "Cả kỳ" if language == "vi" else "all"
    total = "Tổng cộng" if language == "vi" else "total"
    for row in report.rows:
        name = total if row.library_id == TOTAL else library_names.get(row.library_id, row.library_id)
        percent = row.percent_of_target
        summary = row.month == ""
        writer.writerow([
            row.month or whole, name, *row.counts.values(),
            row.target_pages if summary else "", row.target_items if summary else "",
            row.pages_to_date if summary else "", "" if percent is None or not summary else f"{percent:g}",
        ])  # fmt: skip
    return "\ufeff" + out.getvalue()


# — open titles —


def ensure_may_open(online_only: bool, opening: bool) -> None:
    """A read-online-only title (a rare document, lent as watermarked images) is never opened to everyone: it
    would hand out its unwatermarked original. Staff take the online-only mark off first, deliberately."""
    if opening and online_only:
        raise TitleIsOnlineOnly("this title is read online only with a loan; remove that mark before opening it")


def ensure_access_changed_here(local_document: bool, changing: bool) -> None:
    """Who may read a scanned local document (lent, online only, open) is its description's, kept by the reader,
    which serves it by that and never by lending's tick: changed here, lending and the reader would disagree."""
    if local_document and changing:
        raise LocalDocumentAccess("a local document's access is set in its description (local documents), not here")


def ensure_may_mark_online_only(open_access: bool, online_only: bool) -> None:
    """The same rule from the other side: an open title is served whole to anyone, so marking it read online only
    (watermarked images on loan) would promise what its open copies already broke. Staff close it first."""
    if online_only and open_access:
        raise TitleIsOpen("this title is open to everyone; close it before marking it read online only")


def distinct_folded(words: Iterable[str], limit: int = 50_000) -> list[str]:
    """The full-text terms kept on a title: distinct, in first-seen order, at most ``limit`` (a long book's
    vocabulary is far below that)."""
    return list(dict.fromkeys(word for word in words if word))[:limit]
