"""What the web app needs from lending beyond the first API: change PIN, sign out everywhere, the libraries a
staff member may manage, loans with their borrower, and reports with Vietnamese CSV headers — each with who
may not use it."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from tests.integration.lending.conftest import Lending

pytestmark = pytest.mark.integration


async def patron_with_pin(lending: Lending, patron_id: str, pin: str, library_id: str = "daklak") -> str:
    await lending.active_patron(patron_id, library_id)
    await lending.store.set_pin_hash(patron_id, await lending.cards.secrets.hash(pin))
    return f"T-{patron_id.upper()}"


async def sign_in(lending: Lending, card: str, pin: str) -> dict[str, str]:
    response = await lending.http.post("/v1/auth/token", json={"card_number": card, "pin": pin})
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_patron_changes_her_pin_and_her_other_devices_must_sign_in_again(lending: Lending) -> None:
    card = await patron_with_pin(lending, "ana", "1234")
    phone, laptop = await sign_in(lending, card, "1234"), await sign_in(lending, card, "1234")
    wrong = await lending.http.put(
        "/v1/me/pin", json={"current_pin": "9999", "new_pin": "5678"}, headers=bearer(phone["access_token"])
    )
    assert wrong.status_code == 400
    assert wrong.json()["type"].endswith("/current-pin-wrong")
    not_digits = await lending.http.put(
        "/v1/me/pin", json={"current_pin": "1234", "new_pin": "12ab"}, headers=bearer(phone["access_token"])
    )
    assert not_digits.status_code in (400, 422)
    changed = await lending.http.put(
        "/v1/me/pin", json={"current_pin": "1234", "new_pin": "5678"}, headers=bearer(phone["access_token"])
    )
    assert changed.status_code == 204
    for device in (phone, laptop):
        refreshed = await lending.http.post("/v1/auth/refresh", json={"refresh_token": device["refresh_token"]})
        assert refreshed.status_code == 401
    assert (await lending.http.post("/v1/auth/token", json={"card_number": card, "pin": "1234"})).status_code == 401
    await sign_in(lending, card, "5678")


async def test_only_the_patron_herself_changes_her_pin(lending: Lending) -> None:
    await patron_with_pin(lending, "binh", "1234")
    body = {"current_pin": "1234", "new_pin": "5678"}
    assert (await lending.http.put("/v1/me/pin", json=body)).status_code == 401
    staff = await lending.staff_headers("admin.daklak")
    assert (await lending.http.put("/v1/me/pin", json=body, headers=staff)).status_code == 403
    assert (await lending.http.post("/v1/me/sign-out-everywhere", headers=staff)).status_code == 403
    assert (await lending.http.post("/v1/me/sign-out-everywhere")).status_code == 401


async def test_sign_out_everywhere_ends_every_devices_session(lending: Lending) -> None:
    card = await patron_with_pin(lending, "chi", "2468")
    other = await patron_with_pin(lending, "dung", "1357")
    devices = [await sign_in(lending, card, "2468") for _ in range(3)]
    someone_else = await sign_in(lending, other, "1357")
    answer = await lending.http.post("/v1/me/sign-out-everywhere", headers=bearer(devices[0]["access_token"]))
    assert answer.status_code == 204
    for device in devices:
        refreshed = await lending.http.post("/v1/auth/refresh", json={"refresh_token": device["refresh_token"]})
        assert refreshed.status_code == 401
    kept = await lending.http.post("/v1/auth/refresh", json={"refresh_token": someone_else["refresh_token"]})
    assert kept.status_code == 200  # another patron's sessions are hers


async def test_staff_see_the_libraries_they_may_manage(lending: Lending) -> None:
    async def names(username: str) -> list[str]:
        answer = await lending.http.get("/v1/staff/me/libraries", headers=await lending.staff_headers(username))
        assert answer.status_code == 200, answer.text
        return [library["id"] for library in answer.json()]

    assert await names("thu.bmt") == ["buonmathuot"]
    assert await names("admin.bmt") == ["buonmathuot", "thpt-bmt"]
    assert await names("admin.daklak") == ["buonmathuot", "daklak", "eakar", "thpt-bmt"]
    await lending.active_patron("em")
    assert (await lending.http.get("/v1/staff/me/libraries", headers=lending.patron_headers("em"))).status_code == 403
    assert (await lending.http.get("/v1/staff/me/libraries")).status_code == 401


async def test_a_librarys_loans_name_their_title_and_borrower_for_its_staff_only(lending: Lending) -> None:
    title_id = await lending.title_with_copies("Truyện Kiều")
    await lending.active_patron("giang", "buonmathuot")
    borrowed = await lending.http.post(
        "/v1/loans", json={"title_id": title_id}, headers=lending.patron_headers("giang", "buonmathuot")
    )
    assert borrowed.status_code == 201, borrowed.text
    answer = await lending.http.get("/v1/libraries/buonmathuot/loans", headers=await lending.staff_headers("thu.bmt"))
    assert answer.status_code == 200, answer.text
    (loan,) = answer.json()
    assert (loan["title"], loan["borrower_name"], loan["borrower_card"]) == ("Truyện Kiều", "Bạn đọc giang", "T-GIANG")
    assert loan["id"] == borrowed.json()["id"]
    other = await lending.http.get("/v1/libraries/buonmathuot/loans", headers=await lending.staff_headers("lan.eakar"))
    assert other.status_code == 403
    patron = await lending.http.get("/v1/libraries/buonmathuot/loans", headers=lending.patron_headers("giang"))
    assert patron.status_code == 403


async def test_the_circulation_csv_speaks_vietnamese_when_asked(lending: Lending) -> None:
    title_id = await lending.title_with_copies("Lục Vân Tiên")
    await lending.active_patron("hoa")
    assert (
        await lending.http.post("/v1/loans", json={"title_id": title_id}, headers=lending.patron_headers("hoa"))
    ).status_code == 201
    month = datetime.now(UTC).strftime("%Y-%m")
    query = {"library": "daklak", "from": month, "to": month, "format": "csv"}
    admin = await lending.staff_headers("admin.daklak")
    answer = await lending.http.get("/v1/reports/circulation", params={**query, "lang": "vi"}, headers=admin)
    assert answer.status_code == 200, answer.text
    assert answer.text.startswith("\ufeff")  # spreadsheets read it as UTF-8
    rows = list(csv.reader(io.StringIO(answer.text.removeprefix("\ufeff"))))
    assert rows[0] == ["Tháng", "Thư viện", "Lượt mượn", "Lượt đặt trước", "Số bạn đọc", "Lượt hết bản"]
    assert [rows[1][1], rows[1][2]] == ["Thư viện tỉnh Đắk Lắk", "1"]
    english = await lending.http.get("/v1/reports/circulation", params=query, headers=admin)
    assert english.text.startswith("month,library_id,")  # programs keep the field ids
    patron = await lending.http.get(
        "/v1/reports/circulation", params={**query, "lang": "vi"}, headers=lending.patron_headers("hoa")
    )
    assert patron.status_code == 403
    other = await lending.http.get(
        "/v1/reports/circulation", params={**query, "lang": "vi"}, headers=await lending.staff_headers("lan.eakar")
    )
    assert other.status_code == 403
