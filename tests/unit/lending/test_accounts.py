"""Staff and publisher accounts on fakes: creation rules, sign-in throttled before the secret is checked, and the
tokens they get."""

from __future__ import annotations

import jwt
import pytest
from argon2 import PasswordHasher

from lending.errors import SignInFailed, SignInLocked
from lending.service_layer.cards import Secrets
from lending.service_layer.staff import Accounts
from sachso.kit.auth import Role, TokenIssuer
from sachso.kit.errors import Conflict, InvalidInput
from tests.unit.lending.account_fakes import FakeStaffAccounts
from tests.unit.lending.ils_fakes import FakeThrottle

ISSUER = TokenIssuer.generate("sachso-lending")
PASSWORD = "correct horse battery staple"


@pytest.fixture
def accounts() -> Accounts:
    secrets = Secrets(PasswordHasher(time_cost=1, memory_cost=8 * 1024))
    return Accounts(FakeStaffAccounts({"daklak", "eakar"}), ISSUER, secrets, FakeThrottle(limit=2))


async def test_staff_accounts_and_their_tokens(accounts: Accounts) -> None:
    staff_id = await accounts.create_staff(
        username=" Lan.EaKar ", password=PASSWORD, role=Role.LIBRARIAN, library_id="eakar"
    )
    with pytest.raises(Conflict):
        await accounts.create_staff(username="lan.eakar", password=PASSWORD, role=Role.LIBRARIAN, library_id="eakar")
    for username, password, role, library in (
        ("a", "short", Role.LIBRARIAN, "eakar"),
        ("b", PASSWORD, Role.PATRON, "eakar"),
        ("c", PASSWORD, Role.LIBRARIAN, "nowhere"),
    ):
        with pytest.raises(InvalidInput):
            await accounts.create_staff(username=username, password=password, role=role, library_id=library)
    pair = await accounts.staff_sign_in("LAN.eakar", PASSWORD)
    claims = jwt.decode(pair.access_token, options={"verify_signature": False})
    assert (claims["sub"], claims["library_id"], claims["roles"]) == (staff_id, "eakar", ["librarian"])
    assert not pair.refresh_token


async def test_sign_in_is_throttled_before_the_password_is_checked(accounts: Accounts) -> None:
    await accounts.create_staff(username="lan", password=PASSWORD, role=Role.LIBRARIAN, library_id="eakar")
    for _ in range(2):
        with pytest.raises(SignInFailed):
            await accounts.staff_sign_in("lan", "wrong password", client="10.0.0.1")
    with pytest.raises(SignInLocked):
        await accounts.staff_sign_in("lan", PASSWORD, client="10.0.0.1")
    assert (await accounts.staff_sign_in("lan", PASSWORD, client="10.0.0.2")).access_token
    with pytest.raises(SignInFailed):
        await accounts.staff_sign_in("nobody", PASSWORD)  # answered as a wrong password


async def test_publisher_accounts(accounts: Accounts) -> None:
    with pytest.raises(InvalidInput):
        await accounts.create_publisher(name="NXB Trẻ", secret="too short")
    assert await accounts.create_publisher(name="NXB Trẻ", secret="s" * 32, publisher_id="nxb-tre") == "nxb-tre"
    with pytest.raises(Conflict):
        await accounts.create_publisher(name="NXB Trẻ", secret="s" * 32, publisher_id="nxb-tre")
    assert (await accounts.publisher_sign_in("nxb-tre", "s" * 32)).access_token
    with pytest.raises(SignInFailed):
        await accounts.publisher_sign_in("nxb-tre", "t" * 32)
