"""The one place lending's clients, handlers, routes and servicers are wired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from urllib.parse import urlsplit

import grpc
from fastapi import APIRouter

from lending.adapters.catalogue_records import MongoCatalogueRecords, MongoMarcImportRepository
from lending.adapters.drm_client import DrmClient
from lending.adapters.ils_patrons import MongoIlsPatrons
from lending.adapters.network_store import MongoNetworkTransactions
from lending.adapters.sip2_client import Sip2Credentials, Sip2Directory
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
from lending.entrypoints.ils import ils_router
from lending.entrypoints.marc import marc_router
from lending.entrypoints.network import network_router
from lending.entrypoints.oai import oai_router
from lending.entrypoints.opds import HashedPassphrase, no_passphrase, opds_router
from lending.service_layer.cards import Cards
from lending.service_layer.catalogue import Catalogue
from lending.service_layer.circulation import Circulation
from lending.service_layer.clock import Clock, system_clock
from lending.service_layer.due_watcher import DueWatcher
from lending.service_layer.ils_sign_in import IlsDirectory, IlsSignIn
from lending.service_layer.marc_export import MarcExport
from lending.service_layer.marc_import import MarcImport
from lending.service_layer.network_admin import NetworkAdmin
from lending.service_layer.oai_pmh import OaiConfiguration, OaiProvider
from lending.service_layer.reports import Reports
from lending.service_layer.staff import Accounts
from lending.settings import LendingSettings, LibraryLinks
from sachso.kit.auth import TokenIssuer
from sachso.kit.bootstrap import platform_infrastructure
from sachso.kit.jwks import jwks_router
from sachso.kit.outbox import Outbox
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
        staff_router(accounts, cards, catalogue, store),
        opds_router(catalogue, circulation, cards, store, drm_public_url, hashed_passphrase),
    ]


def library_system_routers(
    store: LendingStore,
    outbox: Outbox,
    catalogue: Catalogue,
    issuer: TokenIssuer,
    links: LibraryLinks,
    ils: IlsDirectory,
    clock: Clock = system_clock,
) -> list[APIRouter]:
    """The routes of the library network and the links to the libraries' own systems (issue 17), kept apart from
    :func:`http_routers` so the two grow without touching each other; the integration tests serve both."""
    records = MongoCatalogueRecords(store)
    return [
        network_router(NetworkAdmin(MongoNetworkTransactions(store, outbox))),
        marc_router(
            MarcImport(MongoMarcImportRepository(store, outbox, catalogue)),
            MarcExport(records, links.marc_organisation_code, links.web_app_url),
            store.network,
            clock,
        ),
        oai_router(OaiProvider(records, oai_configuration(links), clock)),
        ils_router(IlsSignIn(MongoIlsPatrons(store, clock), ils, issuer, clock), store.network),
    ]


def sip2_directory(settings: LendingSettings) -> Sip2Directory:
    logins = {
        library_id: Sip2Credentials(
            login.user, login.password.get_secret_value(), login.terminal_password.get_secret_value()
        )
        for library_id, login in settings.ils_sip2_logins.items()
    }
    return Sip2Directory(logins, timeout_seconds=settings.ils_sip2_timeout_seconds, ca_file=settings.ils_sip2_ca_file)


def oai_configuration(links: LibraryLinks) -> OaiConfiguration:
    return OaiConfiguration(
        repository_name=links.oai_repository_name,
        admin_email=links.oai_admin_email,
        repository_identifier=urlsplit(links.web_app_url).hostname or "sachso",
        web_app_url=links.web_app_url,
        organisation=links.marc_organisation_code,
        page_size=links.oai_page_size,
    )


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
                *http_routers(
                    issuer,
                    store,
                    circulation,
                    catalogue,
                    cards,
                    accounts,
                    settings.drm_public_url.rstrip("/"),
                    hashed_passphrase,
                ),
                *library_system_routers(
                    store, outbox, catalogue, issuer, settings.library_links(), sip2_directory(settings)
                ),
            ],
            grpc_services=[lending_service_pb2.DESCRIPTOR.services_by_name["LendingService"].full_name],
            register_grpc=register_grpc,
        )


def main() -> None:
    run_service("lending", lambda: load_settings(LendingSettings), build)
