"""Circulation reports per month and library or title, as JSON or CSV."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from lending.entrypoints.dependencies import Staff
from lending.entrypoints.schemas import (
    ReportRowOut,
    month_window,
)
from lending.service_layer.directory import Directory
from lending.service_layer.reports import Reports, to_csv
from lending.service_layer.staff import ensure_may_manage
from sachso.kit.auth import Role


def reports_router(reports: Reports, directory: Directory) -> APIRouter:
    router = APIRouter(prefix="/v1/reports", tags=["reports"])

    @router.get(
        "/circulation",
        summary="Loans, holds, unique borrowers and turnaways per month and library (or title); CSV with format=csv",
        response_model=list[ReportRowOut],
    )
    async def circulation(
        staff: Staff,
        library: Annotated[str, Query(max_length=100, description="the library; admins get its sub-libraries too")],
        start: Annotated[str, Query(alias="from", pattern=r"^\d{4}-\d{2}$", description="first month, YYYY-MM")],
        end: Annotated[str, Query(alias="to", pattern=r"^\d{4}-\d{2}$", description="last month, YYYY-MM")],
        by: Annotated[str, Query(pattern="^(library|title)$")] = "library",
        format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
        lang: Annotated[str, Query(pattern="^(en|vi)$", description="CSV headers: ids (en) or Vietnamese")] = "en",
    ) -> Response | list[ReportRowOut]:
        network = await directory.network()
        ensure_may_manage(staff, library, network)
        admin = staff.has_any_role(Role.LIBRARY_ADMIN, Role.PROVINCE_ADMIN)
        libraries = network.subtree(library) if admin else [library]
        window_start, window_end = month_window(start, end)
        rows = await reports.circulation(libraries, window_start, window_end, by_title=by == "title")
        if format == "csv":
            filename = f"sachso-{library}-{start}-{end}.csv"
            return Response(
                to_csv(rows, by_title=by == "title", language=lang, library_names=await directory.library_names()),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
        return [
            ReportRowOut(**{**row.__dict__, "title_id": row.title_id or None, "title": row.title or None})
            for row in rows
        ]

    return router
