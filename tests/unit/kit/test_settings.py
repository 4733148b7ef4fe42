"""Settings fail fast, naming the bad variable, and cannot be changed once loaded."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pydantic
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from drm.settings import DrmSettings
from lending.settings import LendingSettings
from sachso.kit.auth import IssuerGrant, Role
from sachso.kit.kafka import connection_options
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


# -- Kafka security (Strimzi: a TLS listener signed by the cluster CA; SCRAM-SHA-512 or TLS client users) --------


def test_kafka_over_tls_with_scram_as_strimzi_sets_it_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    authority = tmp_path / "ca.crt"
    authority.write_text(certificate_authority(), encoding="ascii")
    set_env(monkeypatch, COMPLETE)
    set_env(
        monkeypatch,
        {
            "LENDING_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "LENDING_KAFKA_SSL_CA_FILE": str(authority),
            "LENDING_KAFKA_SASL_USERNAME": "sachso-lending",
            "LENDING_KAFKA_SASL_PASSWORD": "from-the-kafkauser-secret",
        },
    )
    options = connection_options(load_settings(LendingSettings))
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"  # Strimzi's scram-sha-512 users
    assert options["sasl_plain_password"] == "from-the-kafkauser-secret"
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert [cert["subject"] for cert in context.get_ca_certs()] == [((("commonName", "cluster-ca"),),)]


def test_plaintext_kafka_carries_no_security_options(monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, COMPLETE)
    assert connection_options(load_settings(LendingSettings)) == {
        "bootstrap_servers": "127.0.0.1:2",
        "security_protocol": "PLAINTEXT",
    }


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"LENDING_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"),
        ({"LENDING_KAFKA_SSL_CA_FILE": "/etc/ca.crt"}, "KAFKA_SECURITY_PROTOCOL is not SSL or SASL_SSL"),
        (
            {"LENDING_KAFKA_SECURITY_PROTOCOL": "SSL", "LENDING_KAFKA_SSL_CERT_FILE": "/etc/user.crt"},
            "KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together",
        ),
        ({"LENDING_KAFKA_SECURITY_PROTOCOL": "SSL", "LENDING_KAFKA_SSL_CA_FILE": "/nowhere/ca.crt"}, "no file"),
        ({"LENDING_KAFKA_SECURITY_PROTOCOL": "TLS"}, "LENDING_KAFKA_SECURITY_PROTOCOL"),
    ],
)
def test_incomplete_kafka_security_stops_the_start(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], complaint: str
) -> None:
    set_env(monkeypatch, {**COMPLETE, **values})
    with pytest.raises(SettingsError, match=complaint):
        load_settings(LendingSettings)


def certificate_authority() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cluster-ca")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
