"""Protecting every ingested publication for LCP, as soon as the reader service announces it."""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from drm.adapters.packages import protect_epub, protect_pdf
from drm.domain.documents import ProtectedPublication
from drm.errors import ProtectedPublicationNotFound
from drm.service_layer import events
from drm.service_layer.licences import Clock, utc_now
from drm.service_layer.repositories import ContentKeyStore, ObjectStore
from drm.service_layer.unit_of_work import DrmUnitOfWork, UnitOfWorkFactory
from sachso.events.v1 import reader_events_pb2


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


class Protection:
    def __init__(
        self, uow: UnitOfWorkFactory, keys: ContentKeyStore, store: ObjectStore, bucket: str, *, clock: Clock = utc_now
    ) -> None:
        self.uow = uow
        self.keys = keys
        self.store = store
        self.bucket = bucket
        self.clock = clock

    async def protect(
        self, uow: DrmUnitOfWork, publication_id: str, title: str, original: reader_events_pb2.StoredFile
    ) -> None:
        """Encrypt the publication's file with its content key and store the protected package."""
        existing = await uow.publications.get(publication_id)
        if existing is not None and existing.source_sha256 == original.sha256:
            return  # this exact file is protected already (a redelivered or repeated event)
        key_id, content_key = await self.keys.get_or_create(publication_id)
        pdf = original.media_type == "application/pdf"
        with tempfile.TemporaryDirectory(prefix="sachso-drm-") as folder:
            source = Path(folder) / "original"
            source.write_bytes(await self.store.read(original.bucket, original.key))
            target = Path(folder) / "protected"
            if pdf:
                protected = await asyncio.to_thread(protect_pdf, source, target, content_key, title)
            else:
                protected = await asyncio.to_thread(protect_epub, source, target, content_key)
            digest = await asyncio.to_thread(_sha256, target)
            key = f"{publication_id}/{digest}.{'lcpdf' if pdf else 'epub'}"
            await self.store.write(self.bucket, key, target.read_bytes(), protected.media_type)
            length = target.stat().st_size
        publication = ProtectedPublication(
            id=publication_id, key=key, media_type=protected.media_type, length=length, sha256=digest, title=title,
            source_sha256=original.sha256, content_key_id=key_id, protected_at=self.clock(),
        )  # fmt: skip
        await uow.publications.save(publication)
        uow.emit(events.publication_protected(publication, self.bucket))

    async def open_package(self, publication_id: str) -> tuple[ProtectedPublication, AsyncIterator[bytes]]:
        """A protected package (encrypted, no licence) and its bytes, for download."""

        async def work(uow: DrmUnitOfWork) -> ProtectedPublication | None:
            return await uow.publications.get(publication_id)

        publication = await self.uow().run(work)
        if publication is None:
            raise ProtectedPublicationNotFound(f"no protected publication {publication_id}")
        return publication, await self.store.open_stream(self.bucket, publication.key)

    async def content_key(self, publication_id: str) -> tuple[bytes, str]:
        """A publication's content key and its id, for the reader service (which decrypts to stream)."""
        key = await self.keys.get(publication_id)
        if key is None:
            raise ProtectedPublicationNotFound(f"publication {publication_id} has no content key")
        return key, await self.keys.key_id(publication_id) or ""
