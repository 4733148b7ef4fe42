"""Lending's settings: environment variables prefixed ``LENDING_``."""

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from sachso.kit.settings import PlatformSettings, SigningSettings


class Sip2Login(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str = ""
    password: SecretStr = SecretStr("")
    terminal_password: SecretStr = SecretStr("")


class OdlSourceSetting(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    feed_url: str
    client_id: str
    secret: SecretStr
    library_id: str


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
    # Links to the libraries' own systems: the web app that MARC 856 and OAI-PMH records link to, the MARC
    # organisation code written in 003 (the provincial library's, e.g. VN-DLK), the OAI-PMH repository's name and
    # administrator.
    web_app_url: str = "http://127.0.0.1:8080"
    marc_organisation_code: str = "SACHSO"
    oai_repository_name: str = "Sách Số"
    oai_admin_email: str = "admin@sachso.invalid"
    oai_page_size: int = Field(100, ge=1, le=1000)
    # SIP2 logins to the libraries' own systems, JSON from a Secret, by library id:
    # {"daklak": {"user": "sachso", "password": "…", "terminal_password": "…"}}. Addresses are set per library
    # over the API (PUT /v1/libraries/{id}/ils). A private CA for their TLS, and how long an ILS may take.
    ils_sip2_logins: dict[str, Sip2Login] = Field(default_factory=dict)
    ils_sip2_ca_file: str = ""
    ils_sip2_timeout_seconds: float = Field(5.0, gt=0, le=60)
    # Other deployments whose ODL offers this one circulates, JSON from a Secret, by source id:
    # {"daklak": {"feed_url": "https://…/odl/feed", "client_id": "phuyen", "secret": "…", "library_id": "phuyen"}}.
    odl_sources: dict[str, OdlSourceSetting] = Field(default_factory=dict)
    odl_relay_seconds: float = Field(2.0, gt=0, le=300)
    # The reader service's public URL: anyone reads an open title's publication there (open-reading links), and
    # partner deployments' patrons read loans of our offers there, with streaming tokens our DRM issues (through
    # LENDING_DRM_GRPC_TARGET). Empty: partners' patrons cannot read (503).
    reader_public_url: str = Field("", pattern=r"^(https?://[^\s?#]+)?$")

    def library_links(self) -> "LibraryLinks":
        return LibraryLinks(
            web_app_url=self.web_app_url.rstrip("/"),
            marc_organisation_code=self.marc_organisation_code,
            oai_repository_name=self.oai_repository_name,
            oai_admin_email=self.oai_admin_email,
            oai_page_size=self.oai_page_size,
        )


@dataclass(frozen=True)
class LibraryLinks:
    """What the MARC exports and the OAI-PMH provider say about this deployment."""

    web_app_url: str = "http://127.0.0.1:8080"
    marc_organisation_code: str = "SACHSO"
    oai_repository_name: str = "Sách Số"
    oai_admin_email: str = "admin@sachso.invalid"
    oai_page_size: int = 100
