"""The network after the 2025 reform against the real MongoDB-protocol server: moves, a merge of two provinces and
the district migration with loans and holds in flight, groups a pool is shared with, and who may do each."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from lending.adapters.repositories import mongo_units_of_work
from lending.domain.licensing import LicenseModel, LicenseTerms
from lending.domain.network import Library, LibraryKind
from lending.domain.policy import LendingPolicy
from lending.errors import NoCopyAvailable
from lending.service_layer.reports import Reports
from sachso.kit.auth import Role
from tests.integration.lending.conftest import STAFF_PASSWORD, Lending
from tests.integration.lending.test_api import emailed_code
from tests.integration.lending.test_manage import manage

pytestmark = pytest.mark.integration


async def add_phu_yen(lending: Lending) -> None:
    """A second province hosted by the same deployment, as before the 2025 merger."""
    await lending.store.add_library(
        Library("phuyen", "Thư viện tỉnh Phú Yên", LibraryKind.PROVINCE), "PY", LendingPolicy()
    )
    school = Library("thpt-tuy-hoa", "Thư viện THPT Tuy Hòa", LibraryKind.SCHOOL, "phuyen")
    await lending.store.add_library(school, "TTH", LendingPolicy())
    await lending.accounts.create_staff(
        username="admin.phuyen", password=STAFF_PASSWORD, role=Role.PROVINCE_ADMIN, library_id="phuyen"
    )


async def merge_agreed_by_both(lending: Lending, body: dict[str, str]) -> dict[str, object]:
    """Each province's admin agrees for her own province: the first agreement waits (202), the second merges."""
    daklak, phuyen = await lending.staff_headers("admin.daklak"), await lending.staff_headers("admin.phuyen")
    first = await lending.http.post("/v1/network/merge", json=body, headers=daklak)
    assert (first.status_code, first.json()) == (202, {"status": "agreed", "awaiting": "phuyen"}), first.text
    assert (await lending.http.post("/v1/network/merge", json=body, headers=daklak)).status_code == 202  # again
    assert (await lending.store.network()).get("phuyen").parent_id is None  # one province alone changes nothing
    second = await lending.http.post("/v1/network/merge", json=body, headers=phuyen)
    assert second.status_code == 200, second.text
    merged: dict[str, object] = second.json()
    return merged


async def card_number_of_new_card(lending: Lending, library_id: str, email: str) -> str:
    applied = await lending.http.post(
        "/v1/card-applications",
        json={"library_id": library_id, "display_name": "Nguyễn Thị Hồng", "email": email, "pin": "2468"},
    )
    application_id = applied.json()["application_id"]
    code = await emailed_code(lending, application_id)
    await lending.http.post(f"/v1/card-applications/{application_id}/verify", json={"code": code})
    patron = await lending.cards.decide(application_id, approve=True)
    assert patron.card_number is not None
    return patron.card_number


def this_month() -> tuple[datetime, datetime]:
    vietnam = timezone(timedelta(hours=7))
    now = datetime.now(vietnam)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=32)


