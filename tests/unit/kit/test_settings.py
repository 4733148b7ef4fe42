"""Settings fail fast, naming the bad variable, and cannot be changed once loaded."""

from __future__ import annotations

import pydantic
import pytest

from drm.settings import DrmSettings
from lending.settings import LendingSettings
from sachso.kit.auth import IssuerGrant, Role
from sachso.kit.settings import SettingsError, load_settings

COMPLETE = {
    "LENDING_MONGO_URI": "mongodb://127.0.0.1:1/?retryWrites=false",
    "LENDING_MONGO_DATABASE": "lending",
    "LENDING_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:2",
    "LENDING_JWKS_URLS": "http://127.0.0.1:3/.well-known/jwks.json, http://127.0.0.1:4/jwks",
    "LENDING_SIGNING_KEY_FILES": "/keys/2026-11.pem",
}


def set_env(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_complete_environment_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, {**COMPLETE, "LENDING_HTTP_PORT": "8081"})
    settings = load_settings(LendingSettings)
    assert settings.http_port == 8081
    assert settings.jwks_url_list == ["http://127.0.0.1:3/.well-known/jwks.json", "http://127.0.0.1:4/jwks"]
    assert settings.signing_key_file_list == ["/keys/2026-11.pem"]
    with pytest.raises(pydantic.ValidationError):
        settings.http_port = 1  # type: ignore[misc]


def test_missing_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, {k: v for k, v in COMPLETE.items() if k != "LENDING_MONGO_URI"})
    with pytest.raises(SettingsError, match="LENDING_MONGO_URI"):
        load_settings(LendingSettings)


def test_bad_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, {**COMPLETE, "LENDING_HTTP_PORT": "eighty"})
    with pytest.raises(SettingsError, match="LENDING_HTTP_PORT"):
        load_settings(LendingSettings)


def test_each_service_reads_only_its_own_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, COMPLETE)
    with pytest.raises(SettingsError, match="DRM_MONGO_URI") as error:
        load_settings(DrmSettings)
    assert "DRM_S3_SECRET_ACCESS_KEY" in str(error.value)


def test_issuer_grants_have_safe_defaults_and_can_be_set_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, COMPLETE)
    defaults = load_settings(LendingSettings).issuer_grants
    assert defaults["sachso-drm"].roles == {Role.SERVICE}
    assert defaults["sachso-reader"].audiences == {"sachso"}
    monkeypatch.setenv("LENDING_JWT_ISSUER_GRANTS", '{"sachso-drm": {"roles": [], "audiences": ["sachso-streaming"]}}')
    assert load_settings(LendingSettings).issuer_grants == {"sachso-drm": IssuerGrant.of([], ["sachso-streaming"])}
    monkeypatch.setenv("LENDING_JWT_ISSUER_GRANTS", '{"sachso-drm": {"roles": ["emperor"]}}')
    with pytest.raises(SettingsError, match="LENDING_JWT_ISSUER_GRANTS"):
        load_settings(LendingSettings)
