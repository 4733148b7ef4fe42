"""The one place reader's clients, handlers, routes and servicers are wired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import grpc

from reader.adapters.content_keys import ContentKeys
from reader.adapters.epubcheck import EpubCheck
from reader.adapters.local_document_repository import (
    LocalDocumentRepository,
    MongoLocalDocumentsUnitOfWork,
    local_documents_units_of_work,
)
from reader.adapters.mongo_repositories import MongoPublicationReads, MongoRevocationReads, ensure_indexes
from reader.adapters.mongo_unit_of_work import joined_units_of_work, mongo_units_of_work
from reader.adapters.open_publications import OpenPublications
from reader.adapters.pdf import PdfEngine
from reader.adapters.resumable_uploads import MultipartObjects, UploadStateRepository
from reader.adapters.storage import BookCache, ObjectStore
from reader.adapters.tesseract import Tesseract
from reader.domain.packaging import Limits
from reader.entrypoints.consumers import ReaderHandlers, reader_consumers
from reader.entrypoints.http import StreamingGrants, covers_router, ingest_router, reading_router, streaming_router
from reader.entrypoints.local_documents_http import iiif_routers, loan_viewer_from, local_documents_router
from reader.entrypoints.ocr_consumer import OcrHandlers, ocr_consumers
from reader.entrypoints.streaming_fast_path import StreamingFastPath
from reader.entrypoints.tus import tus_router
from reader.service_layer.ingest import Ingest
from reader.service_layer.local_documents import LocalDocuments
from reader.service_layer.ocr import PageRecognition
from reader.service_layer.reading import Reading
from reader.service_layer.resumable_uploads import ResumableUploads
from reader.service_layer.revocations import Revocations
from reader.service_layer.streaming import Streaming
from reader.settings import ReaderSettings
from sachso.kit.auth import TokenIssuer, TokenVerifier
from sachso.kit.bootstrap import Infrastructure, platform_infrastructure
from sachso.kit.jwks import jwks_router
from sachso.kit.runtime import ServiceProcess, run_service
from sachso.kit.s3 import create_s3_client
from sachso.kit.settings import comma_list, load_settings


@asynccontextmanager
async def build(settings: ReaderSettings) -> AsyncIterator[ServiceProcess]:
    issuer = (
        TokenIssuer.from_files(settings.issuer, comma_list(settings.signing_key_files))
        if settings.signing_key_files
        else None
    )
    async with AsyncExitStack() as stack:
        infrastructure = await stack.enter_async_context(platform_infrastructure(settings))
        s3 = await stack.enter_async_context(create_s3_client(settings))
        content_key = None
        if issuer is not None and settings.drm_grpc_target:  # decrypt LCP-protected books with DRM's keys
            drm_channel = await stack.enter_async_context(grpc.aio.insecure_channel(settings.drm_grpc_target))
            content_key = ContentKeys(drm_channel, issuer).get
        infrastructure.add_bucket(s3, settings.s3_bucket)  # in the background: S3 may be away
        store = ObjectStore(s3, settings.s3_bucket)
        books = settings.cache_dir / "books"
        uploads = settings.cache_dir / "uploads"
        uploads.mkdir(parents=True, exist_ok=True)
        # the disk cache's budget (the chart sizes the work volume for it): an eighth for rendered PDF pages
        page_disk_bytes = settings.cache_disk_bytes // 8
        cache = BookCache(
            store,
            books,
            disk_bytes=settings.cache_disk_bytes - page_disk_bytes,
            memory_bytes=settings.cache_memory_bytes,
        )
        pdf = PdfEngine()
        epubcheck = EpubCheck(settings.cache_dir)
        database, outbox = infrastructure.database, infrastructure.outbox
        await ensure_indexes(database)
        units = mongo_units_of_work(database, outbox)
        ingest = Ingest(units, store, pdf, Limits(max_file_bytes=settings.max_upload_bytes), epubcheck)
        reading = Reading(units)
        revocations = Revocations(MongoRevocationReads(database))
        open_publications = OpenPublications(database["open_publications"])
        handlers = ReaderHandlers(joined_units_of_work(database, outbox), open_publications)
        infrastructure.add_consumer(reader_consumers(handlers))
        streaming = Streaming(
            MongoPublicationReads(database), cache, pdf, content_key=content_key,
            page_cache_dir=settings.cache_dir / "pages", page_cache_disk_bytes=page_disk_bytes,
        )  # fmt: skip
        streaming_tokens = TokenVerifier(
            settings.jwks_url_list,
            issuers=[settings.streaming_issuer],
            audience=settings.streaming_audience,
            http=infrastructure.http,
            cache_seconds=settings.jwks_cache_seconds,
        )
        grants = StreamingGrants(streaming_tokens, revocations, open_publications=open_publications)
        local_documents = await _local_documents(settings, infrastructure, store, cache)
        try:
            process = infrastructure.service_process(
                title="Sách Số — reader",
                description="Publisher ingest, Readium Web Publication Manifests, streaming, PDF pages, reading sync.",
                routers=[
                    *([jwks_router(issuer)] if issuer is not None else []),
                    ingest_router(ingest, uploads),
                    streaming_router(streaming, grants),
                    covers_router(streaming),
                    reading_router(reading),
                    tus_router(local_documents.uploads),
                    local_documents_router(local_documents),
                    *iiif_routers(local_documents, loan_viewer_from(streaming_tokens, revocations)),
                ],
                untraced=["v1/read/", "v1/iiif/"],
            )
            process.asgi_app = StreamingFastPath(
                process.http_app, streaming, grants, request_deadline_seconds=settings.request_deadline_seconds
            )
            yield process
        finally:
            pdf.close()
            await epubcheck.close()


async def _local_documents(
    settings: ReaderSettings, infrastructure: Infrastructure, store: ObjectStore, cache: BookCache
) -> LocalDocuments:
    """Scanned local documents: resumable uploads, pages, IIIF; and the OCR worker when this process runs one."""
    repository = LocalDocumentRepository(infrastructure.database)
    await repository.ensure_indexes()
    states = UploadStateRepository(infrastructure.database)
    await states.ensure_indexes()
    uploads = ResumableUploads(
        states, MultipartObjects(store.client, store.bucket), max_bytes=settings.max_scan_upload_bytes
    )
    work_dir = settings.cache_dir / "scans"
    work_dir.mkdir(parents=True, exist_ok=True)
    units_of_work = local_documents_units_of_work(repository, infrastructure.outbox)
    documents = LocalDocuments(
        repository, units_of_work, uploads, store, cache, work_dir, ocr_languages=settings.ocr_languages
    )
    if settings.ocr_worker:
        recognition = PageRecognition(repository, units_of_work, store, cache, Tesseract())
        handlers = OcrHandlers(
            recognition,
            lambda session: MongoLocalDocumentsUnitOfWork(repository, infrastructure.outbox, session=session),
        )
        infrastructure.add_consumer(ocr_consumers(handlers))
    return documents


def main() -> None:
    run_service("reader", lambda: load_settings(ReaderSettings), build, fast_event_loop=True)
