"""Publisher ingest: check a file, describe it, store it, announce it — or refuse it with the precise reason.

The upload is on local disk by the time it gets here (never in memory). Re-ingesting the same file (same
digest) or the same book (same ISBN) by the same publisher updates the publication instead of duplicating it;
the same file or ISBN from another publisher is another publication (:mod:`reader.domain.ownership`).
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import zipfile
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from google.protobuf.timestamp_pb2 import Timestamp

from reader.adapters.epub import DAMAGED_ZIP, check_archive, drm_protection_of, read_epub
from reader.adapters.epubcheck import EpubCheck, EpubCheckReport
from reader.adapters.pdf import PdfEngine, read_pdf
from reader.domain.manifest import epub_manifest, pdf_manifest
from reader.domain.ownership import derived_publication_id, fresh_publication_id
from reader.domain.packaging import Format, Limits, ocf_warnings, sniff
from reader.domain.publication import Contributor, Metadata, choose_title, clean_text
from reader.domain.resource_paths import container_path_of
from reader.errors import (
    DrmProtectedFile,
    FileAlreadyPublished,
    FileTooLarge,
    IngestRace,
    PublicationNotFound,
    UnreadableFile,
    UnsupportedFormat,
)
from reader.service_layer.repositories import DuplicateEntry
from reader.service_layer.unit_of_work import ReaderUnitOfWork, UnitOfWorkFactory
from sachso.events.v1 import licensing_pb2, reader_events_pb2
from sachso.kit.events import OutboundEvent
from sachso.kit.text import nfc
from sachso.kit.topics import READER_EVENTS

Document = dict[str, Any]
PDF_HREF = "publication.pdf"


class FileStore(Protocol):
    """Where originals are kept (the reader's S3 bucket)."""

    bucket: str

    async def put_file(self, key: str, path: Path, media_type: str) -> None: ...


@dataclass(frozen=True)
class OfferedTerms:
    model: str = "one-copy-one-user"
    concurrency: int = 1
    checkouts: int = 0
    expires_at: datetime | None = None
    max_loan_days: int = 0


@dataclass(frozen=True)
class SubmittedMetadata:
    """What the publisher says about the book; it completes (and where given, overrides) the file's own."""

    title: str = ""
    subtitle: str = ""
    authors: tuple[str, ...] = ()
    language: str = ""
    isbn: str = ""
    publisher: str = ""
    subjects: tuple[str, ...] = ()
    description: str = ""
    terms: OfferedTerms = field(default_factory=OfferedTerms)


@dataclass(frozen=True)
class Described:
    format: Format
    metadata: Metadata
    manifest: dict[str, Any]
    sizes: dict[str, int]
    warnings: tuple[str, ...]
    length: int


@dataclass(frozen=True)
class CheckedUpload:
    """An upload that passed every check, ready to be stored."""

    path: Path
    described: Described
    metadata: Metadata
    terms: OfferedTerms
    digest: str
    epubcheck: EpubCheckReport | None


@dataclass(frozen=True)
class IngestResult:
    publication_id: str
    created: bool
    file_replaced: bool
    flagged: bool
    warnings: tuple[str, ...]


def digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1024 * 1024):
            sha.update(chunk)
    return sha.hexdigest()


