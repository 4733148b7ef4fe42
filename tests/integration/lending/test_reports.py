"""Circulation reports per library and title, JSON and CSV, scoped to the libraries the caller manages."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import pytest

from lending.errors import NoCopyAvailable
from tests.integration.lending.conftest import Lending

pytestmark = pytest.mark.integration


async def test_reports_count_loans_holds_borrowers_and_turnaways(lending: Lending) -> None:
    title_id = await lending.title_with_copies(title="Truyện Kiều", copies=1)
    ana = await lending.active_patron("ana", library_id="buonmathuot")
    binh = await lending.active_patron("binh", library_id="thpt-bmt")
    chi = await lending.active_patron("chi", library_id="eakar")
    loan = await lending.circulation.checkout(ana, title_id)
    with pytest.raises(NoCopyAvailable):
        await lending.circulation.checkout(binh, title_id)
    await lending.circulation.place_hold(binh, title_id)
    await lending.circulation.return_loan(loan.id, ana)
    await lending.circulation.checkout(binh, title_id)
    other = await lending.title_with_copies(title="Tắt đèn", copies=3)
    await lending.circulation.checkout(chi, other)

    month = datetime.now(timezone(timedelta(hours=7))).strftime("%Y-%m")  # months are in Vietnam time
    params = {"library": "buonmathuot", "from": month, "to": month}
    admin = await lending.staff_headers("admin.bmt")
    rows = (await lending.http.get("/v1/reports/circulation", params=params, headers=admin)).json()
    by_library = {row["library_id"]: row for row in rows}
    assert set(by_library) == {"buonmathuot", "thpt-bmt"}  # her library and the school below, not Ea Kar
    assert by_library["buonmathuot"]["loans"] == 1
    assert by_library["thpt-bmt"] | {"month": month} == {
        "month": month,
        "library_id": "thpt-bmt",
        "title_id": None,
        "title": None,
        "loans": 1,
        "holds": 1,
        "unique_borrowers": 1,
        "turnaways": 1,
    }

    librarian = await lending.staff_headers("thu.bmt")
    mine = (await lending.http.get("/v1/reports/circulation", params=params, headers=librarian)).json()
    assert [row["library_id"] for row in mine] == ["buonmathuot"]  # a librarian sees her own library
    exported = await lending.http.get(
        "/v1/reports/circulation", params={**params, "by": "title", "format": "csv"}, headers=admin
    )
    assert exported.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert {row["title"] for row in table} == {"Truyện Kiều"}
    assert sum(int(row["loans"]) for row in table) == 2

    eakar = {"library": "eakar", "from": month, "to": month}
    assert (await lending.http.get("/v1/reports/circulation", params=eakar, headers=admin)).status_code == 403
    backwards = {**params, "from": "2026-12", "to": "2026-01"}
    assert (await lending.http.get("/v1/reports/circulation", params=backwards, headers=admin)).status_code == 400
