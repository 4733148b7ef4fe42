"""Sign-in throttling (issue 12, item 3): counted before the PIN is checked, per client and per card, shared
through the database, and never a way for a stranger to lock a patron out."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import httpx
import pytest
from argon2 import PasswordHasher

from tests.integration.lending.conftest import STAFF_PASSWORD, Lending

pytestmark = pytest.mark.integration
PIN = "4821"


async def patron_with_pin(lending: Lending, patron_id: str = "ana") -> str:
    await lending.active_patron(patron_id)
    pin_hash = await lending.cards.secrets.hash(PIN)
    await lending.store.patrons.update_one({"_id": patron_id}, {"$set": {"pin_hash": pin_hash}})
    return f"T-{patron_id.upper()}"


async def sign_in(lending: Lending, card: str, pin: str, client: str = "203.0.113.1") -> httpx.Response:
    return await lending.http.post(
        "/v1/auth/token", json={"card_number": card, "pin": pin}, headers={"X-Forwarded-For": client}
    )


def kind(response: httpx.Response) -> str:
    if response.status_code == 200:
        return "token"
    body: dict[str, Any] = response.json()
    return str(body["type"]).rsplit("/", 1)[-1]


async def test_concurrent_wrong_pins_are_all_counted_before_any_is_checked(lending: Lending) -> None:
    card = await patron_with_pin(lending)
    answers = await asyncio.gather(*(sign_in(lending, card, f"{n:04d}") for n in range(100)))
    kinds = [kind(answer) for answer in answers]
    assert kinds.count("sign-in-failed") == 5  # only as many PINs were checked as the limit allows
    assert kinds.count("sign-in-locked") == 95
    locked = next(answer for answer in answers if kind(answer) == "sign-in-locked")
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 15 * 60
    # once the limit is passed, the right PIN among 29 wrong ones, all at once, gets no token
    answers = await asyncio.gather(*(sign_in(lending, card, PIN if n == 17 else "0000") for n in range(30)))
    assert {kind(answer) for answer in answers} == {"sign-in-locked"}


async def test_the_right_pin_racing_wrong_ones_wins_only_within_the_limit(lending: Lending) -> None:
    card = await patron_with_pin(lending)
    answers = await asyncio.gather(*(sign_in(lending, card, PIN if n == 29 else "0000") for n in range(30)))
    kinds = [kind(answer) for answer in answers]
    assert kinds.count("sign-in-failed") + kinds.count("token") <= 5  # PINs checked: never more than the limit
    assert kinds.count("sign-in-locked") >= 25


async def test_a_stranger_cannot_lock_the_patron_out(lending: Lending) -> None:
    card = await patron_with_pin(lending)
    home = "198.51.100.7"
    assert kind(await sign_in(lending, card, PIN, client=home)) == "token"
    for _ in range(5):
        assert kind(await sign_in(lending, card, "0000", client="192.0.2.66")) == "sign-in-failed"
    assert kind(await sign_in(lending, card, "0000", client="192.0.2.66")) == "sign-in-locked"
    assert kind(await sign_in(lending, card, PIN, client=home)) == "token"
    # a botnet: many clients, a few guesses each, all on her card
    for bot in range(12):
        for _ in range(3):
            await sign_in(lending, card, "0000", client=f"192.0.2.{bot}")
    slowed = [kind(await sign_in(lending, card, "0000", client=f"192.0.2.{100 + n}")) for n in range(5)]
    assert slowed.count("sign-in-locked") >= 4  # unknown clients share one slow lane on this card
    assert kind(await sign_in(lending, card, PIN, client=home)) == "token"  # her own client keeps its lane


async def test_unknown_cards_are_answered_exactly_like_real_ones(lending: Lending) -> None:
    card = await patron_with_pin(lending)
    verified: list[str] = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            verified.append("checked")
            return super().verify(hash, password)

    lending.cards.secrets.hasher = CountingHasher(time_cost=1, memory_cost=8 * 1024)
    real = [await sign_in(lending, card, "0000") for _ in range(6)]
    unknown = [await sign_in(lending, "T-NOBODY", "0000") for _ in range(6)]
    assert [kind(a) for a in real] == [kind(a) for a in unknown] == ["sign-in-failed"] * 5 + ["sign-in-locked"]
    assert [a.json()["detail"] for a in real] == [a.json()["detail"] for a in unknown]
    assert len(verified) == 10  # a hash was checked for the unknown card too: the same work, the same time


async def test_one_client_cannot_sweep_through_card_numbers(lending: Lending) -> None:
    answers = [kind(await sign_in(lending, f"DL-{n:06d}", "1234", client="192.0.2.9")) for n in range(31)]
    assert answers[:30] == ["sign-in-failed"] * 30
    assert answers[30] == "sign-in-locked"
    assert kind(await sign_in(lending, "DL-000031", "1234", client="192.0.2.10")) == "sign-in-failed"


async def test_staff_and_publisher_sign_in_are_throttled_alike(lending: Lending) -> None:
    async def staff(password: str, client: str) -> str:
        response = await lending.http.post(
            "/v1/auth/staff-token",
            json={"username": "thu.bmt", "password": password},
            headers={"X-Forwarded-For": client},
        )
        return kind(response)

    assert [await staff("wrong password", "192.0.2.1") for _ in range(6)][-1] == "sign-in-locked"
    assert await staff(STAFF_PASSWORD, "198.51.100.2") == "token"  # from elsewhere she still signs in
    await lending.accounts.create_publisher(name="NXB Trẻ", secret="s" * 24, publisher_id="nxb-tre")
    publisher = [
        kind(
            await lending.http.post(
                "/v1/auth/publisher-token",
                json={"publisher_id": "nxb-tre", "secret": "x" * 24},
                headers={"X-Forwarded-For": "192.0.2.1"},
            )
        )
        for _ in range(6)
    ]
    assert publisher[-1] == "sign-in-locked"
