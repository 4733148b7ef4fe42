"""The lending REST API end to end: remote card registration, sign-in, search, borrowing, and who may do what."""

from __future__ import annotations

import pytest

from sachso.events.v1 import lending_events_pb2
from tests.integration.lending.conftest import Lending

pytestmark = pytest.mark.integration


async def emailed_code(lending: Lending, application_id: str) -> str:
    for document in await lending.events("EmailVerificationRequested"):
        message = lending_events_pb2.EmailVerificationRequested.FromString(bytes(document["data"]))
        if message.patron_id == application_id:
            return message.code
    raise AssertionError("no verification code was sent")


async def test_remote_registration_approval_and_sign_in(lending: Lending) -> None:
    http = lending.http
    application = await http.post(
        "/v1/card-applications",
        json={
            "library_id": "buonmathuot",
            "display_name": "Nguyễn Thị Ánh",
            "email": "Anh.Nguyen@Example.vn",
            "pin": "4821",
        },
    )
    assert application.status_code == 201, application.text
    application_id = application.json()["application_id"]
    assert application.json()["status"] == "pending-verification"
    duplicate = await http.post(
        "/v1/card-applications",
        json={"library_id": "buonmathuot", "display_name": "X", "email": "anh.nguyen@example.vn", "pin": "1111"},
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["type"].endswith("/duplicate-registration")

    wrong = await http.post(f"/v1/card-applications/{application_id}/verify", json={"code": "000000"})
    assert wrong.status_code == 400
    assert wrong.json()["type"].endswith("/verification-code-invalid")
    code = await emailed_code(lending, application_id)
    verified = await http.post(f"/v1/card-applications/{application_id}/verify", json={"code": code})
    assert verified.json()["status"] == "pending-approval"

    other_librarian = await lending.staff_headers("lan.eakar")
    refused = await http.post(
        f"/v1/libraries/buonmathuot/card-applications/{application_id}/approve", headers=other_librarian
    )
    assert refused.status_code == 403  # a librarian manages only her library
    librarian = await lending.staff_headers("thu.bmt")
    pending = await http.get("/v1/libraries/buonmathuot/card-applications", headers=librarian)
    assert [p["id"] for p in pending.json()] == [application_id]
    approved = await http.post(
        f"/v1/libraries/buonmathuot/card-applications/{application_id}/approve", headers=librarian
    )
    assert approved.status_code == 200, approved.text
    card_number = approved.json()["card_number"]
    assert card_number == "BMT-000001"
    (event,) = await lending.events("PatronApproved")
    assert lending_events_pb2.PatronApproved.FromString(bytes(event["data"])).display_name == "Nguyễn Thị Ánh"

    bad = await http.post("/v1/auth/token", json={"card_number": card_number, "pin": "0000"})
    assert bad.status_code == 401
    assert bad.json()["type"].endswith("/sign-in-failed")
    tokens = (await http.post("/v1/auth/token", json={"card_number": card_number, "pin": "4821"})).json()
    me = await http.get("/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.json()["display_name"] == "Nguyễn Thị Ánh"
    assert me.json()["status"] == "active"
    refreshed = await http.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    reused = await http.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert reused.status_code == 401  # refresh tokens are single use


async def test_a_library_may_approve_cards_automatically(lending: Lending) -> None:
    applied = await lending.http.post(
        "/v1/card-applications",
        json={"library_id": "eakar", "display_name": "Y Bih", "email": "ybih@example.vn", "pin": "90210"},
    )
    application_id = applied.json()["application_id"]
    code = await emailed_code(lending, application_id)
    verified = await lending.http.post(f"/v1/card-applications/{application_id}/verify", json={"code": code})
    assert verified.json()["status"] == "active"
    assert len(await lending.events("PatronApproved")) == 1


async def test_five_wrong_pins_lock_the_card(lending: Lending) -> None:
    await lending.active_patron("ana")
    pin_hash = await lending.cards.secrets.hash("1234")
    await lending.store.patrons.update_one({"_id": "ana"}, {"$set": {"pin_hash": pin_hash}})
    for _ in range(5):
        response = await lending.http.post("/v1/auth/token", json={"card_number": "t-ana", "pin": "9999"})
        assert response.json()["type"].endswith("/sign-in-failed")
    locked = await lending.http.post("/v1/auth/token", json={"card_number": "t-ana", "pin": "1234"})
    assert locked.status_code == 401
    assert locked.json()["type"].endswith("/sign-in-locked")


async def test_search_ignores_diacritics_and_reports_facets(lending: Lending) -> None:
    kieu = await lending.title_with_copies(title="Truyện Kiều", copies=2)
    await lending.title_with_copies(title="Đất rừng phương Nam", copies=1, owner="buonmathuot")
    await lending.title_with_copies(title="Chuyện ở Đắk Lắk", copies=1)
    http = lending.http
    found = (await http.get("/v1/titles", params={"q": "dak lak"})).json()
    assert [item["title"] for item in found["items"]] == ["Chuyện ở Đắk Lắk"]
    by_author = (await http.get("/v1/titles", params={"q": "nguyen"})).json()
    assert by_author["total"] == 3
    assert by_author["facets"]["language"] == {"vi": 3}
    assert by_author["facets"]["library"] == {"daklak": 2, "buonmathuot": 1}
    prefix = (await http.get("/v1/titles", params={"q": "truy"})).json()
    assert [item["id"] for item in prefix["items"]] == [kieu]
    paged = (await http.get("/v1/titles", params={"size": 2, "page": 2})).json()
    assert paged["total"] == 3
    assert len(paged["items"]) == 1
    detail = (await http.get(f"/v1/titles/{kieu}", params={"library": "eakar"})).json()
    assert detail["availability"] == {"copies": 2, "available": 2, "holds": 0}
    assert (await http.get("/v1/titles/nope")).status_code == 404


async def test_borrowing_over_http_and_privacy_between_patrons(lending: Lending) -> None:
    title_id = await lending.title_with_copies(copies=1)
    ana = lending.patron_headers(await lending.active_patron("ana"))
    binh = lending.patron_headers(await lending.active_patron("binh"))
    http = lending.http

    assert (await http.post("/v1/loans", json={"title_id": title_id})).status_code == 401
    outside_policy = await http.post("/v1/loans", json={"title_id": title_id, "period": "P10D"}, headers=ana)
    assert outside_policy.status_code == 400
    assert outside_policy.json()["type"].endswith("/loan-period-not-allowed")
    loan = await http.post("/v1/loans", json={"title_id": title_id, "period": "P7D"}, headers=ana)
    assert loan.status_code == 201, loan.text
    loan_id = loan.json()["id"]

    taken = await http.post("/v1/loans", json={"title_id": title_id}, headers=binh)
    assert taken.status_code == 409
    assert taken.json()["type"].endswith("/no-copy-available")
    hold = await http.post("/v1/holds", json={"title_id": title_id}, headers=binh)
    assert hold.json()["position"] == 1
    assert hold.json()["estimated_wait_days"] == 14.0

    assert (await http.get("/v1/loans", headers=binh)).json() == []  # never another patron's loans
    assert (await http.post(f"/v1/loans/{loan_id}/return", headers=binh)).status_code == 404
    assert (await http.delete(f"/v1/holds/{hold.json()['id']}", headers=ana)).status_code == 404
    unknown = await http.post("/v1/loans", json={"title_id": "missing"}, headers=ana)
    assert unknown.status_code == 404

    returned = await http.post(f"/v1/loans/{loan_id}/return", headers=ana)
    assert returned.json()["status"] == "returned"
    assert (await http.post(f"/v1/loans/{loan_id}/return", headers=ana)).status_code == 409
    (ready,) = (await http.get("/v1/holds", headers=binh)).json()
    assert ready["state"] == "ready"
    assert ready["ready_until"] is not None
    borrowed = await http.post("/v1/loans", json={"title_id": title_id}, headers=binh)
    assert borrowed.status_code == 201


async def test_staff_manage_only_their_libraries(lending: Lending) -> None:
    title_id = await lending.title_with_copies(copies=1)
    librarian = await lending.staff_headers("thu.bmt")
    library_admin = await lending.staff_headers("admin.bmt")
    licence = {"owner_library_id": "thpt-bmt", "model": "one-copy-one-user", "concurrency": 3}
    by_librarian = await lending.http.post(f"/v1/titles/{title_id}/licenses", json=licence, headers=librarian)
    assert by_librarian.status_code == 403  # the school is below her district, but she is not its admin
    by_admin = await lending.http.post(f"/v1/titles/{title_id}/licenses", json=licence, headers=library_admin)
    assert by_admin.status_code == 201, by_admin.text
    bad_terms = {"owner_library_id": "buonmathuot", "model": "metered", "concurrency": 1}
    refused = await lending.http.post(f"/v1/titles/{title_id}/licenses", json=bad_terms, headers=librarian)
    assert refused.status_code == 400
    assert refused.json()["type"].endswith("/invalid-license-terms")
    patron = lending.patron_headers(await lending.active_patron("ana"))
    assert (await lending.http.get("/v1/libraries/buonmathuot/loans", headers=patron)).status_code == 403
    assert (await lending.http.get("/v1/libraries/eakar/loans", headers=librarian)).status_code == 403
    assert (await lending.http.get("/v1/libraries/buonmathuot/loans", headers=librarian)).status_code == 200
    new_library = {"id": "krongpac", "name": "Krông Pắc", "kind": "commune", "parent_id": "daklak", "code": "KP"}
    assert (await lending.http.post("/v1/libraries", json=new_library, headers=library_admin)).status_code == 403
    admin = await lending.staff_headers("admin.daklak")
    assert (await lending.http.post("/v1/libraries", json=new_library, headers=admin)).status_code == 201
    misplaced = {**new_library, "id": "x-province", "kind": "province", "parent_id": "thpt-bmt", "code": "XP"}
    assert (await lending.http.post("/v1/libraries", json=misplaced, headers=admin)).status_code == 400
