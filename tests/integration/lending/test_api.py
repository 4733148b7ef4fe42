"""The lending REST API end to end: remote card registration, sign-in, search, borrowing, and who may do what."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lending.entrypoints.consumers import LendingHandlers
from sachso.events.v1 import lending_events_pb2, reader_events_pb2
from sachso.kit.events import ReceivedEvent
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
    assert detail["availability"] == {"copies": 2, "available": 2, "holds": 0, "state": "available", "wait_days": None}
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


async def test_only_staff_managing_every_library_holding_a_title_may_edit_it(lending: Lending) -> None:
    http = lending.http
    province_title = await lending.title_with_copies("Địa chí Đắk Lắk", copies=1, owner="daklak")
    school_title = await lending.title_with_copies("Sách giáo khoa", copies=1, owner="thpt-bmt")
    edit = {"title": "Đổi tên", "authors": ["Ai đó"]}
    librarian, district_admin = await lending.staff_headers("thu.bmt"), await lending.staff_headers("admin.bmt")
    for headers in (librarian, district_admin):
        assert (await http.put(f"/v1/titles/{province_title}", json=edit, headers=headers)).status_code == 403
        flag = await http.put(f"/v1/titles/{province_title}/online-only", json={"online_only": True}, headers=headers)
        assert flag.status_code == 403
    assert (await lending.catalogue.title(province_title))["title"] == "Địa chí Đắk Lắk"
    assert (await lending.catalogue.title(province_title)).get("online_only") is None
    # the school is below the district: its admin looks after the school's titles, the district librarian does not
    assert (await http.put(f"/v1/titles/{school_title}", json=edit, headers=librarian)).status_code == 403
    assert (await http.put(f"/v1/titles/{school_title}", json=edit, headers=district_admin)).status_code == 200
    province_admin = await lending.staff_headers("admin.daklak")
    flagged = await http.put(
        f"/v1/titles/{province_title}/online-only", json={"online_only": True}, headers=province_admin
    )
    assert flagged.json()["online_only"] is True
    # a title added by hand belongs to the adding library until others license it
    added = await http.post("/v1/titles", json={"title": "Tài liệu địa phương"}, headers=librarian)
    assert added.status_code == 201
    added_id = added.json()["id"]
    elsewhere = await lending.staff_headers("lan.eakar")
    assert (await http.put(f"/v1/titles/{added_id}", json=edit, headers=elsewhere)).status_code == 403
    assert (await http.put(f"/v1/titles/{added_id}", json=edit, headers=librarian)).status_code == 200
    licence = {"owner_library_id": "eakar", "model": "one-copy-one-user", "concurrency": 1}
    assert (await http.post(f"/v1/titles/{added_id}/licenses", json=licence, headers=elsewhere)).status_code == 201
    assert (await http.put(f"/v1/titles/{added_id}", json=edit, headers=librarian)).status_code == 403


async def test_a_title_with_no_readable_file_is_catalogued_but_not_lendable(lending: Lending) -> None:
    """Issue 19: a record typed in by staff (no publication) was lent, and its streaming token then led to a 404."""
    http = lending.http
    librarian = await lending.staff_headers("thu.bmt")
    record = {"title": "Địa chí Buôn Ma Thuột", "isbn": "978-604-0-00001-7", "language": "vi"}
    title_id = (await http.post("/v1/titles", json=record, headers=librarian)).json()["id"]
    licence = {"owner_library_id": "buonmathuot", "model": "one-copy-one-user", "concurrency": 2}
    assert (await http.post(f"/v1/titles/{title_id}/licenses", json=licence, headers=librarian)).status_code == 201
    shown = (await http.get(f"/v1/titles/{title_id}")).json()
    assert shown["lendable"] is False
    assert shown["unlendable_reason"] == "no-readable-publication"
    (listed,) = (await http.get("/v1/titles", params={"q": "dia chi"})).json()["items"]
    assert listed["lendable"] is False
    ana = lending.patron_headers(await lending.active_patron("ana", library_id="buonmathuot"))
    refused = await http.post("/v1/loans", json={"title_id": title_id}, headers=ana)
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/title-not-lendable")
    assert (await http.post("/v1/holds", json={"title_id": title_id}, headers=ana)).status_code == 409
    opds = (await http.get(f"/opds/publications/{title_id}", headers=ana)).json()
    borrow = next(link for link in opds["links"] if link["rel"] == "http://opds-spec.org/acquisition/borrow")
    assert borrow["properties"]["availability"]["state"] == "unavailable"
    assert await lending.events("LoanCreated") == []

    # the publisher's file arrives with the same ISBN: the record becomes its title, and lends
    metadata = reader_events_pb2.PublicationMetadata(title="Địa chí Buôn Ma Thuột", isbn="9786040000017")
    ingested = reader_events_pb2.PublicationIngested(publication_id="pub-dia-chi", metadata=metadata)
    handlers = LendingHandlers(lending.catalogue, lending.circulation, lending.outbox)
    event = ReceivedEvent(
        id="e1", type=ingested.DESCRIPTOR.full_name, source="/sachso/reader", subject=None, time=datetime.now(UTC),
        key=None, payload=ingested, trace_headers={}, topic="t", partition=0, offset=0,
    )  # fmt: skip
    async with lending.outbox.client.start_session() as session:
        await session.with_transaction(lambda s: handlers.publication_ingested(event, s))
    shown = (await http.get(f"/v1/titles/{title_id}")).json()
    assert shown["publication_id"] == "pub-dia-chi"
    assert shown["lendable"] is True
    lent = await http.post("/v1/loans", json={"title_id": title_id}, headers=ana)
    assert lent.status_code == 201, lent.text
    assert lent.json()["publication_id"] == "pub-dia-chi"
