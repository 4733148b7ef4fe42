"""The one place lending's clients, handlers, routes and servicers are wired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from lending.settings import LendingSettings
from sachso.kit.auth import TokenIssuer
from sachso.kit.bootstrap import platform_infrastructure
from sachso.kit.jwks import jwks_router
from sachso.kit.runtime import ServiceProcess, run_service
from sachso.kit.settings import load_settings


@asynccontextmanager
async def build(settings: LendingSettings) -> AsyncIterator[ServiceProcess]:
    issuer = TokenIssuer.from_files(settings.issuer, settings.signing_key_file_list)
    async with platform_infrastructure(settings) as infrastructure:
        yield infrastructure.service_process(
            title="Sách Số — lending",
            description="Library network, reader cards, catalogue, licence pools, loans and holds.",
            routers=[jwks_router(issuer)],
        )


def main() -> None:
    run_service("lending", lambda: load_settings(LendingSettings), build)
