"""Wiring of the library network and the links to other systems (issue 17): MARC21, OAI-PMH, SIP2 sign-in and ODL
between deployments. Built once by :mod:`lending.bootstrap` (and by the integration tests, the same way)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter

from lending.adapters.catalogue_records import MongoCatalogueRecords, MongoMarcImportRepository
from lending.adapters.ils_patrons import MongoIlsPatrons
from lending.adapters.network_store import network_transactions
from lending.adapters.odl_client import HttpOdlLender
from lending.adapters.odl_store import MongoOdlBorrowingRepository, odl_lending_transactions
from lending.adapters.sip2_client import Sip2Credentials, Sip2Directory
from lending.adapters.store import LendingStore
from lending.entrypoints.ils import ils_router
from lending.entrypoints.marc import marc_router
from lending.entrypoints.network import network_router
from lending.entrypoints.oai import oai_router
from lending.entrypoints.odl import odl_borrowing_router, odl_lending_router
from lending.service_layer.cards import Secrets
from lending.service_layer.catalogue import Catalogue
from lending.service_layer.circulation import Circulation
from lending.service_layer.clock import Clock, system_clock
from lending.service_layer.ils_sign_in import IlsDirectory, IlsSignIn
from lending.service_layer.marc_export import MarcExport
from lending.service_layer.marc_import import MarcImport
from lending.service_layer.network_admin import NetworkAdmin
from lending.service_layer.oai_pmh import OaiConfiguration, OaiProvider
from lending.service_layer.odl_borrowing import OdlBorrowing, OdlSource
from lending.service_layer.odl_lending import OdlLending, StreamingTokens
from lending.service_layer.throttle import SignInThrottle
from lending.settings import LendingSettings, LibraryLinks
from sachso.events.v1 import lending_events_pb2 as events
from sachso.kit.auth import TokenIssuer
from sachso.kit.outbox import Outbox

log = logging.getLogger(__name__)
Worker = Callable[[asyncio.Event], Awaitable[None]]


@dataclass
class LibrarySystems:
    routers: list[APIRouter]
    odl_lending: OdlLending
    odl_borrowing: OdlBorrowing
    workers: dict[str, Worker] = field(default_factory=dict)


def library_systems(
    store: LendingStore,
    outbox: Outbox,
    catalogue: Catalogue,
    circulation: Circulation,
    issuer: TokenIssuer,
    links: LibraryLinks,
    *,
    ils: IlsDirectory,
    odl_sources: Mapping[str, OdlSource],
    lender_http: httpx.AsyncClient,
    secrets: Secrets,
    relay_seconds: float = 2.0,
    clock: Clock = system_clock,
    streaming: StreamingTokens | None = None,
    reader_url: str = "",
    public_url: str = "",
) -> LibrarySystems:
    records = MongoCatalogueRecords(store)
    odl_lending = OdlLending(
        odl_lending_transactions(store, outbox),
        secrets.hash,
        secrets.matches,
        clock,
        streaming=streaming,
        reader_url=reader_url,
    )

    async def end_refused_loan(loan_id: str) -> object:
        return await circulation.return_loan(loan_id, channel=events.RETURN_CHANNEL_STAFF)

    odl_borrowing = OdlBorrowing(
        odl_sources,
        MongoOdlBorrowingRepository(store, outbox, catalogue, clock),
        HttpOdlLender(lender_http),
        end_refused_loan,
        clock,
    )
    routers = [
        network_router(NetworkAdmin(network_transactions(store, outbox))),
        marc_router(
            MarcImport(MongoMarcImportRepository(store, outbox, catalogue)),
            MarcExport(records, links.marc_organisation_code, links.web_app_url),
            store.network,
            clock,
        ),
        oai_router(OaiProvider(records, oai_configuration(links), clock)),
        ils_router(
            IlsSignIn(
                MongoIlsPatrons(store, clock), ils, issuer, clock, blocks=circulation, throttle=SignInThrottle(store)
            ),
            store.network,
        ),
        odl_lending_router(odl_lending, store.network, public_url),
        odl_borrowing_router(odl_borrowing, store.network),
    ]
    workers: dict[str, Worker] = {"odl-expiry": lambda stop: repeat(relay_seconds, odl_lending.expire_due, stop)}
    if odl_sources:
        workers["odl-relay"] = lambda stop: repeat(relay_seconds, odl_borrowing.relay_once, stop)
    return LibrarySystems(routers, odl_lending, odl_borrowing, workers)


async def repeat(seconds: float, action: Callable[[], Awaitable[object]], stop: asyncio.Event) -> None:
    """Run ``action`` every ``seconds`` until ``stop``; a failure is logged and tried again next time."""
    while not stop.is_set():
        try:
            await action()
        except Exception as error:  # a database or a partner away: nothing is lost, the next pass retries
            log.warning("periodic work failed", extra={"action": repr(action), "error": repr(error)})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)


def sip2_directory(settings: LendingSettings) -> Sip2Directory:
    logins = {
        library_id: Sip2Credentials(
            login.user, login.password.get_secret_value(), login.terminal_password.get_secret_value()
        )
        for library_id, login in settings.ils_sip2_logins.items()
    }
    return Sip2Directory(logins, timeout_seconds=settings.ils_sip2_timeout_seconds, ca_file=settings.ils_sip2_ca_file)


def odl_sources(settings: LendingSettings) -> dict[str, OdlSource]:
    return {
        source_id: OdlSource(
            source_id, source.feed_url, source.client_id, source.secret.get_secret_value(), source.library_id
        )
        for source_id, source in settings.odl_sources.items()
    }


def oai_configuration(links: LibraryLinks) -> OaiConfiguration:
    return OaiConfiguration(
        repository_name=links.oai_repository_name,
        admin_email=links.oai_admin_email,
        repository_identifier=urlsplit(links.web_app_url).hostname or "sachso",
        web_app_url=links.web_app_url,
        organisation=links.marc_organisation_code,
        page_size=links.oai_page_size,
    )
