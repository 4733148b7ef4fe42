"""Reader's settings: environment variables prefixed ``READER_``."""

from pydantic_settings import SettingsConfigDict

from sachso.kit.settings import PlatformSettings, S3Settings


class ReaderSettings(PlatformSettings, S3Settings):
    model_config = SettingsConfigDict(env_prefix="READER_", frozen=True, extra="ignore")

    service_name: str = "reader"
