"""Circulation reports for the provincial library and its members: per library, per title, per month.

Figures: loans started, holds placed, unique borrowers, turnaways (a patron wanted to borrow and no copy was
free). Months are calendar months in Vietnam's time (UTC+7). A report covers the libraries the caller manages.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from lending.adapters.store import Document, LendingStore

TIME_ZONE = "+07:00"


@dataclass(frozen=True)
class ReportRow:
    month: str
    library_id: str
    title_id: str
    title: str
    loans: int
    holds: int
    unique_borrowers: int
    turnaways: int


class Reports:
    def __init__(self, store: LendingStore) -> None:
        self.store = store

    async def _counts(
        self,
        collection: Any,
        query: tuple[list[str], datetime, datetime],
        *,
        time_field: str,
        library_field: str = "library_id",
        by_title: bool,
        distinct: str | None = None,
    ) -> dict[tuple[str, str, str], int]:
        """Counts (or distinct ``distinct`` values) per month, library and optionally title."""
        library_ids, start, end = query
        group: Document = {
            "_id": {
                "month": {"$dateToString": {"format": "%Y-%m", "date": f"${time_field}", "timezone": TIME_ZONE}},
                "library": f"${library_field}",
                "title": "$title_id" if by_title else "",
            },
            "count": {"$sum": 1},
        }
        if distinct:
            group["distinct"] = {"$addToSet": f"${distinct}"}
        match = {library_field: {"$in": library_ids}, time_field: {"$gte": start, "$lt": end}}
        cursor = await collection.aggregate([{"$match": match}, {"$group": group}])
        counts: dict[tuple[str, str, str], int] = {}
        async for row in cursor:
            key = (row["_id"]["month"], row["_id"]["library"], row["_id"]["title"])
            counts[key] = len(row["distinct"]) if distinct else row["count"]
        return counts

    async def circulation(
        self, library_ids: list[str], start: datetime, end: datetime, *, by_title: bool = False
    ) -> list[ReportRow]:
        query = (library_ids, start, end)
        loans = await self._counts(self.store.loans, query, time_field="starts_at", by_title=by_title)
        borrowers = await self._counts(
            self.store.loans, query, time_field="starts_at", by_title=by_title, distinct="patron_id"
        )
        holds = await self._counts(
            self.store.holds, query, time_field="placed_at", library_field="patron_library_id", by_title=by_title
        )
        turnaways = await self._counts(self.store.turnaways, query, time_field="at", by_title=by_title)
        keys = sorted(set(loans) | set(holds) | set(turnaways))
        titles: dict[str, str] = defaultdict(str)
        if by_title:
            ids = list({key[2] for key in keys})
            async for title in self.store.titles.find({"_id": {"$in": ids}}, {"title": 1}):
                titles[title["_id"]] = title.get("title", "")
        return [
            ReportRow(
                month=month,
                library_id=library,
                title_id=title_id,
                title=titles[title_id],
                loans=loans.get((month, library, title_id), 0),
                holds=holds.get((month, library, title_id), 0),
                unique_borrowers=borrowers.get((month, library, title_id), 0),
                turnaways=turnaways.get((month, library, title_id), 0),
            )
            for month, library, title_id in keys
        ]


VIETNAMESE_HEADERS = {
    "month": "Tháng",
    "library_id": "Thư viện",
    "title_id": "Mã sách",
    "title": "Tên sách",
    "loans": "Lượt mượn",
    "holds": "Lượt đặt trước",
    "unique_borrowers": "Số bạn đọc",
    "turnaways": "Lượt hết bản",
}


def to_csv(
    rows: list[ReportRow], *, by_title: bool, language: str = "en", library_names: dict[str, str] | None = None
) -> str:
    """The report as CSV: field ids as headers (``en``, for programs), or Vietnamese headers and library names
    (``vi``, for people opening it in a spreadsheet; with a byte-order mark so Excel reads UTF-8)."""
    identity = ["month", "library_id", *(["title_id", "title"] if by_title else [])]
    columns = [*identity, "loans", "holds", "unique_borrowers", "turnaways"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\r\n")
    if language == "vi":
        buffer.write("\ufeff")
        writer.writerow(VIETNAMESE_HEADERS)
    else:
        writer.writeheader()
    names = library_names or {}
    for row in rows:
        values = asdict(row)
        if language == "vi":
            values["library_id"] = names.get(row.library_id, row.library_id)
        writer.writerow(values)
    return buffer.getvalue()
