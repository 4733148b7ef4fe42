"""Notify's settings: environment variables prefixed ``NOTIFY_``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from notify.domain.preferences import DEFAULT_TIME_ZONE, zone
from notify.domain.push_endpoints import PushEndpointPolicy
from notify.errors import InvalidPreferences
from sachso.kit.settings import PlatformSettings, comma_list


class NotifySettings(PlatformSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_", frozen=True, extra="ignore")

    service_name: str = "notify"

    # -- email -------------------------------------------------------------------------------------------------
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_sender: str = "Sách Số <no-reply@sachso.local>"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # Implicit TLS (port 465) or STARTTLS (port 587); the local SMTP server speaks neither.
    smtp_tls: bool = False
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = Field(30.0, gt=0)
    smtp_connections: int = Field(4, ge=1, le=64)

    # -- Web Push ----------------------------------------------------------------------------------------------
    # PEM file of the VAPID key (EC P-256). Empty: Web Push is off (subscriptions are refused).
    vapid_private_key_file: str = ""
    # Who push services may contact about our traffic (RFC 8292 "sub" claim): mailto: or https: URL.
    vapid_subject: str = "mailto:no-reply@sachso.local"
    push_ttl_seconds: int = Field(86_400, ge=0)
    push_timeout_seconds: float = Field(10.0, gt=0)
    # Comma-separated push service domains endpoints must lie within (e.g. "fcm.googleapis.com,
    # push.services.mozilla.com,notify.windows.com,push.apple.com"); empty: any public https host.
    push_allowed_domains: str = ""
    # Test only: also accept http:// endpoints on loopback addresses (a test's local push receiver).
    # Refused unless ENVIRONMENT=test; see notify/domain/push_endpoints.py for what is accepted otherwise.
    push_allow_local_test_receiver: bool = False

    # -- what patrons are told and when ------------------------------------------------------------------------
    # Where links in messages point (the web app).
    web_app_url: str = "http://127.0.0.1:8080"
    default_time_zone: str = DEFAULT_TIME_ZONE
    loan_due_reminder_hours: float = Field(48.0, gt=0)
    hold_lapse_reminder_hours: float = Field(24.0, gt=0)

    # -- the sender --------------------------------------------------------------------------------------------
    delivery_max_attempts: int = Field(6, ge=1)
    delivery_initial_backoff_seconds: float = Field(30.0, gt=0)
    delivery_max_backoff_seconds: float = Field(3600.0, gt=0)
    # events handled in one consumer transaction (a burst of hold-ready events: see sachso.kit.consumer)
    consumer_batch_size: int = Field(100, ge=1, le=1000)
    sender_batch_size: int = Field(100, ge=1, le=1000)
    sender_concurrency: int = Field(16, ge=1, le=256)
    # claimed batches being sent and recorded at once: the next is claimed while one is sent (1: in turn)
    sender_batches_in_flight: int = Field(2, ge=1, le=8)
    sender_poll_seconds: float = Field(1.0, gt=0)
    inbox_stream_poll_seconds: float = Field(1.0, gt=0)
    inbox_stream_ping_seconds: float = Field(15.0, gt=0)

    @field_validator("default_time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zone(value)
        except InvalidPreferences as error:
            raise ValueError(error.detail) from None
        return value

    @field_validator("vapid_private_key_file")
    @classmethod
    def _readable_key(cls, value: str) -> str:
        if value and not Path(value).is_file():
            raise ValueError(f"no file {value}")
        return value

    @model_validator(mode="after")
    def _one_tls_mode(self) -> NotifySettings:
        if self.smtp_tls and self.smtp_starttls:
            raise ValueError("choose SMTP_TLS or SMTP_STARTTLS, not both")
        return self

    @model_validator(mode="after")
    def _test_receiver_only_in_tests(self) -> NotifySettings:
        if self.push_allow_local_test_receiver and self.environment != "test":
            raise ValueError("PUSH_ALLOW_LOCAL_TEST_RECEIVER is for ENVIRONMENT=test only")
        return self

    @property
    def push_endpoint_policy(self) -> PushEndpointPolicy:
        return PushEndpointPolicy(
            allowed_domains=tuple(comma_list(self.push_allowed_domains)),
            allow_local_test_receiver=self.push_allow_local_test_receiver,
        )

    @property
    def loan_due_reminder(self) -> timedelta:
        return timedelta(hours=self.loan_due_reminder_hours)

    @property
    def hold_lapse_reminder(self) -> timedelta:
        return timedelta(hours=self.hold_lapse_reminder_hours)
