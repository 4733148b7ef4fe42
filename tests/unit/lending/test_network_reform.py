"""The network after the 2025 reform: kinds, any depth, moves, merges, district migration, groups."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from lending.domain.licensing import License, LicenseModel, LicenseTerms, lending_order
from lending.domain.network import Library, LibraryGroup, LibraryKind, LibraryNetwork, Sharing
from lending.errors import InvalidNetwork, LibraryNotFound
from lending.service_layer.network_admin import NetworkAdmin
from sachso.kit.errors import Forbidden, NotFound, PreconditionFailed
from tests.unit.lending.network_fakes import FakeNetworkRepository, FakeNetworkTransactions

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
K = LibraryKind

LIBRARIES = [
    Library("daklak", "Thư viện tỉnh Đắk Lắk", K.PROVINCE, code="DL"),
    Library("tan-lap", "Thư viện phường Tân Lập", K.COMMUNE, "daklak", code="TL"),
    Library("thpt-tan-lap", "Thư viện THPT Tân Lập", K.SCHOOL, "tan-lap", code="TTL"),
    Library("doc-sach-ea", "Điểm đọc sách thôn Ea", K.COMMUNITY, "thpt-tan-lap", code="DSE"),  # depth 4
    Library("thcs-ea-kar", "Thư viện THCS Ea Kar", K.SCHOOL, "daklak", code="TEK"),
    Library("tu-sach-hoa", "Tủ sách tư nhân Hoa", K.PRIVATE, "daklak", code="TSH"),
    Library("krongpac", "Thư viện huyện Krông Pắc", K.DISTRICT, "daklak", code="KP"),  # before the reform
    Library("phuyen", "Thư viện tỉnh Phú Yên", K.PROVINCE, code="PY"),
    Library("thpt-tuy-hoa", "Thư viện THPT Tuy Hòa", K.SCHOOL, "phuyen", code="TTH"),
]


def network(*extra: Library, groups: tuple[LibraryGroup, ...] = ()) -> LibraryNetwork:
    return LibraryNetwork([*LIBRARIES, *extra], groups)


def test_any_depth_and_every_kind() -> None:
    tree = network()
    assert tree.lineage("doc-sach-ea") == ["doc-sach-ea", "thpt-tan-lap", "tan-lap", "daklak"]
    assert {library.id for library in tree.roots()} == {"daklak", "phuyen"}
    assert tree.serves(owner_id="daklak", sharing=Sharing.SUBTREE, patron_library_id="doc-sach-ea")
    assert not tree.serves(owner_id="daklak", sharing=Sharing.SUBTREE, patron_library_id="thpt-tuy-hoa")


def test_no_new_district_and_no_loop() -> None:
    with pytest.raises(InvalidNetwork, match="no district level since 1 July 2025"):
        network().with_library(Library("eakar", "Ea Kar", K.DISTRICT, "daklak", code="EK"))
    with pytest.raises(InvalidNetwork, match="below itself"):
        network().moved("tan-lap", "doc-sach-ea")
    with pytest.raises(InvalidNetwork, match="loop"):
        LibraryNetwork(
            [Library("p", "P", K.PROVINCE), Library("a", "A", K.SCHOOL, "b"), Library("b", "B", K.SCHOOL, "a")]
        )
    with pytest.raises(InvalidNetwork, match="prefix TL is taken by tan-lap"):
        network().with_library(Library("x", "X", K.SCHOOL, "daklak", code="tl"))


def test_move_keeps_the_subtree() -> None:
    moved = network().moved("thpt-tan-lap", "thcs-ea-kar")
    assert moved.lineage("doc-sach-ea") == ["doc-sach-ea", "thpt-tan-lap", "thcs-ea-kar", "daklak"]
    with pytest.raises(InvalidNetwork, match="merge its province"):
        network().moved("phuyen", "daklak")


def test_merge_puts_one_province_below_the_other() -> None:
    merged = network().merged("phuyen", "daklak")
    assert merged.lineage("thpt-tuy-hoa") == ["thpt-tuy-hoa", "phuyen", "daklak"]
    assert merged.serves(owner_id="daklak", sharing=Sharing.SUBTREE, patron_library_id="thpt-tuy-hoa")
    assert [library.id for library in merged.roots()] == ["daklak"]
    with pytest.raises(InvalidNetwork, match="not the provincial library"):
        merged.merged("thpt-tuy-hoa", "daklak")


def test_merge_refuses_clashing_card_prefixes() -> None:
    clash = Library("song-hinh", "Thư viện xã Sông Hinh", K.COMMUNE, "phuyen", code="TL")
    tree = LibraryNetwork([*LIBRARIES, clash])  # two networks hosted apart may have chosen the same prefix
    with pytest.raises(InvalidNetwork, match="TL: song-hinh, tan-lap"):
        tree.merged("phuyen", "daklak")


def test_a_group_by_kind_follows_the_network() -> None:
    schools = LibraryGroup("truong-hoc", "Mọi thư viện trường học", "daklak", kinds=frozenset({K.SCHOOL}))
    tree = network(groups=(schools,))
    assert tree.group_members("truong-hoc") == {"thpt-tan-lap", "thcs-ea-kar"}
    grown = tree.with_library(Library("thpt-moi", "THPT Mới", K.SCHOOL, "tan-lap", code="TM"))
    assert grown.group_members("truong-hoc") == {"thpt-tan-lap", "thcs-ea-kar", "thpt-moi"}
    assert "thpt-tuy-hoa" not in grown.group_members("truong-hoc")  # another province's school
    merged = grown.merged("phuyen", "daklak")
    assert "thpt-tuy-hoa" in merged.group_members("truong-hoc")  # one province now


def test_a_pool_shared_with_a_group_serves_its_members_after_their_own_line() -> None:
    schools = LibraryGroup("truong-hoc", "Mọi thư viện trường học", "daklak", kinds=frozenset({K.SCHOOL}))
    tree = network(groups=(schools,))
    terms = LicenseTerms(LicenseModel.ONE_COPY_ONE_USER, concurrency=1)
    by_group = License("g", "t", "tu-sach-hoa", Sharing.GROUP, terms, NOW, group_id="truong-hoc")
    own_line = License("o", "t", "tan-lap", Sharing.SUBTREE, terms, NOW)
    assert [lic.id for lic in lending_order(tree, [by_group, own_line], "thpt-tan-lap", NOW)] == ["o", "g"]
    assert lending_order(tree, [by_group], "tan-lap", NOW) == []  # a commune is not a school
    assert [lic.id for lic in lending_order(tree, [by_group], "tu-sach-hoa", NOW)] == ["g"]  # its own patrons


@pytest.fixture
def repository() -> FakeNetworkRepository:
    terms = LicenseTerms(LicenseModel.ONE_COPY_ONE_USER, concurrency=2)
    return FakeNetworkRepository(LIBRARIES, [License("lic", "t", "tu-sach-hoa", Sharing.OWN, terms, NOW)])


@pytest.fixture
def admin(repository: FakeNetworkRepository) -> NetworkAdmin:
    return NetworkAdmin(FakeNetworkTransactions(repository), clock=lambda: NOW)


async def test_migrate_districts(admin: NetworkAdmin, repository: FakeNetworkRepository) -> None:
    plan = await admin.migrate_districts({}, K.COMMUNE, by="op", dry_run=True)
    assert plan == {"krongpac": K.COMMUNE}
    assert repository.libraries["krongpac"].kind is K.DISTRICT  # dry run
    with pytest.raises(InvalidNetwork, match="not district libraries: tan-lap"):
        await admin.migrate_districts({"tan-lap": K.SCHOOL}, by="op")
    with pytest.raises(InvalidNetwork, match="provincial library stays one"):
        await admin.migrate_districts({}, K.PROVINCE, by="op")
    assert await admin.migrate_districts({"krongpac": K.SPECIALISED}, by="op") == {"krongpac": K.SPECIALISED}
    assert repository.libraries["krongpac"] == replace(LIBRARIES[6], kind=K.SPECIALISED)
    assert repository.libraries["krongpac"].parent_id == "daklak"
    assert [(c.action, c.subject_id, dict(c.detail)) for c in repository.log] == [
        ("kind-migrated", "krongpac", {"from": "district", "to": "specialised"})
    ]
    assert await admin.migrate_districts({}, by="op") == {}  # twice is harmless


async def test_move_merge_and_recode(admin: NetworkAdmin, repository: FakeNetworkRepository) -> None:
    await admin.move_library("thpt-tan-lap", "daklak", by="admin")
    assert repository.libraries["thpt-tan-lap"].parent_id == "daklak"
    with pytest.raises(LibraryNotFound):
        await admin.merge_provinces("nowhere", "daklak", by="admin")
    await admin.set_code("thpt-tuy-hoa", "tty", by="admin")
    assert repository.libraries["thpt-tuy-hoa"].code == "TTY"
    await admin.merge_provinces("phuyen", "daklak", by="admin")
    assert repository.libraries["phuyen"].parent_id == "daklak"
    assert [c.action for c in await admin.changes()] == ["merged", "code-changed", "moved"]


async def test_a_merge_needs_both_provinces(admin: NetworkAdmin, repository: FakeNetworkRepository) -> None:
    await admin.set_code("thpt-tuy-hoa", "tty", by="op")
    with pytest.raises(Forbidden):
        await admin.merge_provinces("phuyen", "daklak", by="x", for_province="tan-lap")
    assert await admin.merge_provinces("phuyen", "daklak", by="an", for_province="daklak") is None
    assert await admin.merge_provinces("phuyen", "daklak", by="an", for_province="daklak") is None  # once is enough
    assert repository.libraries["phuyen"].parent_id is None
    merged = await admin.merge_provinces("phuyen", "daklak", by="hoa", for_province="phuyen")
    assert merged is not None
    assert merged.parent_id == "daklak"
    assert [(c.action, c.by) for c in await admin.changes()][:3] == [
        ("merged", "hoa"),
        ("merge-agreed", "hoa"),
        ("merge-agreed", "an"),
    ]


async def test_failed_use_case_leaves_nothing(admin: NetworkAdmin, repository: FakeNetworkRepository) -> None:
    with pytest.raises(InvalidNetwork):
        await admin.move_library("daklak", "tan-lap", by="admin")
    assert repository.libraries["daklak"].parent_id is None
    assert repository.log == []


async def test_groups_and_sharing(admin: NetworkAdmin, repository: FakeNetworkRepository) -> None:
    with pytest.raises(InvalidNetwork, match="nowhere not in the network"):
        await admin.define_group(LibraryGroup("g", "G", "daklak", members=frozenset({"nowhere"})), by="a")
    with pytest.raises(InvalidNetwork, match="names no kind"):
        LibraryGroup("g", "G", "daklak")
    schools = LibraryGroup("truong-hoc", "Trường học", "daklak", kinds=frozenset({K.SCHOOL}))
    await admin.define_group(schools, by="admin")
    with pytest.raises(InvalidNetwork, match="name a group exactly"):
        await admin.share_pool("lic", Sharing.GROUP, None, by="admin")
    with pytest.raises(InvalidNetwork, match="no library group other"):
        await admin.share_pool("lic", Sharing.GROUP, "other", by="admin")
    with pytest.raises(NotFound):
        await admin.share_pool("nolic", Sharing.OWN, None, by="admin")
    shared = await admin.share_pool("lic", Sharing.GROUP, "truong-hoc", by="admin")
    assert (shared.sharing, shared.group_id) == (Sharing.GROUP, "truong-hoc")
    with pytest.raises(PreconditionFailed, match="1 licence pools are shared"):
        await admin.remove_group("truong-hoc", by="admin")
    await admin.share_pool("lic", Sharing.SUBTREE, None, by="admin")
    await admin.remove_group("truong-hoc", by="admin")
    assert repository.groups == {}
