"""What the web app needs from lending beyond the first API — change PIN, sign out everywhere — each with who
may not use it."""

from __future__ import annotations

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
