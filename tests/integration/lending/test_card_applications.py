"""Card applications cannot be used to send spam (issue 12, item 6): few per client and per address, counted in
the database before anything is written or sent, and no message hidden in the applicant's name."""

from __future__ import annotations

import pytest

from tests.integration.lending.conftest import Lending

pytestmark = pytest.mark.integration


def application(email: str, name: str = "Nguyễn Thị Ánh", library_id: str = "buonmathuot") -> dict[str, str]:
    return {"library_id": library_id, "display_name": name, "email": email, "pin": "4821"}


async def test_applications_are_limited_per_client_and_per_address(lending: Lending) -> None:
    http = lending.http
    client = {"X-Forwarded-For": "192.0.2.5"}
    from_one_client = [
        await http.post("/v1/card-applications", json=application(f"ban{n}@example.vn"), headers=client)
        for n in range(21)
    ]
    assert [answer.status_code for answer in from_one_client] == [201] * 20 + [429]
    refused = from_one_client[-1]
    assert refused.json()["type"].endswith("/too-many-applications")
    assert int(refused.headers["Retry-After"]) >= 1
    assert len(await lending.events("EmailVerificationRequested")) == 20  # the refused one sent nothing

    victim = "victim@example.vn"
    libraries = ["daklak", "buonmathuot", "eakar", "thpt-bmt"]
    to_one_address = [
        await http.post(
            "/v1/card-applications",
            json=application(victim, library_id=library),
            headers={"X-Forwarded-For": f"198.51.100.{n}"},
        )
        for n, library in enumerate(libraries)
    ]
    assert [answer.status_code for answer in to_one_address] == [201, 201, 201, 429]
    assert len(await lending.events("EmailVerificationRequested")) == 23


@pytest.mark.parametrize(
    "name", ["Win money at evil.example", "Call 0912 345 678", "<a href=x>hi</a>", "http://evil", "  "]
)
async def test_a_name_cannot_carry_a_message(lending: Lending, name: str) -> None:
    answer = await lending.http.post("/v1/card-applications", json=application("a@example.vn", name=name))
    assert answer.status_code in (400, 422)
    assert answer.json()["type"].endswith("/invalid-input")
    assert await lending.events("EmailVerificationRequested") == []


async def test_real_names_are_welcome(lending: Lending) -> None:
    for n, name in enumerate(["Nguyễn Thị Ánh", "Y Bih Niê", "H'Hen Niê", "Lê Văn Tám-Anh", "Nguyễn T. Ánh"]):
        answer = await lending.http.post(
            "/v1/card-applications",
            json=application(f"n{n}@example.vn", name=name),
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
        )
        assert answer.status_code == 201, (name, answer.text)
