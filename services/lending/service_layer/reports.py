"""Circulation reports for the provincial library and its members: per library, per title, per month.

Figures: loans started, holds placed, unique borrowers, turnaways (a patron wanted to borrow and no copy was
free). Months are calendar months in Vietnam's time (UTC+7). A report covers the libraries the caller manages.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from datetime import datetime

from lending.service_layer.unit_of_work import LendingUnitOfWork, UnitOfWorkFactory


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
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self.uow = uow

    async def circulation(
        self, library_ids: list[str], start: datetime, end: datetime, *, by_title: bool = False
    ) -> list[ReportRow]:
        async def work(uow: LendingUnitOfWork) -> list[ReportRow]:
            figures = uow.figures
            loans = await figures.loans_started(library_ids, start, end, by_title=by_title)
            borrowers = await figures.borrowers(library_ids, start, end, by_title=by_title)
            holds = await figures.holds_placed(library_ids, start, end, by_title=by_title)
            turnaways = await figures.turnaways(library_ids, start, end, by_title=by_title)
            keys = sorted(set(loans) | set(holds) | set(turnaways))
            titles = await uow.titles.names([key[2] for key in keys]) if by_title else {}
            return [
                ReportRow(
                    month=month,
                    library_id=library,
                    title_id=title_id,
                    title=titles.get(title_id, ""),
                    loans=loans.get((month, library, title_id), 0),
                    holds=holds.get((month, library, title_id), 0),
                    unique_borrowers=borrowers.get((month, library, title_id), 0),
                    turnaways=turnaways.get((month, library, title_id), 0),
                )
                for month, library, title_id in keys
            ]

        return await self.uow().run(work)


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
