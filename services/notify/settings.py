"""Notify's settings: environment variables prefixed ``NOTIFY_``."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from sachso.kit.settings import PlatformSettings


class NotifySettings(PlatformSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_", frozen=True, extra="ignore")

    service_name: str = "notify"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_sender: str = "Sách Số <no-reply@sachso.local>"
