"""Typed, frozen settings read from environment variables, one prefix per service.

Each service composes the blocks it needs (``class LendingSettings(MongoSettings, KafkaSettings, ...)``) and
sets its own ``env_prefix`` (``LENDING_``). ``load_settings`` is the only place the environment is read; a bad
or missing variable stops start-up with the variable's full name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sachso.kit.auth import DEFAULT_ISSUER_GRANTS, IssuerGrant, Role

Environment = Literal["dev", "test", "production"]


class SettingsError(RuntimeError):
    """Raised when the environment does not describe a valid configuration."""


class BaseServiceSettings(BaseSettings):
    """Fields every service has. Subclasses set ``model_config['env_prefix']``."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    service_name: str
    environment: Environment = "dev"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    http_host: str = "127.0.0.1"
    http_port: int = Field(8000, ge=0, le=65535)
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(50051, ge=0, le=65535)
    shutdown_grace_seconds: float = Field(5.0, ge=0)
    # Proxies in front of the service that append the caller to X-Forwarded-For (an ingress: 1). Rate limits key on
    # the address the outermost of them saw; 0 trusts no header and uses the peer address.
    trusted_proxy_hops: int = Field(0, ge=0, le=5)
    # Browser origins allowed to call the HTTP API (comma-separated, e.g. "https://sachso.daklak.gov.vn"); empty: none.
    cors_origins: str = ""
    # Traces: recorded spans go to this OTLP/gRPC collector (e.g. "http://otel-collector.monitoring:4317"); empty:
    # none leave the process (trace ids still correlate the logs). Recording a span for every request costs real
    # throughput on hot paths (streaming, checkouts), so only this share of traces is recorded (parent-based).
    otlp_endpoint: str = ""
    trace_sample_ratio: float = Field(0.05, ge=0.0, le=1.0)


class MongoSettings(BaseServiceSettings):
    """A MongoDB replica set (or the local MongoDB-protocol server)."""

    mongo_uri: str
    mongo_database: str
    # Production MongoDB keeps retryable writes on; the local test server must turn them off
    # (see ../shared/docs/local-infrastructure.md).
    mongo_retry_writes: bool = True
    # Each HTTP request's database work (transaction retries included) ends by this deadline (pymongo.timeout) and
    # answers 503 with Retry-After; 0: no deadline (services with long uploads keep it off).
    request_deadline_seconds: float = Field(0.0, ge=0)


class KafkaSettings(BaseServiceSettings):
    """A Kafka cluster (or the local Kafka-protocol broker)."""

    kafka_bootstrap_servers: str
    # Prepended to every topic and consumer group name: lets tests and several installs share one cluster.
    kafka_topic_prefix: str = ""
    # How long a fetch may wait for data. Kafka answers as soon as data arrives; Tansu (the local broker) always
    # waits the full time, so the local platform lowers it (see ../shared/docs/local-infrastructure.md).
    kafka_fetch_max_wait_ms: int = Field(500, ge=10, le=10_000)
    kafka_session_timeout_ms: int = Field(10_000, ge=1_000)
    kafka_heartbeat_interval_ms: int = Field(3_000, ge=100)
    consumer_max_attempts: int = Field(5, ge=1)
    consumer_initial_backoff_seconds: float = Field(0.2, gt=0)
    outbox_poll_seconds: float = Field(0.5, gt=0)
    # Security, as Strimzi sets a cluster up: a TLS listener (port 9093) signed by the cluster CA (the Secret
    # <cluster>-cluster-ca-cert, key ca.crt), and either SCRAM-SHA-512 users (KafkaUser, authentication
    # scram-sha-512: the user's Secret has the password) or TLS client certificates (authentication tls: the
    # user's Secret has user.crt and user.key).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_ssl_ca_file: str = ""
    kafka_ssl_cert_file: str = ""
    kafka_ssl_key_file: str = ""
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr | None = None

    @model_validator(mode="after")
    def _kafka_security_complete(self) -> KafkaSettings:
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs KAFKA_SASL_USERNAME "
                "and KAFKA_SASL_PASSWORD"
            )
        if bool(self.kafka_ssl_cert_file) != bool(self.kafka_ssl_key_file):
            raise ValueError("KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together (a TLS client certificate)")
        uses_tls = self.kafka_security_protocol in ("SSL", "SASL_SSL")
        for name in ("kafka_ssl_ca_file", "kafka_ssl_cert_file", "kafka_ssl_key_file"):
            path = getattr(self, name)
            if path and not uses_tls:
                raise ValueError(f"{name.upper()} is set but KAFKA_SECURITY_PROTOCOL is not SSL or SASL_SSL")
            if path and not Path(path).is_file():
                raise ValueError(f"{name.upper()}: no file {path}")
        return self


