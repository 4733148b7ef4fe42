"""Staff screens' reads and the circulation reports on the in-memory fakes (months in Vietnam's time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lending.domain.holds import Hold
from lending.domain.loans import ACTIVE, RETURNED, LendableTitle, Loan
from lending.domain.network import Library, LibraryKind
from lending.domain.patrons import CardStatus, Patron
from lending.domain.policy import LendingPolicy
from lending.errors import InvalidNetwork
from lending.service_layer.directory import Directory
from lending.service_layer.reports import ReportRow, Reports, to_csv
from sachso.kit.errors import Conflict
from tests.unit.lending.fakes import LendingState, fake_units_of_work

DAKLAK = Library("daklak", "Thư viện tỉnh Đắk Lắk", LibraryKind.PROVINCE, code="DL")
EAKAR = Library("eakar", "Thư viện huyện Ea Kar", LibraryKind.DISTRICT, "daklak", code="EK")
# 31 March, 18:00 UTC is 1 April, 01:00 in Vietnam: it counts for April
MARCH_LATE = datetime(2026, 3, 31, 16, 0, tzinfo=UTC)
APRIL_EARLY = datetime(2026, 3, 31, 18, 0, tzinfo=UTC)


def patron(patron_id: str, library_id: str = "daklak", status: CardStatus = CardStatus.ACTIVE) -> Patron:
    return Patron(patron_id, library_id, f"Bạn đọc {patron_id}", f"{patron_id}@example.vn", "vi", status)


def loan(loan_id: str, patron_id: str, title_id: str, at: datetime, library_id: str = "daklak") -> Loan:
    return Loan(
        loan_id, patron_id, library_id, title_id, f"pub-{title_id}", "lic", at, at + timedelta(days=14), 0, ACTIVE
    )


@pytest.fixture
def state() -> LendingState:
    state = LendingState(libraries=[DAKLAK, EAKAR])
    state.patrons = {p.id: p for p in (patron("an"), patron("binh"), patron("chi", "eakar"))}
    state.titles = {t: LendableTitle(t, f"pub-{t}") for t in ("kieu", "lucvan")}
    state.title_names = {"kieu": "Truyện Kiều", "lucvan": "Lục Vân Tiên"}
    return state


async def test_adding_a_library_checks_the_tree_and_the_id(state: LendingState) -> None:
    directory = Directory(fake_units_of_work(state))
    await directory.add_library(
        Library("krongpac", "Thư viện xã Krông Pắc", LibraryKind.COMMUNE, "daklak"), "KP", LendingPolicy()
    )
    assert [library.id for library in await directory.libraries()] == ["daklak", "eakar", "krongpac"]
    assert (await directory.library_names())["krongpac"] == "Thư viện xã Krông Pắc"
    with pytest.raises(Conflict):
        await directory.add_library(Library("eakar", "again", LibraryKind.COMMUNE, "daklak"), "E2", LendingPolicy())
    with pytest.raises(InvalidNetwork):
        await directory.add_library(Library("lost", "Mồ côi", LibraryKind.COMMUNE, "nowhere"), "LO", LendingPolicy())
    assert "lost" not in await directory.network()


async def test_a_library_sees_its_own_patrons_and_applications(state: LendingState) -> None:
    state.patrons["dung"] = patron("dung", status=CardStatus.PENDING_APPROVAL)
    state.patrons["em"] = patron("em", status=CardStatus.PENDING_APPROVAL)
    state.applied_at = {"em": MARCH_LATE, "dung": APRIL_EARLY}
    directory = Directory(fake_units_of_work(state))
    assert [p.id for p in await directory.applications("daklak", CardStatus.PENDING_APPROVAL)] == ["em", "dung"]
    assert await directory.patron_of("eakar", "an") is None
    found = await directory.patron_of("daklak", "an")
    assert found is not None
    assert found.display_name == "Bạn đọc an"


async def test_a_librarys_latest_loans_name_title_and_borrower(state: LendingState) -> None:
    state.loans = {
        "l1": loan("l1", "an", "kieu", MARCH_LATE),
        "l2": loan("l2", "binh", "lucvan", APRIL_EARLY),
        "l3": loan("l3", "chi", "kieu", APRIL_EARLY, library_id="eakar"),
    }
    shown = await Directory(fake_units_of_work(state)).library_loans("daklak", ACTIVE)
    assert [(row.loan.id, row.title, row.borrower.id if row.borrower else None) for row in shown] == [
        ("l2", "Lục Vân Tiên", "binh"),
        ("l1", "Truyện Kiều", "an"),
    ]


async def test_reports_count_per_vietnamese_month_library_and_title(state: LendingState) -> None:
    state.loans = {
        "l1": loan("l1", "an", "kieu", MARCH_LATE),
        "l2": loan("l2", "an", "lucvan", APRIL_EARLY),
        "l3": loan("l3", "binh", "kieu", APRIL_EARLY + timedelta(days=2)),
        "l4": loan("l4", "chi", "kieu", APRIL_EARLY, library_id="eakar"),
    }
    state.loans["l1"] = state.loans["l1"].__class__(**{**vars(state.loans["l1"]), "status": RETURNED})
    state.holds = {
        "h1": Hold("h1", "chi", "eakar", "kieu", APRIL_EARLY),
        "h2": Hold("h2", "an", "daklak", "kieu", APRIL_EARLY),
    }
    state.turnaways = [("binh", "daklak", "lucvan", APRIL_EARLY)]
    reports = Reports(fake_units_of_work(state))
    start, end = datetime(2026, 2, 28, 17, 0, tzinfo=UTC), datetime(2026, 4, 30, 17, 0, tzinfo=UTC)

    rows = await reports.circulation(["daklak"], start, end)
    assert rows == [
        ReportRow("2026-03", "daklak", "", "", loans=1, holds=0, unique_borrowers=1, turnaways=0),
        ReportRow("2026-04", "daklak", "", "", loans=2, holds=1, unique_borrowers=2, turnaways=1),
    ]
    by_title = await reports.circulation(["daklak", "eakar"], APRIL_EARLY, end, by_title=True)
    assert [(r.library_id, r.title, r.loans, r.holds, r.turnaways) for r in by_title] == [
        ("daklak", "Truyện Kiều", 1, 1, 0),
        ("daklak", "Lục Vân Tiên", 1, 0, 1),
        ("eakar", "Truyện Kiều", 1, 1, 0),
    ]
    assert await reports.circulation(["daklak"], end, end + timedelta(days=30)) == []
    assert to_csv(rows, by_title=False, language="vi", library_names={"daklak": "Đắk Lắk"}).startswith(
        "\ufeffTháng,Thư viện,Lượt mượn"
    )
