"""Reader's settings: environment variables prefixed ``READER_``."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from sachso.kit.settings import PlatformSettings, S3Settings


class ReaderSettings(PlatformSettings, S3Settings):
    model_config = SettingsConfigDict(env_prefix="READER_", frozen=True, extra="ignore")

    service_name: str = "reader"
    # Where books fetched from S3 are kept (and uploads are checked): local, disposable.
    cache_dir: Path = Path("/tmp/sachso-reader")  # noqa: S108 (a default for development; set it in production)
    cache_disk_bytes: int = Field(2 * 1024**3, ge=64 * 1024**2)
    cache_memory_bytes: int = Field(256 * 1024**2, ge=16 * 1024**2)
    max_upload_bytes: int = Field(512 * 1024**2, ge=1024**2)
    # Streaming tokens come from the DRM service, for this audience.
    streaming_issuer: str = "sachso-drm"
    streaming_audience: str = "sachso-streaming"
    # To decrypt LCP-protected books on the fly, the reader asks DRM for content keys as a service: it signs its
    # own service tokens (key files as for lending and drm; DRM must trust this issuer's JWKS) and calls DRM here.
    issuer: str = "sachso-reader"
    signing_key_files: str = ""
    drm_grpc_target: str = ""
    # Scanned local documents: resumable uploads up to this size; OCR with these Tesseract models, by the OCR
    # consumer group (reader-ocr) in every reader process where ocr_worker is true.
    max_scan_upload_bytes: int = Field(4 * 1024**3, ge=1024**2)
    ocr_languages: str = Field("vie", pattern=r"^[a-z_]+(\+[a-z_]+)*$")
    ocr_worker: bool = True
