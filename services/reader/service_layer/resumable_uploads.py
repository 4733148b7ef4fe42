"""Resumable uploads of scans (the tus 1.0 protocol's core and creation extension), streamed to S3.

A staff member creates an upload with its length, sends bytes with ``append`` from the offset the server holds,
and after a dropped connection asks the offset and goes on from there. Nothing is held in memory beyond one S3
part. The finished object is what :mod:`reader.service_layer.local_documents` turns into a document.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from reader.domain.local_documents import Staff, ensure_staff_of
from reader.errors import FileTooLarge
from sachso.kit.errors import Conflict, InvalidInput, NotFound

Document = dict[str, Any]
PART_BYTES = 8 * 1024 * 1024  # S3 parts must be at least 5 MiB, but the last
LEASE = timedelta(minutes=10)


class UploadStates(Protocol):
    """Where each upload's state is kept (``adapters.resumable_uploads.UploadStateRepository`` on MongoDB); every
    change is one conditional write, so two requests never write one upload at once."""

    async def add(self, state: Document) -> None: ...

    async def get(self, upload_id: str) -> Document | None: ...

    async def take(self, upload_id: str, offset: int, now: datetime, lease_until: datetime) -> Document | None:
        """Hold the upload for one request, if it is at ``offset`` and no other request holds it."""
        ...

    async def add_part(self, upload_id: str, number: int, etag: str, parts_bytes: int) -> None: ...

    async def set_tail(self, upload_id: str, parts_bytes: int, tail_bytes: int, released: datetime) -> None: ...

    async def mark_complete(self, upload_id: str) -> None: ...

    async def remove(self, upload_id: str) -> None: ...


class MultipartStore(Protocol):
    """The object store's multipart upload of each resumable upload, and its tail (``adapters.resumable_uploads``)."""

    async def start(self, key: str, media_type: str) -> str: ...

    async def put_part(self, key: str, s3_upload_id: str, number: int, data: bytes) -> str: ...

    async def read_tail(self, key: str) -> bytes: ...

    async def write_tail(self, key: str, data: bytes) -> None: ...

    async def complete(self, key: str, s3_upload_id: str, parts: list[Document]) -> None: ...

    async def abort(self, key: str, s3_upload_id: str) -> None: ...


RELEASED = datetime(1970, 1, 1, tzinfo=UTC)


class UploadNotFound(NotFound):
    problem = "upload-not-found"
    title = "No such upload"


class OffsetMismatch(Conflict):
    problem = "upload-offset-mismatch"
    title = "The upload is not at that offset (ask for its offset and resume from there)"


class UploadIncomplete(Conflict):
    problem = "upload-incomplete"
    title = "The upload has not received all its bytes yet"


@dataclass(frozen=True)
class UploadStatus:
    upload_id: str
    offset: int
    length: int
    metadata: dict[str, str]

    @property
    def complete(self) -> bool:
        return self.offset == self.length


def _status(state: Document) -> UploadStatus:
    return UploadStatus(state["_id"], state["offset"], state["length"], state["metadata"])


class ResumableUploads:
    def __init__(self, states: UploadStates, objects: MultipartStore, *, max_bytes: int) -> None:
        self.states = states
        self.objects = objects
        self.max_bytes = max_bytes

    async def create(self, staff: Staff, length: int, metadata: dict[str, str]) -> UploadStatus:
        if staff.library_id is None:
            raise InvalidInput("your token names no library")
        ensure_staff_of(staff, staff.library_id)
        if length <= 0:
            raise InvalidInput("Upload-Length must be a positive number of bytes")
        if length > self.max_bytes:
            raise FileTooLarge(f"the upload has {length} bytes; the limit is {self.max_bytes}")
        upload_id = uuid.uuid4().hex
        key = f"local-documents/uploads/{upload_id}"
        s3_upload_id = await self.objects.start(key, "application/octet-stream")
        state = {"_id": upload_id, "key": key, "s3_upload_id": s3_upload_id, "length": length, "offset": 0,
                 "parts_bytes": 0, "tail_bytes": 0, "parts": [], "metadata": metadata, "owner": staff.subject,
                 "library_id": staff.library_id, "complete": False, "document_id": None, "lease_until": RELEASED,
                 "created_at": datetime.now(UTC)}  # fmt: skip
        await self.states.add(state)
        return _status(state)

    async def _owned(self, staff: Staff, upload_id: str) -> Document:
        state = await self.states.get(upload_id)
        if state is None:
            raise UploadNotFound(f"no upload {upload_id}")
        ensure_staff_of(staff, state["library_id"])
        return state

    async def status(self, staff: Staff, upload_id: str) -> UploadStatus:
        return _status(await self._owned(staff, upload_id))

    async def append(self, staff: Staff, upload_id: str, offset: int, body: AsyncIterator[bytes]) -> UploadStatus:
        """Add the bytes of ``body`` at ``offset``; if the body is cut off, keep what arrived (the client resumes)."""
        state = await self._owned(staff, upload_id)
        if state["offset"] != offset:
            raise OffsetMismatch(f"the upload is at offset {state['offset']}, not {offset}", offset=state["offset"])
        now = datetime.now(UTC)
        held = await self.states.take(upload_id, offset, now, now + LEASE)
        if held is None:
            raise OffsetMismatch("another request is writing this upload, or it moved on", offset=state["offset"])
        key, s3_id, length = held["key"], held["s3_upload_id"], held["length"]
        parts_bytes = held["parts_bytes"]
        buffer = bytearray((await self.objects.read_tail(key))[: held["tail_bytes"]] if held["tail_bytes"] else b"")
        number = len(held["parts"])
        too_long = False
        try:
            async for chunk in body:
                if parts_bytes + len(buffer) + len(chunk) > length:
                    too_long = True
                    chunk = chunk[: length - parts_bytes - len(buffer)]
                buffer += chunk
                while len(buffer) >= PART_BYTES:
                    number += 1
                    etag = await self.objects.put_part(key, s3_id, number, bytes(buffer[:PART_BYTES]))
                    parts_bytes += PART_BYTES
                    del buffer[:PART_BYTES]
                    await self.states.add_part(upload_id, number, etag, parts_bytes)
                if too_long:
                    break
        finally:  # a dropped connection lands here too: what arrived is kept
            if buffer:
                await self.objects.write_tail(key, bytes(buffer))
            await self.states.set_tail(upload_id, parts_bytes, len(buffer), RELEASED)
        if too_long:
            raise InvalidInput(f"the body goes past Upload-Length ({length}); the bytes up to it were kept")
        if parts_bytes + len(buffer) == length:
            parts = list(((await self.states.get(upload_id)) or held)["parts"])
            if buffer:  # the last part may be smaller than 5 MiB
                etag = await self.objects.put_part(key, s3_id, number + 1, bytes(buffer))
                parts.append({"PartNumber": number + 1, "ETag": etag})
            await self.objects.complete(key, s3_id, parts)
            await self.states.mark_complete(upload_id)
        return UploadStatus(upload_id, parts_bytes + len(buffer), length, held["metadata"])

    async def terminate(self, staff: Staff, upload_id: str) -> None:
        state = await self._owned(staff, upload_id)
        if not state["complete"]:
            await self.objects.abort(state["key"], state["s3_upload_id"])
        await self.states.remove(upload_id)

    async def finished(self, staff: Staff, upload_id: str) -> Document:
        """The state of a complete upload (its object ``key`` in the bucket), for making a document of it."""
        state = await self._owned(staff, upload_id)
        if not state["complete"]:
            raise UploadIncomplete(f"upload {upload_id} has {state['offset']} of {state['length']} bytes")
        return state
