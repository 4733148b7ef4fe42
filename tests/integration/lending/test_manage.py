"""The operator commands bootstrap a network and its first admin from nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from lending.adapters.accounts import mongo_accounts
from lending.adapters.store import LendingStore
from lending.service_layer.cards import Secrets
from sachso.kit.auth import TokenIssuer

pytestmark = pytest.mark.integration


def manage(stack_env: dict[str, str], database: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        "LENDING_MONGO_URI": stack_env["SACHSO_MONGO_URI"],
        "LENDING_MONGO_DATABASE": database,
        "LENDING_MONGO_RETRY_WRITES": "false",
        "LENDING_KAFKA_BOOTSTRAP_SERVERS": stack_env["SACHSO_KAFKA_BOOTSTRAP_SERVERS"],
        "LENDING_JWKS_URLS": "http://127.0.0.1:9/unused",
        "LENDING_SIGNING_KEY_FILES": "/nonexistent.pem",
        "PATH": "/usr/bin:/bin",
    }
    return subprocess.run(
        [sys.executable, "-m", "lending.manage", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


async def test_bootstrap_a_network_and_its_first_admin(
    stack_env: dict[str, str], database: AsyncDatabase[dict[str, object]]
) -> None:
    name = database.name
    province = manage(stack_env, name, "add-library", "--id", "daklak", "--name", "Thư viện tỉnh Đắk Lắk",
                      "--kind", "province", "--code", "DL")  # fmt: skip
    assert province.returncode == 0, province.stderr
    orphan = manage(stack_env, name, "add-library", "--id", "x", "--name", "X", "--kind", "school",
                    "--parent", "nowhere", "--code", "XX")  # fmt: skip
    assert orphan.returncode == 1
    assert "not in the network" in orphan.stderr
    admin = manage(stack_env, name, "add-staff", "--username", "admin", "--role", "province-admin",
                   "--library", "daklak", stdin="a long enough password\n")  # fmt: skip
    assert admin.returncode == 0, admin.stderr

    accounts = mongo_accounts(LendingStore(database), TokenIssuer.generate("sachso-lending"), Secrets())
    token = await accounts.staff_sign_in("admin", "a long enough password")
    assert token.access_token