async def test_merging_two_provinces_with_loans_and_holds_in_flight(lending: Lending) -> None:
    await add_phu_yen(lending)
    daklak_title = await lending.title_with_copies("Đất rừng phương Nam", copies=1, owner="daklak")
    phuyen_title = await lending.title_with_copies("Tuy Hòa xưa", copies=1, owner="phuyen")
    lan = await lending.active_patron("lan", library_id="phuyen")
    minh = await lending.active_patron("minh", library_id="thpt-tuy-hoa")
    loan = await lending.circulation.checkout(lan, phuyen_title)
    await lending.circulation.place_hold(minh, phuyen_title)  # in flight across the merge
    with pytest.raises(NoCopyAvailable):
        await lending.circulation.checkout(minh, daklak_title)  # another province's pool
    start, end = this_month()
    reports = Reports(mongo_units_of_work(lending.store, lending.outbox))
    before = await reports.circulation((await lending.store.network()).subtree("phuyen"), start, end)

    admin = await lending.staff_headers("admin.daklak")
    merged = await merge_agreed_by_both(lending, {"absorbed_id": "phuyen", "surviving_id": "daklak"})
    assert merged["parent_id"] == "daklak"

    await lending.circulation.return_loan(loan.id, lan)  # the hold placed before the merge is served
    ready = await lending.circulation.holds_of(minh)
    assert [view.hold.state.value for view in ready] == ["ready"]
    await lending.circulation.checkout(minh, phuyen_title)
    await lending.circulation.checkout(minh, daklak_title)  # the merged province's pool serves her now
    assert (await card_number_of_new_card(lending, "thpt-tuy-hoa", "hong@example.vn")).startswith("TTH-")
    assert (await card_number_of_new_card(lending, "daklak", "hong@example.vn")).startswith("DL-")

    network = await lending.store.network()
    after = await reports.circulation(network.subtree("phuyen"), start, end)
    assert [(row.library_id, row.loans, row.holds) for row in before] == [("phuyen", 1, 0), ("thpt-tuy-hoa", 0, 1)]
    assert [(row.library_id, row.loans, row.holds) for row in after] == [("phuyen", 1, 0), ("thpt-tuy-hoa", 2, 1)]
    whole = await reports.circulation(network.subtree("daklak"), start, end)
    assert {row.library_id for row in whole} >= {"phuyen", "thpt-tuy-hoa"}  # the merged province sees both
    changes = (await lending.http.get("/v1/network/changes", headers=admin)).json()
    assert [(c["action"], c["subject_id"], c["detail"]) for c in changes] == [
        ("merged", "phuyen", {"into": "daklak"}),
        ("merge-agreed", "phuyen", {"into": "daklak", "province": "phuyen"}),
        ("merge-agreed", "phuyen", {"into": "daklak", "province": "daklak"}),
    ]


async def test_a_merge_with_clashing_card_prefixes_is_refused_until_recoded(lending: Lending) -> None:
    await add_phu_yen(lending)
    clash = Library("song-hinh", "Thư viện xã Sông Hinh", LibraryKind.COMMUNE, "phuyen")
    await lending.store.add_library(clash, "EK", LendingPolicy())  # Ea Kar's prefix, chosen apart
    admin = await lending.staff_headers("admin.daklak")
    body = {"absorbed_id": "phuyen", "surviving_id": "daklak"}
    refused = await lending.http.post("/v1/network/merge", json=body, headers=admin)
    assert refused.status_code == 400
    assert "EK: eakar, song-hinh" in refused.json()["detail"]
    assert (await lending.store.network()).get("phuyen").parent_id is None  # nothing half-done
    not_hers = await lending.http.put("/v1/libraries/song-hinh/code", json={"code": "SH"}, headers=admin)
    assert not_hers.status_code == 403  # Phú Yên's library: its own province admin recodes it
    phuyen_admin = await lending.staff_headers("admin.phuyen")
    recoded = await lending.http.put("/v1/libraries/song-hinh/code", json={"code": "SH"}, headers=phuyen_admin)
    assert recoded.json()["code"] == "SH"
    await merge_agreed_by_both(lending, body)


async def test_a_province_admin_manages_her_province_only(lending: Lending) -> None:
    await add_phu_yen(lending)
    await lending.store.add_library(
        Library("quangngai", "Thư viện tỉnh Quảng Ngãi", LibraryKind.PROVINCE), "QN", LendingPolicy()
    )
    daklak, phuyen = await lending.staff_headers("admin.daklak"), await lending.staff_headers("admin.phuyen")
    refusals = [
        ("post", "/v1/libraries/thpt-tuy-hoa/move", {"parent_id": "daklak"}, daklak),  # another province's library
        ("post", "/v1/libraries/thpt-bmt/move", {"parent_id": "phuyen"}, daklak),  # into another province
        ("post", "/v1/libraries/thpt-bmt/move", {"parent_id": "eakar"}, phuyen),
        ("put", "/v1/libraries/eakar/code", {"code": "EKA"}, phuyen),
        ("post", "/v1/network/merge", {"absorbed_id": "quangngai", "surviving_id": "phuyen"}, daklak),  # not hers
        ("put", "/v1/library-groups/g", {"name": "Trường", "scope_id": "phuyen", "kinds": ["school"]}, daklak),
    ]
    for method, path, body, headers in refusals:
        answer = await lending.http.request(method, path, json=body, headers=headers)
        assert answer.status_code == 403, (path, answer.text)
        assert answer.json()["type"].endswith("/forbidden")
    assert (await lending.store.network()).get("thpt-tuy-hoa").parent_id == "phuyen"
    moved = await lending.http.post("/v1/libraries/thpt-bmt/move", json={"parent_id": "eakar"}, headers=daklak)
    assert moved.status_code == 200
    assert [c["subject_id"] for c in (await lending.http.get("/v1/network/changes", headers=phuyen)).json()] == []
    assert [c["subject_id"] for c in (await lending.http.get("/v1/network/changes", headers=daklak)).json()] == [
        "thpt-bmt"
    ]


