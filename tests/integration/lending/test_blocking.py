"""Blocking a reader card ends access (issue 12, item 8): no sign-in, no refresh, her access tokens stop working
within seconds, her loans are returned so the copies pass on, her holds wait skipped, and DRM and the reader hear
``PatronBlocked``."""

from __future__ import annotations

import pytest

from sachso.events.v1 import lending_events_pb2
from tests.integration.kafka_helpers import wait_until
from tests.integration.lending.conftest import Lending
from tests.integration.lending.test_sign_in_throttle import PIN, kind, patron_with_pin, sign_in

pytestmark = pytest.mark.integration


async def test_a_blocked_card_loses_access_and_its_copies_pass_on(lending: Lending) -> None:
    http = lending.http
    card = await patron_with_pin(lending, "ana")
    tokens = (await sign_in(lending, card, PIN)).json()
    ana = {"Authorization": f"Bearer {tokens['access_token']}"}
    kieu = await lending.title_with_copies("Truyện Kiều", copies=1)
    dat_rung = await lending.title_with_copies("Đất rừng phương Nam", copies=1)
    loan = (await http.post("/v1/loans", json={"title_id": kieu}, headers=ana)).json()
    binh = lending.patron_headers(await lending.active_patron("binh"))
    assert (await http.post("/v1/holds", json={"title_id": kieu}, headers=binh)).status_code == 201
    await http.post("/v1/loans", json={"title_id": dat_rung}, headers=binh)
    waiting = (await http.post("/v1/holds", json={"title_id": dat_rung}, headers=ana)).json()

    other_library = await lending.staff_headers("lan.eakar")
    refused = await http.post("/v1/libraries/daklak/patrons/ana/block", headers=other_library)
    assert refused.status_code == 403
    admin = await lending.staff_headers("admin.daklak")
    assert (await http.post("/v1/libraries/daklak/patrons/ana/block", headers=admin)).status_code == 204
    assert (await http.post("/v1/libraries/daklak/patrons/ana/block", headers=admin)).status_code == 409

    async def token_refused() -> bool:
        return (await http.get("/v1/loans", headers=ana)).status_code == 403

    await wait_until(token_refused, within=5)
    assert (await http.get("/v1/me", headers=ana)).json()["type"].endswith("/card-blocked")
    right_pin = await sign_in(lending, card, PIN)
    assert right_pin.status_code == 403
    assert right_pin.json()["type"].endswith("/card-blocked")
    assert kind(await sign_in(lending, card, "0000")) == "sign-in-failed"  # a wrong PIN learns nothing more
    reading_app = await http.post(
        "/opds/oauth/token", data={"grant_type": "password", "username": card, "password": PIN}
    )
    assert reading_app.status_code == 400
    assert reading_app.json()["error"] == "invalid_grant"
    refreshed = await http.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 401

    ended = await lending.store.loans.find_one({"_id": loan["id"]})
    assert ended is not None
    assert ended["status"] == "returned"
    (returned,) = await lending.events("LoanReturned")
    message = lending_events_pb2.LoanReturned.FromString(bytes(returned["data"]))
    assert message.channel == lending_events_pb2.RETURN_CHANNEL_STAFF
    (ready,) = (await http.get("/v1/holds", headers=binh)).json()
    assert ready["state"] == "ready"  # her copy went to the next reader at once
    (blocked,) = await lending.events("PatronBlocked")
    assert lending_events_pb2.PatronBlocked.FromString(bytes(blocked["data"])).patron_id == "ana"
    hold = await lending.store.holds.find_one({"_id": waiting["id"]})
    assert hold is not None
    assert hold["state"] == "waiting"
    assert hold["card_blocked"] is True  # she keeps her place, skipped

    assert (await http.post("/v1/libraries/daklak/patrons/ana/unblock", headers=admin)).status_code == 204
    assert len(await lending.events("PatronUnblocked")) == 1
    assert kind(await sign_in(lending, card, PIN)) == "token"
    hold = await lending.store.holds.find_one({"_id": waiting["id"]})
    assert hold is not None
    assert hold["card_blocked"] is False
