"""The catalogue's search and title pages on the in-memory fakes: availability per title from one read per page,
for a library's patrons or for a visitor; filters, facets and pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lending.domain.availability import Shelf
from lending.domain.licensing import License, LicenseModel, LicenseTerms
from lending.domain.network import Library, LibraryKind, Sharing
from lending.errors import LibraryNotFound, TitleNotFound
from lending.service_layer.catalogue_search import CatalogueSearch
from tests.unit.lending.catalogue_fakes import FakeCatalogueReads

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LIBRARIES = [
    Library("daklak", "Thư viện tỉnh Đắk Lắk", LibraryKind.PROVINCE),
    Library("eakar", "Thư viện huyện Ea Kar", LibraryKind.DISTRICT, "daklak"),
]


def licence(title_id: str, owner: str, copies: int, in_use: int = 0, sharing: Sharing = Sharing.SUBTREE) -> License:
    terms = LicenseTerms(LicenseModel.ONE_COPY_ONE_USER, concurrency=copies)
    return License(f"{title_id}-{owner}", title_id, owner, sharing, terms, NOW - timedelta(days=9), in_use=in_use)


@pytest.fixture
def reads() -> FakeCatalogueReads:
    reads = FakeCatalogueReads(LIBRARIES)
    reads.add_title("de-men", "Dế Mèn phiêu lưu ký", authors=["Tô Hoài"])
    reads.add_title("dao-hoang", "Đảo hoang", authors=["Tô Hoài"], book_format="pdf")
    reads.add_title("a-phu", "Vợ chồng A Phủ", authors=["Tô Hoài"])
    reads.add_title("mien-tay", "Miền Tây", authors=["Tô Hoài"])
    reads.add_title("ca-dao", "Ca dao", authors=["Tô Hoài"], readable=False, book_format="")
    reads.add_licence(licence("de-men", "daklak", 2))
    reads.add_licence(licence("dao-hoang", "daklak", 1, in_use=1))
    reads.add_licence(licence("mien-tay", "eakar", 1, sharing=Sharing.OWN))
    reads.add_licence(licence("ca-dao", "daklak", 3))  # a licence, but no file to lend
    reads.waiting["dao-hoang"] = 1
    return reads


async def test_each_result_says_whether_it_can_be_borrowed(reads: FakeCatalogueReads) -> None:
    search = CatalogueSearch(reads, clock=lambda: NOW)
    visitor = await search.search("to hoai")
    states = {item["_id"]: visitor.availability[item["_id"]] for item in visitor.items}
    assert states["de-men"].state is Shelf.AVAILABLE
    assert (states["dao-hoang"].state, states["dao-hoang"].wait_days) == (Shelf.WAIT, 28)
    assert states["a-phu"].state is Shelf.NONE
    assert states["ca-dao"].state is Shelf.NONE  # licensed, but nothing to read
    assert states["mien-tay"].state is Shelf.AVAILABLE  # someone in the network can borrow it
    assert reads.availability_queries == 1  # the whole page from one read
    for_daklak = await search.search("to hoai", for_library="daklak")
    assert for_daklak.availability["mien-tay"].state is Shelf.NONE  # Ea Kar lends it to its own patrons only
    assert (await search.availability("mien-tay", "eakar")).state is Shelf.AVAILABLE


async def test_filters_facets_and_pages(reads: FakeCatalogueReads) -> None:
    search = CatalogueSearch(reads, clock=lambda: NOW)
    pdfs = await search.search(book_format="pdf")
    assert [item["_id"] for item in pdfs.items] == ["dao-hoang"]
    assert pdfs.facets["format"] == {"epub": 3, "pdf": 1, "": 1}  # a facet ignores its own filter
    now = await search.search(available_now=True, for_library="daklak")
    assert [item["_id"] for item in now.items] == ["de-men"]
    anyone = await search.search(available_now=True)
    assert {item["_id"] for item in anyone.items} == {"de-men", "mien-tay"}
    first, second = await search.search(size=3), await search.search(size=3, page=2)
    assert (first.total, len(first.items), len(second.items)) == (5, 3, 2)
    assert [item["title"] for item in first.items + second.items] == sorted(
        document["title"] for document in reads.titles.values()
    )
    assert (await search.search("dế mèn")).total == (await search.search("de men")).total == 1


async def test_unknown_titles_and_libraries_are_problems(reads: FakeCatalogueReads) -> None:
    search = CatalogueSearch(reads, clock=lambda: NOW)
    with pytest.raises(TitleNotFound):
        await search.title("nope")
    with pytest.raises(LibraryNotFound):
        await search.search(for_library="atlantis")
    with pytest.raises(LibraryNotFound):
        await search.search(available_now=True, for_library="atlantis")
