"""What the catalogue shows for a title: a copy free, a wait of about N days, or nothing to borrow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lending.domain.availability import Shelf, free_for, title_availability
from lending.domain.licensing import License, LicenseModel, LicenseTerms
from lending.domain.network import Library, LibraryKind, LibraryNetwork, Sharing
from lending.domain.titles import book_format

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TWO_WEEKS = timedelta(days=14)
NETWORK = LibraryNetwork(
    [
        Library("daklak", "Thư viện tỉnh Đắk Lắk", LibraryKind.PROVINCE),
        Library("eakar", "Thư viện huyện Ea Kar", LibraryKind.DISTRICT, "daklak"),
        Library("krongpac", "Thư viện huyện Krông Pắc", LibraryKind.DISTRICT, "daklak"),
    ]
)


def licence(owner: str, concurrency: int | None, in_use: int = 0, sharing: Sharing = Sharing.SUBTREE) -> License:
    model = LicenseModel.ONE_COPY_ONE_USER if concurrency is not None else LicenseModel.SIMULTANEOUS_USE
    terms = LicenseTerms(model, concurrency=concurrency)
    return License(f"{owner}-{concurrency}", "t1", owner, sharing, terms, NOW - timedelta(days=30), in_use=in_use)


def test_a_free_copy_is_available_for_the_library_and_for_visitors() -> None:
    licences = [licence("daklak", 2, in_use=1)]
    for library in ("eakar", None):
        found = title_availability(NETWORK, licences, 0, library, NOW, TWO_WEEKS)
        assert (found.state, found.copies, found.available) == (Shelf.AVAILABLE, 2, 1)


def test_every_copy_out_means_a_wait_of_whole_loan_rounds() -> None:
    licences = [licence("daklak", 2, in_use=2)]
    found = title_availability(NETWORK, licences, 3, "eakar", NOW, TWO_WEEKS)
    assert (found.state, found.holds, found.wait_days) == (Shelf.WAIT, 3, 28)  # 4th in line, 2 copies: 2 rounds


def test_no_licence_serving_her_library_means_nothing_to_borrow() -> None:
    own = [licence("eakar", 1, sharing=Sharing.OWN)]
    assert title_availability(NETWORK, own, 0, "krongpac", NOW, TWO_WEEKS).state is Shelf.NONE
    assert title_availability(NETWORK, own, 0, None, NOW, TWO_WEEKS).state is Shelf.AVAILABLE  # someone can
    assert title_availability(NETWORK, [], 0, None, NOW, TWO_WEEKS).state is Shelf.NONE


def test_unlimited_licences_are_always_available() -> None:
    found = title_availability(NETWORK, [licence("daklak", None, in_use=500)], 0, "eakar", NOW, TWO_WEEKS)
    assert (found.state, found.copies, found.available) == (Shelf.AVAILABLE, None, None)
    assert free_for(NETWORK, [licence("daklak", None)], "eakar", NOW)


def test_free_for_checks_who_the_licence_serves() -> None:
    own = [licence("eakar", 1, sharing=Sharing.OWN)]
    assert free_for(NETWORK, own, "eakar", NOW)
    assert not free_for(NETWORK, own, "krongpac", NOW)
    assert free_for(NETWORK, own, None, NOW)
    assert not free_for(NETWORK, [licence("daklak", 1, in_use=1)], None, NOW)


def test_book_formats() -> None:
    assert book_format("application/epub+zip") == "epub"
    assert book_format("application/pdf") == "pdf"
    assert book_format("image/tiff") == ""
