"""Lending's settings: environment variables prefixed ``LENDING_``."""

from pydantic_settings import SettingsConfigDict

from sachso.kit.settings import PlatformSettings, SigningSettings


class LendingSettings(PlatformSettings, SigningSettings):
    model_config = SettingsConfigDict(env_prefix="LENDING_", frozen=True, extra="ignore")

    service_name: str = "lending"
    issuer: str = "sachso-lending"
    # Where reading apps fetch LCP licences (the DRM service's public URL), for OPDS acquisition links.
    drm_public_url: str = ""
    # DRM's gRPC address: OPDS loan links then carry the hashed passphrase (automatic key retrieval).
    drm_grpc_target: str = ""