class S3Settings(BaseServiceSettings):
    """S3-compatible object storage."""

    s3_endpoint_url: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key_id: str
    s3_secret_access_key: SecretStr
    s3_bucket: str


class GrantSetting(BaseModel):
    """One issuer's grant as configured: ``{"roles": ["service"], "audiences": ["sachso"]}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    roles: tuple[Role, ...] = ()
    audiences: tuple[str, ...] = ()


def _default_grants() -> dict[str, GrantSetting]:
    return {
        issuer: GrantSetting(roles=tuple(sorted(grant.roles)), audiences=tuple(sorted(grant.audiences)))
        for issuer, grant in DEFAULT_ISSUER_GRANTS.items()
    }


class AuthSettings(BaseServiceSettings):
    """Where bearer tokens are verified from: JWKS endpoints of the issuers this service trusts."""

    # Comma-separated JWKS URLs, each best pinned to its issuer: "sachso-lending=http://lending/.well-known/jwks.json".
    # A bare URL speaks for the issuer its JWKS document declares.
    jwks_urls: str
    # Comma-separated issuers whose tokens this service accepts.
    jwt_issuers: str = "sachso-lending,sachso-drm,sachso-reader"
    jwt_audience: str = "sachso"
    jwks_cache_seconds: float = Field(300.0, gt=0)
    # What each issuer may assert (JSON): roles and audiences. The defaults let only lending sign people in;
    # DRM and the reader may only speak as services (and DRM for streaming).
    jwt_issuer_grants: dict[str, GrantSetting] = Field(default_factory=_default_grants)

    @property
    def issuer_grants(self) -> dict[str, IssuerGrant]:
        return {
            issuer: IssuerGrant.of(grant.roles, grant.audiences) for issuer, grant in self.jwt_issuer_grants.items()
        }

    @property
    def jwks_url_list(self) -> list[str]:
        return comma_list(self.jwks_urls)

    @property
    def jwt_issuer_list(self) -> list[str]:
        return comma_list(self.jwt_issuers)


def comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class PlatformSettings(MongoSettings, KafkaSettings, AuthSettings):
    """What every service has: its database, the event bus and token verification."""


SettingsT = TypeVar("SettingsT", bound=BaseServiceSettings)


def load_settings(settings_class: type[SettingsT]) -> SettingsT:
    """Read ``settings_class`` from the environment, failing with the names of the bad variables."""
    prefix = str(settings_class.model_config.get("env_prefix", ""))
    try:
        return settings_class()
    except ValidationError as error:
        problems = []
        for detail in error.errors():
            field = ".".join(str(part) for part in detail["loc"])
            problems.append(f"{prefix}{field.upper()}: {detail['msg']}")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None


def load_service_settings(settings_class: type[SettingsT], service: str) -> SettingsT:
    """``settings_class`` read from ``service``'s own variables (``NOTIFY_…`` for notify): what an operator's
    command run inside a service's pod needs, with exactly that service's settings."""
    prefixed_class = type(
        settings_class.__name__,
        (settings_class,),
        {"model_config": SettingsConfigDict(env_prefix=f"{service.upper()}_", frozen=True, extra="ignore")},
    )
    return load_settings(prefixed_class)


class SigningSettings(BaseServiceSettings):
    """Keys a token-issuing service signs with: PEM files (EC P-256), the first signs, all are published."""

    # Comma-separated PEM paths (EC P-256). Rotate by putting a new file first and removing
    # the old one once the longest-lived token it signed has expired.
    signing_key_files: str

    @property
    def signing_key_file_list(self) -> list[str]:
        return comma_list(self.signing_key_files)
