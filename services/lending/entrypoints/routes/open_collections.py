"""Open titles (read by anyone, no card, no loan) and the digitisation progress report with its targets."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from lending.domain.digitisation import TOTAL, Target, progress_csv
from lending.entrypoints.dependencies import ProvinceAdmin, Staff
from lending.service_layer.catalogue import Catalogue
from lending.service_layer.directory import Directory
from lending.service_layer.local_documents import OpenCollections
from lending.service_layer.staff import ensure_may_curate_title, ensure_may_manage
from sachso.kit.auth import Principal, Role

MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
FromMonth = Annotated[str, Query(alias="from", pattern=MONTH, description="first month, YYYY-MM")]
ToMonth = Annotated[str, Query(alias="to", pattern=MONTH, description="last month, YYYY-MM")]
LibraryQuery = Annotated[str, Query(max_length=100, description="the library; admins get its sub-libraries too")]


class OpenIn(BaseModel):
    open: bool


class OpenOut(BaseModel):
    title_id: str
    open_access: bool


class OpenReadingOut(BaseModel):
    title_id: str
    kind: str = Field(description="'iiif' (a local document's IIIF Presentation 3.0 manifest) or 'webpub' (Readium)")
    manifest_url: str


class TargetIn(BaseModel):
    year: int = Field(ge=2000, le=2100)
    pages: int = Field(ge=0, le=1_000_000_000)
    items: int = Field(0, ge=0, le=100_000_000)


def open_collections_router(
    collections: OpenCollections, catalogue: Catalogue, directory: Directory, reader_public_url: str
) -> APIRouter:
    router = APIRouter(tags=["open titles and digitisation"])

    async def libraries_of(staff: Principal, library_id: str) -> list[str]:
        network = await directory.network()
        ensure_may_manage(staff, library_id, network)
        admin = staff.has_any_role(Role.LIBRARY_ADMIN, Role.PROVINCE_ADMIN)
        return network.subtree(library_id) if admin else [library_id]

    @router.put("/v1/titles/{title_id}/open", summary="Open a title to everyone, or close it (its stewards' staff)")
    async def set_open(staff: Staff, title_id: str, body: OpenIn) -> OpenOut:
        ensure_may_curate_title(staff, await catalogue.title(title_id), await directory.network())
        title = await collections.set_open(title_id, body.open, by=staff.subject)
        return OpenOut(title_id=title.title_id, open_access=title.open_access)

    @router.post("/v1/titles/{title_id}/open-reading", summary="Read an open title: no card, no loan (counted)")
    async def open_reading(title_id: str) -> OpenReadingOut:
        reading = await collections.open_reading(title_id)
        if reading.local_document:
            return OpenReadingOut(title_id=title_id, kind="iiif", manifest_url=reading.manifest_url)
        token = quote(f"open-{reading.publication_id}", safe="")
        return OpenReadingOut(
            title_id=title_id, kind="webpub", manifest_url=f"{reader_public_url}/v1/read/{token}/manifest.json"
        )

    @router.get("/v1/titles/{title_id}/open-reading", summary="The same, answered with a redirect (OPDS links)")
    async def open_reading_link(title_id: str) -> RedirectResponse:
        return RedirectResponse((await open_reading(title_id)).manifest_url, status_code=303)

    @router.get("/v1/reports/open-reads", summary="Readings of open titles per month, library and title")
    async def open_reads(staff: Staff, library: LibraryQuery, start: FromMonth, end: ToMonth) -> list[dict[str, Any]]:
        counts = await collections.open_reads(await libraries_of(staff, library), start, end)
        return [asdict(count) for count in counts]

    @router.put("/v1/libraries/{library_id}/digitisation-target", summary="The province sets a library's target")
    async def set_target(admin: ProvinceAdmin, library_id: str, body: TargetIn) -> dict[str, Any]:
        ensure_may_manage(admin, library_id, await directory.network())
        target = await collections.set_target(Target(library_id, body.year, body.pages, body.items), by=admin.subject)
        return asdict(target)

    @router.get(
        "/v1/reports/digitisation",
        response_model=None,
        summary="Items and pages digitised, OCR'd, corrected, published per library and month, against targets",
    )
    async def digitisation(
        staff: Staff,
        library: LibraryQuery,
        start: FromMonth,
        end: ToMonth,
        format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
        lang: Annotated[str, Query(pattern="^(en|vi)$", description="CSV headers")] = "vi",
    ) -> Response | dict[str, Any]:
        report = await collections.progress(await libraries_of(staff, library), start, end)
        names = await directory.library_names()
        if format == "csv":
            return Response(
                progress_csv(report, names, lang),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="so-hoa-{library}-{start}-{end}.csv"'},
            )
        return {
            "months": report.months,
            "rows": [
                {"library_id": row.library_id, "library": "" if row.library_id == TOTAL else names.get(row.library_id),
                 "month": row.month or None, **asdict(row.counts), "target_pages": row.target_pages,
                 "target_items": row.target_items, "pages_to_date": row.pages_to_date,
                 "items_to_date": row.items_to_date, "percent_of_target": row.percent_of_target}
                for row in report.rows
            ],
        }  # fmt: skip

    return router
