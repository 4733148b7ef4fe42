"""The one place lending's clients, handlers, routes and servicers are wired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from lending.adapters.drm_client import DrmClient
from lending.adapters.store import LendingStore
from lending.entrypoints.consumers import GROUP, LendingHandlers, lending_consumers
from lending.entrypoints.grpc_api import LendingServicer
from lending.entrypoints.http import (
    auth_router,
    cards_router,
    catalogue_router,
    circulation_router,
    libraries_router,
    reports_router,
    staff_router,
)
from lending.entrypoints.opds import no_passphrase, opds_router
from lending.service_layer.cards import Cards
from lending.service_layer.catalogue import Catalogue
from lending.service_layer.circulation import Circulation
from lending.service_layer.due_watcher import DueWatcher
from lending.service_layer.reports import Reports
from lending.service_layer.staff import Accounts
from lending.settings import LendingSettings
from sachso.kit.auth import TokenIssuer
from sachso.kit.bootstrap import platform_infrastructure
from sachso.kit.jwks import jwks_router
from sachso.kit.runtime import ServiceProcess, run_service
from sachso.kit.settings import load_settings
from sachso.lending.v1 import lending_service_pb2, lending_service_pb2_grpc


@asynccontextmanager
async def build(settings: LendingSettings) -> AsyncIterator[ServiceProcess]:
    issuer = TokenIssuer.from_files(settings.issuer, settings.signing_key_file_list)
    async with (
        platform_infrastructure(settings, consumer_groups=[GROUP]) as infrastructure,
        grpc.aio.insecure_channel(settings.drm_grpc_target or "127.0.0.1:9") as drm_channel,
    ):
        store = LendingStore(infrastructure.database)
        await store.ensure_indexes()
        outbox = infrastructure.outbox
        circulation = Circulation(store, outbox)
        catalogue = Catalogue(store, outbox)
        cards = Cards(store, outbox, issuer)
        accounts = Accounts(store, issuer, cards.secrets)
        infrastructure.add_consumer(lending_consumers(LendingHandlers(catalogue, circulation, outbox)))
        infrastructure.workers["due-watcher"] = DueWatcher(store, circulation).run
        servicer = LendingServicer(circulation, store)

        def register_grpc(server: grpc.aio.Server) -> None:
            lending_service_pb2_grpc.add_LendingServiceServicer_to_server(servicer, server)

        yield infrastructure.service_process(
            title="Sách Số — lending",
            description="Library network, reader cards, catalogue, licence pools, loans and holds.",
            routers=[
                jwks_router(issuer),
                auth_router(cards, accounts),
                cards_router(cards, store),
                libraries_router(store),
                catalogue_router(catalogue, store),
                circulation_router(circulation, store),
                reports_router(Reports(store), store),
                staff_router(accounts, cards, catalogue, store),
                opds_router(
                    catalogue,
                    circulation,
                    cards,
                    store,
                    settings.drm_public_url.rstrip("/"),
                    DrmClient(drm_channel, issuer).hashed_passphrase if settings.drm_grpc_target else no_passphrase,
                ),
            ],
            grpc_services=[lending_service_pb2.DESCRIPTOR.services_by_name["LendingService"].full_name],
            register_grpc=register_grpc,
        )


def main() -> None:
    run_service("lending", lambda: load_settings(LendingSettings), build)
