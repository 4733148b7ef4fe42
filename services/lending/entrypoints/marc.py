"""MARC21 over HTTP for a library's staff and its ILS: import records (ISO 2709 or MARCXML) with a report, export
the library's e-book catalogue in full or as one day's delta (ISO 2709 or MARCXML)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from lending.adapters.marc_io import ISO_2709, MARC_XML, iso2709, marcxml, read_records
from lending.domain.network import LibraryNetwork
from lending.service_layer.clock import Clock
from lending.service_layer.marc_export import MarcExport, MarcExportFile
from lending.service_layer.marc_import import MarcImport
from lending.service_layer.staff import STAFF_ROLES, ensure_may_manage
from sachso.kit.auth import Principal
from sachso.kit.errors import InvalidInput, PayloadTooLarge
from sachso.kit.http import require_roles

Staff = Annotated[Principal, Depends(require_roles(*STAFF_ROLES))]
MAX_IMPORT_BYTES = 50 * 1024 * 1024
VIETNAM = timezone(timedelta(hours=7))
Format = Literal["marc", "marcxml"]


class MatchedOut(BaseModel):
    record: int
    title_id: str
    by: str
    enriched: list[str]


class NewOut(BaseModel):
    record: int
    title: str
    isbns: list[str]
    control_number: str
    title_id: str | None


class RefusedOut(BaseModel):
    record: int
    reason: str


class ImportReportOut(BaseModel):
    matched: list[MatchedOut]
    new: list[NewOut]
    refused: list[RefusedOut]


def marc_router(
    importer: MarcImport,
    exporter: MarcExport,
    network: Callable[[], Awaitable[LibraryNetwork]],
    clock: Clock,
) -> APIRouter:
    router = APIRouter(prefix="/v1/libraries/{library_id}", tags=["MARC21"])

    @router.post(
        "/marc-imports",
        summary="Import MARC21 records from the library's ILS (ISO 2709 or MARCXML body); report per record",
    )
    async def import_records(
        staff: Staff, library_id: str, request: Request, create_missing: bool = False
    ) -> ImportReportOut:
        ensure_may_manage(staff, library_id, await network())
        declared = int(request.headers.get("content-length") or 0)
        if declared > MAX_IMPORT_BYTES:
            raise PayloadTooLarge(f"MARC files up to {MAX_IMPORT_BYTES // 1024 // 1024} MB; split larger exports")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_IMPORT_BYTES:
                raise PayloadTooLarge(f"MARC files up to {MAX_IMPORT_BYTES // 1024 // 1024} MB")
        if not body.strip():
            raise InvalidInput("the body is empty: send an ISO 2709 or MARCXML file")
        report = await importer.run(read_records(body), create_missing=create_missing)
        return ImportReportOut.model_validate(asdict(report))

    @router.get("/marc", summary="The library's e-book catalogue as MARC21, in full")
    async def full(staff: Staff, library_id: str, format: Format = "marc") -> Response:
        ensure_may_manage(staff, library_id, await network())
        exported = await exporter.full(library_id, clock())
        return _file(exported, format, f"sachso-{library_id}-full")

    @router.get("/marc/delta", summary="One day's new, changed and deleted records (Vietnam time)")
    async def delta(
        staff: Staff,
        library_id: str,
        day: Annotated[str, Query(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD")],
        format: Format = "marc",
    ) -> Response:
        ensure_may_manage(staff, library_id, await network())
        try:
            start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=VIETNAM)
        except ValueError:
            raise InvalidInput(f"{day} is not a date") from None
        exported = await exporter.delta(library_id, start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC))
        return _file(exported, format, f"sachso-{library_id}-{day}")

    return router


def _file(exported: MarcExportFile, format: Format, name: str) -> Response:
    if format == "marcxml":
        body, media_type, suffix = marcxml(exported.records), MARC_XML, "xml"
    else:
        body, media_type, suffix = iso2709(exported.records), ISO_2709, "mrc"
    headers = {
        "Content-Disposition": f'attachment; filename="{name}.{suffix}"',
        "X-Record-Count": str(len(exported.records)),
        "X-Deleted-Count": str(exported.deleted),
    }
    return Response(body, media_type=media_type, headers=headers)
