"""tus 1.0.0 (core, creation, termination) at ``/v1/local-documents/uploads``: resumable uploads of scans.

Any tus client (tus-js-client in the web app, tuspy in the CLI) uploads here with the staff Bearer token; after a
dropped connection it asks ``HEAD`` for the offset and sends the rest with ``PATCH``. See
https://tus.io/protocols/resumable-upload (the headers below are the protocol's).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from starlette.requests import ClientDisconnect

from reader.domain.local_documents import Staff
from reader.service_layer.resumable_uploads import ResumableUploads, UploadStatus
from sachso.kit.auth import Principal, Role
from sachso.kit.errors import InvalidInput, ServiceError, UnsupportedMediaType
from sachso.kit.http import require_roles

TUS_VERSION = "1.0.0"
OFFSET_MEDIA_TYPE = "application/offset+octet-stream"
StaffPrincipal = Annotated[Principal, Depends(require_roles(Role.LIBRARIAN, Role.LIBRARY_ADMIN))]


class TusVersionUnsupported(ServiceError):
    status = 412
    grpc_code = "FAILED_PRECONDITION"
    problem = "tus-version-unsupported"
    title = "This server speaks tus 1.0.0"


def staff_of(principal: Principal) -> Staff:
    return Staff(principal.subject, frozenset(str(role) for role in principal.roles), principal.library_id)


def parse_metadata(header: str) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs (the value may be absent)."""
    metadata: dict[str, str] = {}
    for pair in filter(None, (item.strip() for item in header.split(","))):
        key, _, value = pair.partition(" ")
        try:
            metadata[key] = base64.b64decode(value, validate=True).decode() if value else ""
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidInput(f"Upload-Metadata: the value of {key!r} is not base64 of UTF-8 text") from None
    return metadata


def _integer_header(request: Request, name: str) -> int:
    value = request.headers.get(name, "")
    if not value.isdigit():
        raise InvalidInput(f"{name} must be a non-negative integer")
    return int(value)


def _tus_headers(status: UploadStatus | None = None) -> dict[str, str]:
    headers = {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store"}
    if status is not None:
        headers |= {"Upload-Offset": str(status.offset), "Upload-Length": str(status.length)}
    return headers


async def tus_version(request: Request) -> None:
    if request.method != "OPTIONS" and request.headers.get("tus-resumable") != TUS_VERSION:
        raise TusVersionUnsupported("send Tus-Resumable: 1.0.0", tus_version=TUS_VERSION)


async def _body(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        return  # the client went away: keep what arrived, it will resume from the stored offset


def tus_router(uploads: ResumableUploads) -> APIRouter:
    router = APIRouter(prefix="/v1/local-documents/uploads", tags=["local documents: resumable upload (tus)"],
                       dependencies=[Depends(tus_version)])  # fmt: skip

    @router.options("", summary="What this tus server supports")
    async def options() -> Response:
        return Response(status_code=204, headers={"Tus-Resumable": TUS_VERSION, "Tus-Version": TUS_VERSION,
                        "Tus-Extension": "creation,termination", "Tus-Max-Size": str(uploads.max_bytes)})  # fmt: skip

    @router.post("", status_code=201, summary="Create an upload (Upload-Length, Upload-Metadata)")
    async def create(request: Request, staff: StaffPrincipal) -> Response:
        if "upload-defer-length" in request.headers:
            raise InvalidInput("Upload-Defer-Length is not supported: send Upload-Length")
        status = await uploads.create(
            staff_of(staff),
            _integer_header(request, "upload-length"),
            parse_metadata(request.headers.get("upload-metadata", "")),
        )
        location = str(request.url_for("tus_upload", upload_id=status.upload_id))
        return Response(status_code=201, headers=_tus_headers() | {"Location": location})

    @router.head("/{upload_id}", name="tus_upload", summary="The upload's offset")
    async def offset(upload_id: str, staff: StaffPrincipal) -> Response:
        return Response(status_code=200, headers=_tus_headers(await uploads.status(staff_of(staff), upload_id)))

    @router.patch("/{upload_id}", summary="Send bytes from Upload-Offset")
    async def append(request: Request, upload_id: str, staff: StaffPrincipal) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != OFFSET_MEDIA_TYPE:
            raise UnsupportedMediaType(f"send the bytes as {OFFSET_MEDIA_TYPE}")
        at = _integer_header(request, "upload-offset")
        status = await uploads.append(staff_of(staff), upload_id, at, _body(request))
        return Response(status_code=204, headers=_tus_headers(status))

    @router.delete("/{upload_id}", status_code=204, summary="Abandon an upload")
    async def terminate(upload_id: str, staff: StaffPrincipal) -> Response:
        await uploads.terminate(staff_of(staff), upload_id)
        return Response(status_code=204, headers=_tus_headers())

    return router