async def test_moving_a_library_carries_its_loans_holds_and_pools(lending: Lending) -> None:
    title_id = await lending.title_with_copies("Dế Mèn phiêu lưu ký", copies=1, owner="buonmathuot")
    an = await lending.active_patron("an", library_id="thpt-bmt")
    binh = await lending.active_patron("binh", library_id="thpt-bmt")
    loan = await lending.circulation.checkout(an, title_id)
    await lending.circulation.place_hold(binh, title_id)
    admin = await lending.staff_headers("admin.daklak")
    moved = await lending.http.post("/v1/libraries/thpt-bmt/move", json={"parent_id": "eakar"}, headers=admin)
    assert moved.status_code == 200, moved.text
    assert (await lending.store.network()).lineage("thpt-bmt") == ["thpt-bmt", "eakar", "daklak"]
    # Buôn Ma Thuột's pool no longer serves the school: the copy An returns goes back to the pool, not to Bình
    await lending.circulation.return_loan(loan.id, an)
    assert [view.hold.state.value for view in await lending.circulation.holds_of(binh)] == ["waiting"]
    loop = await lending.http.post("/v1/libraries/eakar/move", json={"parent_id": "thpt-bmt"}, headers=admin)
    assert loop.status_code == 400
    assert loop.json()["type"].endswith("/invalid-library-network")


async def test_a_pool_shared_with_every_school_library(lending: Lending) -> None:
    await lending.store.add_library(
        Library("thcs-ea-kar", "Thư viện THCS Ea Kar", LibraryKind.SCHOOL, "eakar"), "TEK", LendingPolicy()
    )
    title_id = await lending.title_with_copies("Sách giáo khoa Toán 10", copies=2, owner="eakar")
    (license_,) = await lending.store.licenses_for(title_id)
    admin = await lending.staff_headers("admin.daklak")
    group = {"name": "Mọi thư viện trường học của tỉnh", "scope_id": "daklak", "kinds": ["school"]}
    defined = await lending.http.put("/v1/library-groups/truong-hoc", json=group, headers=admin)
    assert defined.status_code == 200, defined.text
    assert defined.json()["libraries"] == ["thcs-ea-kar", "thpt-bmt"]
    lan = await lending.staff_headers("lan.eakar")  # librarian of the pool's library
    shared = await lending.http.put(
        f"/v1/licenses/{license_.id}/sharing", json={"sharing": "group", "group_id": "truong-hoc"}, headers=lan
    )
    assert shared.status_code == 200, shared.text
    lending.store.forget_network()
    school_patron = await lending.active_patron("hs", library_id="thpt-bmt")  # a school in another part of the tree
    await lending.circulation.checkout(school_patron, title_id)
    commune_patron = await lending.active_patron("cd", library_id="buonmathuot")
    with pytest.raises(NoCopyAvailable):
        await lending.circulation.checkout(commune_patron, title_id)
    in_use = await lending.http.delete("/v1/library-groups/truong-hoc", headers=admin)
    assert in_use.status_code == 409


