"""DRM's settings: environment variables prefixed ``DRM_``."""

from pydantic_settings import SettingsConfigDict

from sachso.kit.settings import PlatformSettings, S3Settings, SigningSettings


class DrmSettings(PlatformSettings, S3Settings, SigningSettings):
    model_config = SettingsConfigDict(env_prefix="DRM_", frozen=True, extra="ignore")

    service_name: str = "drm"
    issuer: str = "sachso-drm"
