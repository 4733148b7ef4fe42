"""The one place lending's clients, handlers, routes and servicers are wired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import grpc
import httpx
from fastapi import APIRouter

from lending.adapters.drm_client import DrmClient
from lending.adapters.repositories import mongo_units_of_work
from lending.adapters.store import LendingStore
from lending.domain.throttle import ApplicationLimits
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
from lending.entrypoints.opds import HashedPassphrase, no_passphrase, opds_router
from lending.library_systems import library_systems, odl_sources, sip2_directory
from lending.service_layer.cards import CardAccess, Cards
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


def http_routers(
    issuer: TokenIssuer,
    store: LendingStore,
    circulation: Circulation,
    catalogue: Catalogue,
    cards: Cards,
    accounts: Accounts,
    drm_public_url: str,
    hashed_passphrase: HashedPassphrase = no_passphrase,
    *,
    public_url: str,
) -> list[APIRouter]:
    """Every HTTP route of lending (the integration tests serve exactly these)."""
    return [
        jwks_router(issuer),
        auth_router(cards, accounts),
        cards_router(cards, store),
        libraries_router(store),
        catalogue_router(catalogue, store),
        circulation_router(circulation, store),
        reports_router(Reports(store), store),
        staff_router(accounts, cards, catalogue, circulation, store),
        opds_router(catalogue, circulation, cards, store, drm_public_url, hashed_passphrase, public_url=public_url),
    ]


@asynccontextmanager
async def build(settings: LendingSettings) -> AsyncIterator[ServiceProcess]:
    issuer = TokenIssuer.from_files(settings.issuer, settings.signing_key_file_list)
    async with AsyncExitStack() as stack:
        infrastructure = await stack.enter_async_context(platform_infrastructure(settings, consumer_groups=[GROUP]))
        hashed_passphrase: HashedPassphrase = no_passphrase
        if settings.drm_grpc_target:  # OPDS loan links then carry the hashed passphrase
            drm_channel = await stack.enter_async_context(grpc.aio.insecure_channel(settings.drm_grpc_target))
            hashed_passphrase = DrmClient(drm_channel, issuer).hashed_passphrase
        store = LendingStore(infrastructure.database)
        await store.ensure_indexes()
        outbox = infrastructure.outbox
        circulation = Circulation(mongo_units_of_work(store, outbox))
        catalogue = Catalogue(store, outbox)
        limits = ApplicationLimits.of(
            settings.card_applications_per_client_per_hour, settings.card_applications_per_address_per_day
        )
        cards = Cards(store, outbox, issuer, application_limits=limits)
        accounts = Accounts(store, issuer, cards.secrets)
        infrastructure.add_consumer(lending_consumers(LendingHandlers(catalogue, circulation, outbox)))
        infrastructure.workers["due-watcher"] = DueWatcher(circulation).run
        servicer = LendingServicer(circulation, store)
        lender_http = await stack.enter_async_context(httpx.AsyncClient())
        systems = library_systems(  # the network and the links to other systems (issue 17)
            store,
            outbox,
            catalogue,
            circulation,
            issuer,
            settings.library_links(),
            ils=sip2_directory(settings),
            odl_sources=odl_sources(settings),
            lender_http=lender_http,
            secrets=cards.secrets,
            relay_seconds=settings.odl_relay_seconds,
        )
        infrastructure.workers.update(systems.workers)

        def register_grpc(server: grpc.aio.Server) -> None:
            lending_service_pb2_grpc.add_LendingServiceServicer_to_server(servicer, server)

        yield infrastructure.service_process(
            title="Sách Số — lending",
            description="Library network, reader cards, catalogue, licence pools, loans and holds.",
            routers=[
                *http_routers(
                    issuer,
                    store,
                    circulation,
                    catalogue,
                    cards,
                    accounts,
                    settings.drm_public_url.rstrip("/"),
                    hashed_passphrase,
                    public_url=settings.public_url,
                ),
                *systems.routers,
            ],
            grpc_services=[lending_service_pb2.DESCRIPTOR.services_by_name["LendingService"].full_name],
            register_grpc=register_grpc,
            principal_check=CardAccess(store).ensure_not_blocked,
        )


def main() -> None:
    run_service("lending", lambda: load_settings(LendingSettings), build)