async def test_who_may_change_the_network(lending: Lending) -> None:
    title_id = await lending.title_with_copies("Tắt đèn", copies=1, owner="eakar")
    (license_,) = await lending.store.licenses_for(title_id)
    patron = lending.patron_headers(await lending.active_patron("ana"))
    librarian = await lending.staff_headers("thu.bmt")
    library_admin = await lending.staff_headers("admin.bmt")
    merge = {"absorbed_id": "eakar", "surviving_id": "daklak"}
    for headers in ({}, patron, librarian, library_admin):
        expected = 401 if not headers else 403
        calls = [
            lending.http.post("/v1/libraries/thpt-bmt/move", json={"parent_id": "eakar"}, headers=headers),
            lending.http.post("/v1/network/merge", json=merge, headers=headers),
            lending.http.put("/v1/libraries/eakar/code", json={"code": "EKA"}, headers=headers),
            lending.http.get("/v1/network/changes", headers=headers),
        ]
        for call in calls:
            assert (await call).status_code == expected
    group = {"name": "Trường của BMT", "scope_id": "buonmathuot", "kinds": ["school"]}
    province_wide = {**group, "scope_id": "daklak"}
    assert (await lending.http.put("/v1/library-groups/g", json=group, headers=librarian)).status_code == 403
    assert (
        await lending.http.put("/v1/library-groups/g", json=province_wide, headers=library_admin)
    ).status_code == 403
    assert (await lending.http.put("/v1/library-groups/g", json=group, headers=library_admin)).status_code == 200
    share = {"sharing": "own"}
    by_other = await lending.http.put(f"/v1/licenses/{license_.id}/sharing", json=share, headers=librarian)
    assert by_other.status_code == 403  # Ea Kar's pool, Buôn Ma Thuột's librarian
    assert (
        await lending.http.put(f"/v1/licenses/{license_.id}/sharing", json=share, headers=patron)
    ).status_code == 403
    tree = (await lending.http.get("/v1/network")).json()  # the tree is public, like the library list
    assert {library["id"]: library["kind"] for library in tree["libraries"]}["buonmathuot"] == "district"
    assert tree["groups"][0]["libraries"] == ["thpt-bmt"]


async def test_migrating_district_data_with_loans_and_holds_in_flight(
    lending: Lending, stack_env: dict[str, str]
) -> None:
    title_id = await lending.title_with_copies("Truyện Kiều", copies=1, owner="buonmathuot")
    an = await lending.active_patron("an", library_id="buonmathuot")
    binh = await lending.active_patron("binh", library_id="thpt-bmt")
    loan = await lending.circulation.checkout(an, title_id)
    await lending.circulation.place_hold(binh, title_id)
    database = lending.store.database.name

    dry = manage(stack_env, database, "migrate-districts", "--kind", "eakar=specialised", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == ["buonmathuot would become commune", "eakar would become specialised"]
    bad = manage(stack_env, database, "migrate-districts", "--kind", "thpt-bmt=commune")
    assert bad.returncode == 1
    assert "not district libraries: thpt-bmt" in bad.stderr
    lending.store.forget_network()
    assert (await lending.store.network()).get("eakar").kind is LibraryKind.DISTRICT  # nothing changed yet

    done = manage(stack_env, database, "migrate-districts", "--kind", "eakar=specialised")
    assert done.returncode == 0, done.stderr
    lending.store.forget_network()
    network = await lending.store.network()
    assert {library.id: library.kind.value for library in network.libraries} == {
        "daklak": "province",
        "buonmathuot": "commune",
        "eakar": "specialised",
        "thpt-bmt": "school",
    }
    await lending.circulation.return_loan(loan.id, an)
    await lending.circulation.checkout(binh, title_id)  # her hold became ready and she borrows
    assert (await card_number_of_new_card(lending, "buonmathuot", "moi@example.vn")).startswith("BMT-")
    again = manage(stack_env, database, "migrate-districts")
    assert again.stdout.strip() == "no district libraries: nothing to migrate"
    terms = LicenseTerms(LicenseModel.ONE_COPY_ONE_USER, concurrency=1)
    await lending.catalogue.add_license(title_id, "eakar", terms)  # pools keep working under the new kind


async def test_both_provinces_agreeing_at_once_merge_once(lending: Lending) -> None:
    await add_phu_yen(lending)
    body = {"absorbed_id": "phuyen", "surviving_id": "daklak"}
    daklak, phuyen = await lending.staff_headers("admin.daklak"), await lending.staff_headers("admin.phuyen")
    answers = await asyncio.gather(
        lending.http.post("/v1/network/merge", json=body, headers=daklak),
        lending.http.post("/v1/network/merge", json=body, headers=phuyen),
    )
    assert sorted(answer.status_code for answer in answers) == [200, 202]
    assert (await lending.store.network()).get("phuyen").parent_id == "daklak"
    changes = (await lending.http.get("/v1/network/changes", headers=daklak)).json()
    assert [change["action"] for change in changes].count("merged") == 1
