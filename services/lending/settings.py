"""Lending's settings: environment variables prefixed ``LENDING_``."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from sachso.kit.settings import PlatformSettings, SigningSettings


class LendingSettings(PlatformSettings, SigningSettings):
    model_config = SettingsConfigDict(env_prefix="LENDING_", frozen=True, extra="ignore")

    service_name: str = "lending"
    # every request's database work ends within this (503 with Retry-After after it): see README, "Outages"
    request_deadline_seconds: float = Field(6.0, ge=0)
    issuer: str = "sachso-lending"
    # Lending's public base URL: every link in OPDS feeds is built from it (never from the request's Host header).
    public_url: str = Field("http://127.0.0.1:8000", pattern=r"^https?://[^\s?#]+$")
    # Where reading apps fetch LCP licences (the DRM service's public URL), for OPDS acquisition links.
    drm_public_url: str = ""
    # DRM's gRPC address: OPDS loan links then carry the hashed passphrase (automatic key retrieval).
    drm_grpc_target: str = ""
    # Card applications each send a code to an unverified address: limits per client and per address.
    card_applications_per_client_per_hour: int = Field(20, ge=1)
    card_applications_per_address_per_day: int = Field(3, ge=1)
