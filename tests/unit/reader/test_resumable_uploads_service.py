"""Resumable uploads (tus) on in-memory states and object store: offsets, cut-off bodies, parts, limits, owners."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from reader.domain.local_documents import Staff
from reader.errors import FileTooLarge
from reader.service_layer.resumable_uploads import (
    PART_BYTES,
    OffsetMismatch,
    ResumableUploads,
    UploadIncomplete,
    UploadNotFound,
)
from sachso.kit.errors import Forbidden, InvalidInput
from tests.unit.reader.fakes import FakeMultipartStore, FakeUploadStates

LAN = Staff("lan", frozenset({"librarian"}), "daklak")


def uploads(max_bytes: int = 64 * 1024 * 1024) -> tuple[ResumableUploads, FakeUploadStates, FakeMultipartStore]:
    states, objects = FakeUploadStates(), FakeMultipartStore()
    return ResumableUploads(states, objects, max_bytes=max_bytes), states, objects


async def body(*chunks: bytes, then_drop: bool = False) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk
    if then_drop:
        raise ConnectionResetError("the client's connection dropped")


async def test_a_dropped_request_keeps_what_arrived_and_the_client_resumes_from_there() -> None:
    service, _states, objects = uploads()
    data = os.urandom(PART_BYTES + PART_BYTES // 2 + 123)
    created = await service.create(LAN, len(data), {"filename": "scans.zip"})
    cut = PART_BYTES + 1000
    with pytest.raises(ConnectionResetError):
        await service.append(LAN, created.upload_id, 0, body(data[:cut], then_drop=True))
    status = await service.status(LAN, created.upload_id)
    assert status.offset == cut  # the full part and the tail are durable
    with pytest.raises(OffsetMismatch):
        await service.append(LAN, created.upload_id, 0, body(data))
    with pytest.raises(UploadIncomplete):
        await service.finished(LAN, created.upload_id)
    done = await service.append(LAN, created.upload_id, cut, body(data[cut : cut + 10], data[cut + 10 :]))
    assert done.complete
    finished = await service.finished(LAN, created.upload_id)
    assert objects.objects[finished["key"]] == data
    assert objects.tails == {}


async def test_limits_and_owners_are_checked_before_any_byte_is_kept() -> None:
    service, states, _objects = uploads(max_bytes=1000)
    with pytest.raises(FileTooLarge):
        await service.create(LAN, 1001, {})
    with pytest.raises(InvalidInput):
        await service.create(LAN, 0, {})
    with pytest.raises(Forbidden):
        await service.create(Staff("nxb", frozenset({"publisher"}), "daklak"), 10, {})
    created = await service.create(LAN, 10, {})
    other = Staff("minh", frozenset({"librarian"}), "eakar")
    with pytest.raises(Forbidden):
        await service.append(other, created.upload_id, 0, body(b"0123456789"))
    with pytest.raises(InvalidInput):
        await service.append(LAN, created.upload_id, 0, body(b"0123456789", b"too long"))
    assert (await service.status(LAN, created.upload_id)).complete  # the bytes up to the length were kept
    await service.terminate(LAN, created.upload_id)
    with pytest.raises(UploadNotFound):
        await service.status(LAN, created.upload_id)
    assert states.states == {}
