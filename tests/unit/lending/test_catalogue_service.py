"""The catalogue's writes on the in-memory fakes: publications become titles (and an ISBN record is adopted),
a publisher cannot update another's title, staff records, edits, read-online-only and licences — each in one unit
of work whose events publish only if it commits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lending.domain.licensing import LicenseModel, LicenseTerms
from lending.domain.network import Library, LibraryKind
from lending.errors import LibraryNotFound, LocalDocumentAccess, PublicationOwnerMismatch, TitleIsOpen, TitleNotFound
from lending.service_layer.catalogue import Catalogue, TitleMetadata
from lending.service_layer.catalogue_search import CatalogueSearch
from tests.unit.lending.catalogue_fakes import FakeCatalogueReads
from tests.unit.lending.fakes import FakeUnitOfWork, LendingState, fake_units_of_work

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LIBRARIES = [Library("daklak", "Thư viện tỉnh Đắk Lắk", LibraryKind.PROVINCE)]
KIEU = TitleMetadata(title="Truyện Kiều", authors=("Nguyễn Du",), isbn="978-604-1-00001-1")


@pytest.fixture
def state() -> LendingState:
    return LendingState(libraries=LIBRARIES)


@pytest.fixture
def catalogue(state: LendingState) -> Catalogue:
    return Catalogue(
        fake_units_of_work(state), lambda _: FakeUnitOfWork(state), CatalogueSearch(FakeCatalogueReads(LIBRARIES)),
        clock=lambda: NOW,
    )  # fmt: skip


def published(state: LendingState) -> list[str]:
    return [type(event.payload).__name__ for event in state.published]


async def test_a_publication_becomes_a_title_and_its_update_changes_it(
    catalogue: Catalogue, state: LendingState
) -> None:
    title_id = await catalogue.record_publication_in(
        None, "pub-1", KIEU, publisher_id="nxb-tre", readable=True, media_type="application/epub+zip"
    )
    record = state.title_records[title_id]
    assert (record["title"], record["format"], record["readable"], record["isbn"]) == (
        "Truyện Kiều", "epub", True, "9786041000011",
    )  # fmt: skip
    again = await catalogue.record_publication_in(None, "pub-1", TitleMetadata(title="Truyện Kiều (bản mới)"))
    assert again == title_id
    assert state.title_records[title_id]["title"] == "Truyện Kiều (bản mới)"
    assert published(state) == ["TitleAdded", "TitleUpdated"]


async def test_another_publishers_update_is_refused_and_leaves_nothing(
    catalogue: Catalogue, state: LendingState
) -> None:
    title_id = await catalogue.record_publication_in(None, "pub-1", KIEU, publisher_id="nxb-tre", readable=True)
    with pytest.raises(PublicationOwnerMismatch):
        await catalogue.record_publication_in(None, "pub-1", TitleMetadata(title="Khác"), publisher_id="nxb-kim-dong")
    assert state.title_records[title_id]["title"] == "Truyện Kiều"
    assert published(state) == ["TitleAdded"]


async def test_a_staff_record_is_adopted_by_the_publication_with_its_isbn(
    catalogue: Catalogue, state: LendingState
) -> None:
    record_id = await catalogue.add_title(KIEU, added_by_library_id="daklak")
    assert state.title_records[record_id]["readable"] is False
    assert state.title_records[record_id]["added_by_library_id"] == "daklak"
    adopted = await catalogue.record_publication_in(None, "pub-9", KIEU, publisher_id="nxb-tre", readable=True)
    assert adopted == record_id
    assert state.title_records[record_id]["publication_id"] == "pub-9"
    assert (await FakeUnitOfWork(state).titles.lendable(record_id)) is not None


async def test_edits_read_online_only_withdrawal_and_licences(catalogue: Catalogue, state: LendingState) -> None:
    title_id = await catalogue.add_title(KIEU, publication_id="pub-1")
    await catalogue.edit_title(title_id, TitleMetadata(title="Truyện Kiều", subjects=("Thơ",)))
    assert state.title_records[title_id]["subjects"] == ["Thơ"]
    await catalogue.set_online_only(title_id, True)
    assert state.title_records[title_id]["online_only"] is True
    licence = await catalogue.add_license(title_id, "daklak", LicenseTerms(LicenseModel.ONE_COPY_ONE_USER, 2))
    assert state.licences[licence.id].owner_id == "daklak"
    assert state.title_records[title_id]["library_ids"] == ["daklak"]
    await catalogue.withdraw_publication_in(None, "pub-1")
    assert state.title_records[title_id]["withdrawn"] is True
    with pytest.raises(TitleNotFound):
        await catalogue.edit_title("nope", KIEU)
    with pytest.raises(TitleNotFound):
        await catalogue.set_online_only("nope", True)
    # open to everyone, then marked online only: refused, so no open copy is ever served of a "lent only" title
    await catalogue.set_online_only(title_id, False)
    state.title_records[title_id]["open_access"] = True
    with pytest.raises(TitleIsOpen):
        await catalogue.set_online_only(title_id, True)
    assert state.title_records[title_id]["online_only"] is False
    await catalogue.set_online_only(title_id, False)  # taking the mark off an open title is fine
    state.title_records[title_id]["local_document"] = True  # its description (in the reader) decides, not staff
    with pytest.raises(LocalDocumentAccess):
        await catalogue.set_online_only(title_id, True)
    assert state.title_records[title_id]["online_only"] is False
    with pytest.raises(LibraryNotFound):
        await catalogue.add_license(title_id, "atlantis", LicenseTerms(LicenseModel.ONE_COPY_ONE_USER, 1))
    assert len(state.licences) == 1  # the refused licence left nothing behind
