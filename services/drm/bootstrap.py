"""The one place DRM's clients, handlers, routes and servicers are wired."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from drm.adapters.content_keys import ContentKeys, MasterKey
from drm.adapters.lending_client import LendingClient
from drm.adapters.mongo_repositories import MongoLicences
from drm.adapters.mongo_unit_of_work import MongoDrmUnitOfWork
from drm.adapters.object_store import S3ObjectStore
from drm.domain import lcp
from drm.domain.documents import LicenceWriter, Links
from drm.entrypoints.consumers import DrmHandlers, drm_consumers
from drm.entrypoints.grpc_api import DrmServicer
from drm.entrypoints.http import licence_router
from drm.service_layer.licences import Licences
from drm.service_layer.protection import Protection
from drm.service_layer.status_documents import StatusDocuments
from drm.settings import DrmSettings
from sachso.drm.v1 import drm_service_pb2, drm_service_pb2_grpc
from sachso.kit.auth import TokenIssuer
from sachso.kit.bootstrap import platform_infrastructure
from sachso.kit.jwks import jwks_router
from sachso.kit.runtime import ServiceProcess, run_service
from sachso.kit.s3 import create_s3_client
from sachso.kit.settings import load_settings

log = logging.getLogger(__name__)


@asynccontextmanager
async def build(settings: DrmSettings) -> AsyncIterator[ServiceProcess]:
    issuer = TokenIssuer.from_files(settings.issuer, settings.signing_key_file_list)
    provider = lcp.Provider.from_pem(settings.lcp_certificate_file.read_bytes(), settings.lcp_key_file.read_bytes())
    masters = [MasterKey.from_file(path) for path in settings.master_key_file_list]
    async with (
        platform_infrastructure(settings) as infrastructure,
        create_s3_client(settings) as s3,
        grpc.aio.insecure_channel(settings.lending_grpc_target) as lending_channel,
    ):
        infrastructure.add_bucket(s3, settings.s3_bucket)  # in the background: S3 may be away
        database = infrastructure.database
        keys = ContentKeys(database["content_keys"], masters)
        moved = await keys.rewrap()  # after a master key rotation, every content key moves under the new one
        lending = LendingClient(lending_channel, issuer)
        outbox = infrastructure.outbox
        links = Links(settings.public_url.rstrip("/"), settings.reader_public_url.rstrip("/"))

        def unit_of_work() -> MongoDrmUnitOfWork:
            return MongoDrmUnitOfWork(database, outbox)

        licences = Licences(
            unit_of_work,
            keys,
            LicenceWriter(
                provider, settings.lcp_provider, links, (settings.lcp_print_pages, settings.lcp_copy_characters)
            ),
            issuer,
            streaming_audience=settings.streaming_audience,
            streaming_seconds=settings.streaming_token_seconds,
            ask_lending=lending.active_loan,
        )
        await MongoLicences(database["licences"]).ensure_indexes()
        protection = Protection(unit_of_work, keys, S3ObjectStore(s3), settings.s3_bucket)
        handlers = DrmHandlers(
            protection, licences, lambda session: MongoDrmUnitOfWork(database, outbox, session=session)
        )
        infrastructure.add_consumer(drm_consumers(handlers))
        servicer = DrmServicer(licences, protection)

        def register_grpc(server: grpc.aio.Server) -> None:
            drm_service_pb2_grpc.add_DrmServiceServicer_to_server(servicer, server)

        process = infrastructure.service_process(
            title="Sách Số — DRM",
            description="Readium LCP licences, License Status Documents, content keys, streaming tokens.",
            routers=[
                jwks_router(issuer),
                licence_router(licences, StatusDocuments(unit_of_work, links), protection, lending.renew, links.reader),
            ],
            grpc_services=[drm_service_pb2.DESCRIPTOR.services_by_name["DrmService"].full_name],
            register_grpc=register_grpc,
        )
        if moved:
            log.info("content keys rewrapped under the current master key", extra={"count": moved})
        yield process


def main() -> None:
    run_service("drm", lambda: load_settings(DrmSettings), build)
