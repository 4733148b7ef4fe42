"""The library tree, sharing rules and the licence choice rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lending.domain.holds import Hold, HoldState
from lending.domain.licensing import (
    License,
    LicenseModel,
    LicenseTerms,
    a_copy_may_be_free,
    copies_for,
    copy_choice,
    lending_order,
)
from lending.domain.network import Library, LibraryKind, LibraryNetwork, Sharing
from lending.errors import InvalidLicenseTerms, InvalidNetwork

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture
def network() -> LibraryNetwork:
    return LibraryNetwork(
        [
            Library("daklak", "Thư viện tỉnh Đắk Lắk", LibraryKind.PROVINCE),
            Library("buonmathuot", "Thư viện TP Buôn Ma Thuột", LibraryKind.DISTRICT, "daklak"),
            Library("eakar", "Thư viện huyện Ea Kar", LibraryKind.DISTRICT, "daklak"),
            Library("thpt-bmt", "Thư viện THPT Buôn Ma Thuột", LibraryKind.SCHOOL, "buonmathuot"),
        ]
    )


def lic(
    owner: str,
    *,
    sharing: Sharing = Sharing.SUBTREE,
    terms: LicenseTerms | None = None,
    in_use: int = 0,
    checkouts_left: int | None = None,
    acquired: int = 0,
    ident: str = "",
) -> License:
    return License(
        id=ident or f"{owner}-{acquired}",
        title_id="t1",
        owner_id=owner,
        sharing=sharing,
        terms=terms or LicenseTerms(LicenseModel.ONE_COPY_ONE_USER, concurrency=1),
        acquired_at=NOW - timedelta(days=100 - acquired),
        in_use=in_use,
        checkouts_left=checkouts_left,
    )


def test_the_tree_is_checked() -> None:
    with pytest.raises(InvalidNetwork, match="only the provincial library"):
        LibraryNetwork([Library("x", "X", LibraryKind.DISTRICT)])
    with pytest.raises(InvalidNetwork, match="sits only below another provincial library"):
        LibraryNetwork([Library("p", "P", LibraryKind.PROVINCE), Library("q", "Q", LibraryKind.PROVINCE, "s"),
                        Library("s", "S", LibraryKind.SCHOOL, "p")])  # fmt: skip


def test_lineage_and_subtree(network: LibraryNetwork) -> None:
    assert network.lineage("thpt-bmt") == ["thpt-bmt", "buonmathuot", "daklak"]
    assert sorted(network.subtree("buonmathuot")) == ["buonmathuot", "thpt-bmt"]
    assert network.is_within("eakar", "daklak")
    assert not network.is_within("eakar", "buonmathuot")


@pytest.mark.parametrize(
    ("owner", "sharing", "patron_library", "served"),
    [
        ("daklak", Sharing.SUBTREE, "thpt-bmt", True),  # the province's pool serves everybody
        ("daklak", Sharing.OWN, "thpt-bmt", False),
        ("buonmathuot", Sharing.SUBTREE, "thpt-bmt", True),  # a district serves its schools when it shares
        ("buonmathuot", Sharing.OWN, "thpt-bmt", False),
        ("buonmathuot", Sharing.SUBTREE, "eakar", False),  # never sideways
        ("buonmathuot", Sharing.OWN, "buonmathuot", True),
        ("thpt-bmt", Sharing.SUBTREE, "buonmathuot", False),  # never upwards
    ],
)
def test_who_may_borrow_from_whose_pool(
    network: LibraryNetwork, owner: str, sharing: Sharing, patron_library: str, served: bool
) -> None:
    assert network.serves(owner_id=owner, sharing=sharing, patron_library_id=patron_library) is served


def test_terms_must_match_their_model() -> None:
    LicenseTerms(LicenseModel.ODL, concurrency=2, checkouts=10, expires_at=NOW)
    with pytest.raises(InvalidLicenseTerms):
        LicenseTerms(LicenseModel.METERED, concurrency=1)  # no checkout count
    with pytest.raises(InvalidLicenseTerms):
        LicenseTerms(LicenseModel.SIMULTANEOUS_USE, concurrency=3)
    with pytest.raises(InvalidLicenseTerms):
        LicenseTerms(LicenseModel.ONE_COPY_ONE_USER, concurrency=0)
    with pytest.raises(InvalidLicenseTerms, match="time zone"):
        LicenseTerms(LicenseModel.TIME_LIMITED, concurrency=1, expires_at=datetime(2027, 1, 1))


def test_can_lend_follows_each_model() -> None:
    assert not lic("daklak", in_use=1).can_lend(NOW)
    simultaneous = lic("daklak", terms=LicenseTerms(LicenseModel.SIMULTANEOUS_USE, concurrency=None), in_use=999)
    assert simultaneous.can_lend(NOW)
    metered = lic("daklak", terms=LicenseTerms(LicenseModel.METERED, concurrency=1, checkouts=26), checkouts_left=0)
    assert not metered.can_lend(NOW)
    assert metered.is_exhausted(NOW)
    expiring = LicenseTerms(LicenseModel.TIME_LIMITED, concurrency=1, expires_at=NOW)
    assert not lic("daklak", terms=expiring).can_lend(NOW)
    assert lic("daklak", terms=expiring).cap_due(NOW + timedelta(days=14)) == NOW


def test_choice_rule_nearest_pool_then_soonest_expiry_then_fewest_checkouts(network: LibraryNetwork) -> None:
    perpetual_province = lic("daklak", ident="province-perpetual")
    expiring_province = lic(
        "daklak",
        ident="province-expiring",
        terms=LicenseTerms(LicenseModel.TIME_LIMITED, concurrency=1, expires_at=NOW + timedelta(days=30)),
    )
    metered_province = lic(
        "daklak",
        ident="province-metered",
        terms=LicenseTerms(LicenseModel.METERED, concurrency=1, checkouts=26),
        checkouts_left=3,
    )
    district = lic("buonmathuot", ident="district")
    busy_school = lic("thpt-bmt", ident="school-busy", in_use=1)
    other_district = lic("eakar", ident="eakar")
    order = lending_order(
        network,
        [perpetual_province, metered_province, expiring_province, other_district, district, busy_school],
        "thpt-bmt",
        NOW,
    )
    assert [license_.id for license_ in order] == [
        "district",  # nearest pool with a free copy (the school's own copy is busy)
        "province-expiring",  # then the province: what lapses soonest first
        "province-metered",  # then metered value
        "province-perpetual",
    ]


def test_copies_for_a_patron(network: LibraryNetwork) -> None:
    licenses = [lic("daklak", acquired=1), lic("daklak", acquired=2), lic("eakar"), lic("buonmathuot", in_use=1)]
    assert copies_for(network, licenses, "thpt-bmt", NOW) == 3  # busy copies still count, other districts not
    unlimited = lic("daklak", terms=LicenseTerms(LicenseModel.SIMULTANEOUS_USE, concurrency=None))
    assert copies_for(network, [*licenses, unlimited], "eakar", NOW) is None


def test_copy_choice_keeps_her_reserved_copy_and_owes_a_free_one_to_the_queue(network: LibraryNetwork) -> None:
    def hold(patron: str, state: HoldState, license_id: str | None = None) -> Hold:
        return Hold(f"h-{patron}", patron, "eakar", "t1", NOW - timedelta(days=1), state, license_id=license_id)

    full, free = lic("daklak", in_use=1, ident="full"), lic("daklak", ident="free")
    ready = copy_choice(network, [full], [hold("an", HoldState.READY, "full")], "an", "eakar", NOW)
    assert (ready.reserved, ready.none_for_her) == (full, False)
    assert copy_choice(network, [full], [], "binh", "eakar", NOW).none_for_her
    assert not a_copy_may_be_free(network, [full], "eakar", NOW)
    assert a_copy_may_be_free(network, [full, free], "eakar", NOW)
    owed = copy_choice(network, [full, free], [hold("an", HoldState.WAITING)], "binh", "eakar", NOW)
    assert owed.none_for_her  # the free copy goes to an, who waits ahead of her
    assert copy_choice(network, [full, free], [hold("an", HoldState.WAITING)], "an", "eakar", NOW).to_try == [free]