def _zip_directory(path: Path) -> tuple[list[str], bytes | None] | None:
    """The entry names and the mimetype entry of a zip, or None when it is not a readable zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            mimetype = archive.read("mimetype")[:100] if "mimetype" in names else None
            return names, mimetype
    except DAMAGED_ZIP:
        return None


def describe(path: Path, limits: Limits) -> Described:
    """Check and read a file (blocking: run it off the event loop)."""
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise FileTooLarge(f"the file has {size} bytes; the limit is {limits.max_file_bytes}")
    with path.open("rb") as source:
        head = source.read(512)
    directory = _zip_directory(path) if head.startswith(b"PK") else None
    detected = sniff(head, directory[0] if directory else None)
    if detected is None:
        raise UnsupportedFormat("the file is neither an EPUB (OCF zip with its mimetype first) nor a PDF")
    if detected is Format.PDF:
        document = read_pdf(path)
        manifest = pdf_manifest(document, href=PDF_HREF)
        return Described(detected, document.metadata, manifest, {PDF_HREF: size}, (), size)
    assert directory is not None
    xml_warnings = [*check_archive(path, limits), *ocf_warnings(*directory)]
    protection = drm_protection_of(path)
    if protection is not None:
        raise DrmProtectedFile(protection)
    package, sizes = read_epub(path)
    manifest = epub_manifest(package)
    present = [link for link in manifest["readingOrder"] if container_path_of(link["href"]) in sizes]
    if not present:
        raise UnreadableFile(
            "none of the documents in the reading order is in the archive; " + "; ".join(package.warnings[:3])
        )
    return Described(detected, package.metadata, manifest, sizes, (*xml_warnings, *package.warnings), size)


def merged_metadata(found: Metadata, submitted: SubmittedMetadata) -> Metadata:
    authors = tuple(Contributor(nfc(name)) for name in submitted.authors)
    return Metadata(
        title=clean_text(submitted.title) or found.title,
        identifier=found.identifier,
        subtitle=nfc(submitted.subtitle or found.subtitle),
        languages=(submitted.language,) if submitted.language else found.languages,
        contributors=authors or tuple(Contributor(nfc(c.name), c.role) for c in found.contributors),
        publisher=nfc(submitted.publisher or found.publisher),
        description=nfc(submitted.description or found.description),
        subjects=tuple(nfc(s) for s in submitted.subjects) or tuple(nfc(s) for s in found.subjects),
        published=found.published,
        modified=found.modified,
        isbn=(submitted.isbn or found.isbn).replace("-", "").strip(),
    )


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


_MODELS = {
    "one-copy-one-user": licensing_pb2.LICENSE_MODEL_ONE_COPY_ONE_USER,
    "simultaneous-use": licensing_pb2.LICENSE_MODEL_SIMULTANEOUS_USE,
    "metered": licensing_pb2.LICENSE_MODEL_METERED,
    "time-limited": licensing_pb2.LICENSE_MODEL_TIME_LIMITED,
    "odl": licensing_pb2.LICENSE_MODEL_ODL,
}


def _terms(terms: OfferedTerms) -> licensing_pb2.LicenseTerms:
    message = licensing_pb2.LicenseTerms(
        model=_MODELS.get(terms.model, licensing_pb2.LICENSE_MODEL_UNSPECIFIED),
        concurrency=terms.concurrency,
        checkouts=terms.checkouts,
        max_loan_days=terms.max_loan_days,
    )
    if terms.expires_at is not None:
        message.expires_at.CopyFrom(_timestamp(terms.expires_at))
    return message


def _event_metadata(metadata: Metadata) -> reader_events_pb2.PublicationMetadata:
    return reader_events_pb2.PublicationMetadata(
        title=metadata.title,
        subtitle=metadata.subtitle,
        authors=[c.name for c in metadata.contributors if c.role == "aut"] or [c.name for c in metadata.contributors],
        language=metadata.languages[0] if metadata.languages else "",
        isbn=metadata.isbn,
        publisher=metadata.publisher,
        subjects=list(metadata.subjects),
        description=metadata.description,
    )


class Ingest:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        store: FileStore,
        pdf: PdfEngine,
        limits: Limits | None = None,
        epubcheck: EpubCheck | None = None,
    ) -> None:
        self.uow = uow
        self.store = store
        self.pdf = pdf
        self.limits = limits or Limits()
        self.epubcheck = epubcheck

    async def ingest(
        self,
        publisher_id: str,
        path: Path,
        submitted: SubmittedMetadata,
        *,
        publication_id: str | None = None,
        file_name: str | None = None,
    ) -> IngestResult:
        """Accept a file as a new publication, or as the new file of ``publication_id`` (or of the same book).

        ``file_name`` is the uploaded file's own name: the title of last resort."""
        described = await self.pdf.run(describe, path, self.limits)
        file_digest = await asyncio.to_thread(digest, path)
        report: EpubCheckReport | None = None
        if described.format is Format.EPUB and self.epubcheck is not None:
            report = await self.epubcheck.check(path)
            if report.problems:
                described = replace(described, warnings=(*described.warnings, *report.problems[:20]))
        title, title_warnings = choose_title(submitted.title, described.metadata.title, file_name)
        if not title:
            raise UnreadableFile("the book has no title, in the file or in its name: give one in the metadata")
        metadata = replace(merged_metadata(described.metadata, submitted), title=title)
        if not described.manifest["metadata"].get("title"):
            manifest = {**described.manifest, "metadata": {**described.manifest["metadata"], "title": title}}
            described = replace(described, manifest=manifest)
        described = replace(described, warnings=(*described.warnings, *title_warnings))
        upload = CheckedUpload(path, described, metadata, submitted.terms, file_digest, report)
        for attempt in (1, 2):
            try:
                return await self._store(publisher_id, upload, publication_id)
            except DuplicateEntry:
                # The same file from the same publisher, ingested at the same moment by another request: the
                # second attempt finds that publication and updates it.
                if attempt == 2:
                    raise IngestRace("the same file is being ingested by another request; send it again") from None
        raise AssertionError("unreachable")

    async def _store(self, publisher_id: str, upload: CheckedUpload, publication_id: str | None) -> IngestResult:
        described, metadata, file_digest, report = upload.described, upload.metadata, upload.digest, upload.epubcheck

        async def find(uow: ReaderUnitOfWork) -> tuple[Document | None, str]:
            existing = await self._existing(uow, publisher_id, file_digest, metadata.isbn, publication_id)
            if existing is not None:
                return existing, existing["_id"]
            derived = derived_publication_id(publisher_id, file_digest)
            return None, fresh_publication_id() if await uow.publications.exists(derived) else derived

        existing, pub_id = await self.uow().run(find)
        extension = "pdf" if described.format is Format.PDF else "epub"
        key = f"{pub_id}/{file_digest}.{extension}"
        file_replaced = existing is not None and existing["sha256"] != file_digest
        if existing is None or file_replaced:
            await self.store.put_file(key, upload.path, described.format.value)
        now = datetime.now(UTC)
        flagged = bool(described.warnings)
        document = {
            "publisher_id": publisher_id,
            "format": described.format.value,
            "media_type": described.format.value,
            "title": metadata.title,
            "metadata": _metadata_document(metadata),
            "isbn": metadata.isbn,
            "sha256": file_digest,
            "version": file_digest[:16],
            "key": key,
            "length": described.length,
            "manifest": described.manifest,
            "sizes": [[name, size] for name, size in sorted(described.sizes.items())],  # paths may hold dots
            "warnings": list(described.warnings),
            "flagged": flagged,
            "status": "active",
            "terms": upload.terms.__dict__,
            "epubcheck": None
            if report is None
            else {
                "version": "5.3.0",
                "fatals": report.fatals,
                "errors": report.errors,
                "warnings": report.warnings,
                "messages": report.messages,
            },
            "updated_at": now,
        }

        async def work(uow: ReaderUnitOfWork) -> None:
            if existing is None:  # never an upsert: a new publication can overwrite nothing
                await uow.publications.add(pub_id, {**document, "created_at": now, "online_only": False})
            elif not await uow.publications.replace_owned(publisher_id, pub_id, document):
                raise PublicationNotFound(f"you have no publication {pub_id}")
            stored = reader_events_pb2.StoredFile(
                bucket=self.store.bucket, key=key, media_type=described.format.value,
                length=described.length, sha256=file_digest,
            )  # fmt: skip
            payload: Any
            if existing is None:
                payload = reader_events_pb2.PublicationIngested(
                    publication_id=pub_id, publisher_id=publisher_id, metadata=_event_metadata(metadata),
                    original=stored, offered_terms=_terms(upload.terms), flagged=flagged,
                    ingested_at=_timestamp(now),
                )  # fmt: skip
            else:
                payload = reader_events_pb2.PublicationUpdated(
                    publication_id=pub_id, publisher_id=publisher_id, metadata=_event_metadata(metadata),
                    original=stored, offered_terms=_terms(upload.terms), file_replaced=file_replaced,
                    updated_at=_timestamp(now),
                )  # fmt: skip
            uow.emit(OutboundEvent(topic=READER_EVENTS.name, key=pub_id, subject=pub_id, payload=payload))

        await self.uow().run(work)
        return IngestResult(pub_id, existing is None, file_replaced, flagged, described.warnings)

    @staticmethod
    async def _existing(
        uow: ReaderUnitOfWork, publisher_id: str, file_digest: str, isbn: str, publication_id: str | None
    ) -> Document | None:
        if publication_id is not None:
            found = await _owned(uow, publisher_id, publication_id)
            same_file = await uow.publications.same_file(publisher_id, file_digest, other_than=publication_id)
            if same_file is not None:
                raise FileAlreadyPublished(
                    f"this file is already your publication {same_file['_id']}", publication_id=same_file["_id"]
                )
            return found
        same_file = await uow.publications.same_file(publisher_id, file_digest)
        if same_file is not None:
            return same_file
        if isbn:
            return await uow.publications.same_isbn(publisher_id, isbn)
        return None

    async def owned(self, publisher_id: str, publication_id: str) -> Document:
        """The publisher's own publication; another publisher's is answered as if it did not exist."""
        return await self.uow().run(lambda uow: _owned(uow, publisher_id, publication_id))

    async def withdraw(self, publisher_id: str, publication_id: str) -> None:
        async def work(uow: ReaderUnitOfWork) -> None:
            found = await _owned(uow, publisher_id, publication_id)
            if found["status"] == "withdrawn":
                return
            now = datetime.now(UTC)
            await uow.publications.withdraw(publication_id, now)
            uow.emit(
                OutboundEvent(
                    topic=READER_EVENTS.name,
                    key=publication_id,
                    subject=publication_id,
                    payload=reader_events_pb2.PublicationWithdrawn(
                        publication_id=publication_id, publisher_id=publisher_id, withdrawn_at=_timestamp(now)
                    ),
                )
            )

        await self.uow().run(work)


async def _owned(uow: ReaderUnitOfWork, publisher_id: str, publication_id: str) -> Document:
    found = await uow.publications.owned(publisher_id, publication_id)
    if found is None:
        raise PublicationNotFound(f"you have no publication {publication_id}")
    return found


def _metadata_document(metadata: Metadata) -> Document:
    return {
        "title": metadata.title,
        "subtitle": metadata.subtitle,
        "authors": [c.name for c in metadata.contributors],
        "languages": list(metadata.languages),
        "publisher": metadata.publisher,
        "description": metadata.description,
        "subjects": list(metadata.subjects),
        "isbn": metadata.isbn,
        "identifier": metadata.identifier,
    }


def keep_upload(source: Any, target: Path) -> None:
    """Copy an uploaded (spooled) file to ``target`` in chunks."""
    source.seek(0)
    with target.open("wb") as sink:
        shutil.copyfileobj(source, sink, 1024 * 1024)
