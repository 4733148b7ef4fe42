"""DRM's settings: environment variables prefixed ``DRM_``."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from sachso.kit.settings import PlatformSettings, S3Settings, SigningSettings, comma_list


class DrmSettings(PlatformSettings, S3Settings, SigningSettings):
    model_config = SettingsConfigDict(env_prefix="DRM_", frozen=True, extra="ignore")

    service_name: str = "drm"
    # every request's database work ends within this (503 with Retry-After after it): see README, "Outages"
    request_deadline_seconds: float = Field(6.0, ge=0)
    issuer: str = "sachso-drm"
    # LCP provider: its certificate and private key sign every licence (see README: production profile).
    lcp_provider: str = "https://sachso.vn"
    lcp_certificate_file: Path
    lcp_key_file: Path
    # Master keys wrap the content keys (envelope encryption). Comma-separated files of 32 random bytes
    # (base64); the first wraps new keys, the others still unwrap: rotate by putting a new file first.
    master_key_files: str
    public_url: str = Field("http://127.0.0.1:8000", description="DRM's public base URL, for licence links")
    reader_public_url: str = Field("", description="the reader service's public URL, for streaming links")
    lending_grpc_target: str = Field("127.0.0.1:50051", description="lending's gRPC address (renewals)")
    streaming_token_seconds: int = Field(300, ge=30, le=3600)
    streaming_audience: str = "sachso-streaming"
    lcp_print_pages: int = Field(10, ge=0)
    lcp_copy_characters: int = Field(2000, ge=0)

    @property
    def master_key_file_list(self) -> list[str]:
        return comma_list(self.master_key_files)
