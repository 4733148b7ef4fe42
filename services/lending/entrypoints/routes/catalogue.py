"""The catalogue: search, one title with its availability, titles and licences staff add."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from lending.domain.licensing import LicenseTerms
from lending.entrypoints.dependencies import Staff
from lending.entrypoints.schemas import (
    AvailabilityOut,
    LicenseIn,
    LicenseOut,
    SearchOut,
    TitleDetailOut,
    TitleIn,
    TitleOut,
    title_metadata,
)
from lending.service_layer.catalogue import Catalogue
from lending.service_layer.directory import Directory
from lending.service_layer.staff import ensure_may_manage


def catalogue_router(catalogue: Catalogue, directory: Directory) -> APIRouter:
    router = APIRouter(prefix="/v1/titles", tags=["catalogue"])

    @router.get("", summary="Search the catalogue (diacritics optional), with each title's availability")
    async def search(
        q: Annotated[str, Query(max_length=200)] = "",
        language: Annotated[str | None, Query(max_length=35)] = None,
        library: Annotated[
            str | None, Query(max_length=100, description="titles this library holds licences of")
        ] = None,
        format: Annotated[Literal["epub", "pdf"] | None, Query(description="the file's format")] = None,
        available: Annotated[bool, Query(description="only titles with a copy free now")] = False,
        for_library: Annotated[
            str | None, Query(max_length=100, description="availability for this library's patrons (else: anyone)")
        ] = None,
        page: Annotated[int, Query(ge=1, le=10_000)] = 1,
        size: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> SearchOut:
        found = await catalogue.queries.search(
            q, language=language, library_id=library, book_format=format, available_now=available,
            for_library=for_library, page=page, size=size,
        )  # fmt: skip
        return SearchOut(
            items=[
                TitleOut.of(item).model_copy(
                    update={"availability": AvailabilityOut.of(found.availability[item["_id"]])}
                )
                for item in found.items
            ],
            total=found.total,
            page=found.page,
            size=found.size,
            facets=found.facets,
        )

    @router.get("/{title_id}", summary="One title and its availability (with ?library=: for that library's patrons)")
    async def title(title_id: str, library: Annotated[str | None, Query(max_length=100)] = None) -> TitleDetailOut:
        document = await catalogue.title(title_id)
        detail = TitleDetailOut(**TitleOut.of(document).model_dump(), description=document.get("description", ""))
        detail.availability = AvailabilityOut.of(await catalogue.availability(title_id, library or None))
        return detail

    @router.post("", status_code=201, summary="Add a title by hand (staff; their library looks after it)")
    async def add(staff: Staff, body: TitleIn) -> TitleOut:
        title_id = await catalogue.add_title(title_metadata(body), added_by_library_id=staff.library_id)
        return TitleOut.of(await catalogue.title(title_id))

    @router.post("/{title_id}/licenses", status_code=201, summary="Record a licence a library acquired")
    async def add_license(staff: Staff, title_id: str, body: LicenseIn) -> LicenseOut:
        ensure_may_manage(staff, body.owner_library_id, await directory.network())
        terms = LicenseTerms(body.model, body.concurrency, body.checkouts, body.expires_at)
        license_ = await catalogue.add_license(title_id, body.owner_library_id, terms, body.sharing)
        return LicenseOut(
            id=license_.id,
            title_id=title_id,
            owner_library_id=license_.owner_id,
            model=terms.model,
            concurrency=terms.concurrency,
            checkouts_left=license_.checkouts_left,
            expires_at=terms.expires_at,
            sharing=license_.sharing,
        )

    return router
