"""The one place DRM's clients, handlers, routes and servicers are wired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from drm.settings import DrmSettings
from sachso.kit.auth import TokenIssuer
from sachso.kit.bootstrap import platform_infrastructure
from sachso.kit.health import s3_check
from sachso.kit.jwks import jwks_router
from sachso.kit.runtime import ServiceProcess, run_service
from sachso.kit.s3 import create_s3_client, ensure_bucket
from sachso.kit.settings import load_settings


@asynccontextmanager
async def build(settings: DrmSettings) -> AsyncIterator[ServiceProcess]:
    issuer = TokenIssuer.from_files(settings.issuer, settings.signing_key_file_list)
    async with platform_infrastructure(settings) as infrastructure, create_s3_client(settings) as s3:
        await ensure_bucket(s3, settings.s3_bucket)
        infrastructure.readiness["s3"] = s3_check(s3, settings.s3_bucket)
        yield infrastructure.service_process(
            title="Sách Số — DRM",
            description="Readium LCP licences, License Status Documents, content keys, streaming tokens.",
            routers=[jwks_router(issuer)],
        )


def main() -> None:
    run_service("drm", lambda: load_settings(DrmSettings), build)
