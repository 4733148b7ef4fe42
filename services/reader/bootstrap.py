"""The one place reader's clients, handlers, routes and servicers are wired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from reader.settings import ReaderSettings
from sachso.kit.bootstrap import platform_infrastructure
from sachso.kit.health import s3_check
from sachso.kit.runtime import ServiceProcess, run_service
from sachso.kit.s3 import create_s3_client, ensure_bucket
from sachso.kit.settings import load_settings


@asynccontextmanager
async def build(settings: ReaderSettings) -> AsyncIterator[ServiceProcess]:
    async with platform_infrastructure(settings) as infrastructure, create_s3_client(settings) as s3:
        await ensure_bucket(s3, settings.s3_bucket)
        infrastructure.readiness["s3"] = s3_check(s3, settings.s3_bucket)
        yield infrastructure.service_process(
            title="Sách Số — reader",
            description="Publisher ingest, Readium Web Publication Manifests, streaming, PDF pages, reading sync.",
        )


def main() -> None:
    run_service("reader", lambda: load_settings(ReaderSettings), build)
