"""The one place notify's clients, handlers, routes and servicers are wired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from notify.adapters.inbox_repository import MongoInbox
from notify.entrypoints.consumers import GROUP, notify_consumers
from notify.entrypoints.http import inbox_router
from notify.service_layer.handlers import NotifyHandlers
from notify.settings import NotifySettings
from sachso.kit.bootstrap import platform_infrastructure
from sachso.kit.runtime import ServiceProcess, run_service
from sachso.kit.settings import load_settings


@asynccontextmanager
async def build(settings: NotifySettings) -> AsyncIterator[ServiceProcess]:
    async with platform_infrastructure(settings, consumer_groups=[GROUP]) as infrastructure:
        inbox = MongoInbox(infrastructure.database)
        await inbox.ensure_indexes()
        infrastructure.add_consumer(notify_consumers(NotifyHandlers(inbox)))
        yield infrastructure.service_process(
            title="Sách Số — notify",
            description="Hold ready, loan due, card approved: email, web push and the in-app inbox.",
            routers=[inbox_router(inbox)],
        )


def main() -> None:
    run_service("notify", lambda: load_settings(NotifySettings), build)
