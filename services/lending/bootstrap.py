"""The one place lending's clients, handlers, routes and servicers are wired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import grpc
import httpx
from fastapi import APIRouter

from lending.adapters.accounts import mongo_accounts
from lending.adapters.drm_client import DrmClient
from lending.adapters.local_document_store import MongoLocalDocumentsUnitOfWork
from lending.adapters.local_document_store import ensure_indexes as ensure_local_document_indexes
from lending.adapters.repositories import MongoTurnaways, mongo_catalogue, mongo_units_of_work
from lending.adapters.store import LendingStore
from lending.domain.throttle import ApplicationLimits
from lending.entrypoints.consumers import LendingHandlers, lending_consumers
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
from lending.entrypoints.local_document_consumers import LocalDocumentHandlers
from lending.entrypoints.opds import HashedPassphrase, no_passphrase, opds_router
from lending.entrypoints.routes.open_collections import open_collections_router
from lending.library_systems import library_systems, odl_sources, sip2_directory
from lending.service_layer.cards import CardAccess, Cards
from lending.service_layer.catalogue import Catalogue
from lending.service_layer.circulation import Circulation
from lending.service_layer.clock import system_clock
from lending.service_layer.directory import Directory
from lending.service_layer.due_watcher import DueWatcher
from lending.service_layer.local_documents import OpenCollections
from lending.service_layer.local_documents import UnitOfWorkFactory as LocalDocumentsUnits
from lending.service_layer.reports import Reports
from lending.service_layer.staff import Accounts
from lending.service_layer.unit_of_work import UnitOfWorkFactory
from lending.settings import LendingSettings
from sachso.kit.auth import TokenIssuer
from sachso.kit.bootstrap import platform_infrastructure
from sachso.kit.jwks import jwks_router
from sachso.kit.outbox import Outbox
from sachso.kit.runtime import ServiceProcess, run_service
from sachso.kit.settings import load_settings
from sachso.lending.v1 import lending_service_pb2, lending_service_pb2_grpc


def http_routers(
    issuer: TokenIssuer,
    units: UnitOfWorkFactory,
    circulation: Circulation,
    catalogue: Catalogue,
    cards: Cards,
    accounts: Accounts,
    drm_public_url: str,
    hashed_passphrase: HashedPassphrase = no_passphrase,
    *,
    public_url: str,
    collections: OpenCollections,
    reader_public_url: str = "",
) -> list[APIRouter]:
    """Every HTTP route of lending (the integration tests serve exactly these)."""
    directory = Directory(units)
    return [
        jwks_router(issuer),
        auth_router(cards, accounts),
        cards_router(cards, directory),
        libraries_router(directory),
        catalogue_router(catalogue, directory),
        circulation_router(circulation, directory),
        reports_router(Reports(units), directory),
        staff_router(accounts, cards, catalogue, circulation, directory),
        opds_router(catalogue, circulation, cards, drm_public_url, hashed_passphrase, public_url=public_url),
        open_collections_router(collections, catalogue, directory, reader_public_url.rstrip("/")),
    ]


def local_documents_units_of_work(store: LendingStore, outbox: Outbox) -> LocalDocumentsUnits:
    """Units of work for open titles and digitisation (each a transaction of its own)."""
    return lambda: MongoLocalDocumentsUnitOfWork(store.database, outbox)


@asynccontextmanager
async def build(settings: LendingSettings) -> AsyncIterator[ServiceProcess]:
    issuer = TokenIssuer.from_files(settings.issuer, settings.signing_key_file_list)
    async with AsyncExitStack() as stack:
        infrastructure = await stack.enter_async_context(platform_infrastructure(settings))
        hashed_passphrase: HashedPassphrase = no_passphrase
        drm: DrmClient | None = None
        if settings.drm_grpc_target:  # OPDS loan links then carry the hashed passphrase; partners' patrons read
            drm_channel = await stack.enter_async_context(grpc.aio.insecure_channel(settings.drm_grpc_target))
            drm = DrmClient(drm_channel, issuer)
            hashed_passphrase = drm.hashed_passphrase
        store = LendingStore(infrastructure.database)
        await store.ensure_indexes()
        outbox = infrastructure.outbox
        units = mongo_units_of_work(store, outbox)
        circulation = Circulation(units, MongoTurnaways(store))
        catalogue = mongo_catalogue(store, outbox)
        limits = ApplicationLimits.of(
            settings.card_applications_per_client_per_hour, settings.card_applications_per_address_per_day
        )
        cards = Cards(units, store, issuer, application_limits=limits)
        accounts = mongo_accounts(store, issuer, cards.secrets)
        await ensure_local_document_indexes(store.database)
        local_documents = LocalDocumentHandlers(
            lambda session: MongoLocalDocumentsUnitOfWork(store.database, outbox, session=session)
        )
        infrastructure.add_consumer(
            lending_consumers(LendingHandlers(catalogue, circulation, outbox), local_documents)
        )  # fmt: skip
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
            streaming=drm,
            reader_url=settings.reader_public_url,
            public_url=settings.public_url,
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
                    units,
                    circulation,
                    catalogue,
                    cards,
                    accounts,
                    settings.drm_public_url.rstrip("/"),
                    hashed_passphrase,
                    public_url=settings.public_url,
                    collections=OpenCollections(local_documents_units_of_work(store, outbox), system_clock),
                    reader_public_url=settings.reader_public_url,
                ),
                *systems.routers,
            ],
            grpc_services=[lending_service_pb2.DESCRIPTOR.services_by_name["LendingService"].full_name],
            register_grpc=register_grpc,
            principal_check=CardAccess(store).ensure_not_blocked,
        )


def main() -> None:
    run_service("lending", lambda: load_settings(LendingSettings), build)
