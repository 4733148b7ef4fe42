"""Protecting every ingested publication for LCP, as soon as the reader service announces it."""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from drm.adapters.packages import protect_epub, protect_pdf
from drm.service_layer.keys import ContentKeys
from sachso.events.v1 import drm_events_pb2, reader_events_pb2
from sachso.kit.events import OutboundEvent
from sachso.kit.topics import DRM_EVENTS

Document = dict[str, Any]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


class Protection:
    def __init__(self, publications: AsyncCollection[Document], keys: ContentKeys, s3: Any, bucket: str) -> None:
        self.publications = publications
        self.keys = keys
        self.s3 = s3
        self.bucket = bucket

    async def protect(
        self,
        publication_id: str,
        title: str,
        original: reader_events_pb2.StoredFile,
        session: AsyncClientSession,
        emit: Any,
    ) -> None:
        """Encrypt the publication's file with its content key and store the protected package."""
        existing = await self.publications.find_one({"_id": publication_id}, session=session)
        if existing is not None and existing.get("source_sha256") == original.sha256:
            return  # this exact file is protected already (a redelivered or repeated event)
        key_id, content_key = await self.keys.get_or_create(publication_id)
        with tempfile.TemporaryDirectory(prefix="sachso-drm-") as folder:
            source = Path(folder) / "original"
            response = await self.s3.get_object(Bucket=original.bucket, Key=original.key)
            async with response["Body"] as body:
                source.write_bytes(await body.read())
            target = Path(folder) / "protected"
            if original.media_type == "application/pdf":
                protected = await asyncio.to_thread(protect_pdf, source, target, content_key, title)
            else:
                protected = await asyncio.to_thread(protect_epub, source, target, content_key)
            digest = await asyncio.to_thread(_sha256, target)
            key = f"{publication_id}/{digest}.{'lcpdf' if original.media_type == 'application/pdf' else 'epub'}"
            await self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=target.read_bytes(), ContentType=protected.media_type
            )
            length = target.stat().st_size
        now = datetime.now(UTC)
        await self.publications.update_one(
            {"_id": publication_id},
            {"$set": {"title": title, "key": key, "media_type": protected.media_type, "length": length,
                      "sha256": digest, "source_sha256": original.sha256, "content_key_id": key_id,
                      "protected_at": now}},
            upsert=True,
            session=session,
        )  # fmt: skip
        stamp = Timestamp()
        stamp.FromDatetime(now)
        emit(
            OutboundEvent(
                topic=DRM_EVENTS.name,
                key=publication_id,
                subject=publication_id,
                payload=drm_events_pb2.PublicationProtected(
                    publication_id=publication_id,
                    protected=reader_events_pb2.StoredFile(
                        bucket=self.bucket, key=key, media_type=protected.media_type, length=length, sha256=digest
                    ),
                    content_key_id=key_id,
                    protected_at=stamp,
                ),
            )
        )
