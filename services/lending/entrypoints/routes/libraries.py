"""The libraries of the network."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter

from lending.domain.network import Library
from lending.domain.policy import LendingPolicy
from lending.entrypoints.dependencies import ProvinceAdmin
from lending.entrypoints.schemas import (
    LibraryIn,
    LibraryOut,
)
from lending.service_layer.directory import Directory


def libraries_router(directory: Directory) -> APIRouter:
    router = APIRouter(prefix="/v1/libraries", tags=["libraries"])

    @router.get("", summary="The libraries of the network")
    async def libraries() -> list[LibraryOut]:
        return [LibraryOut.of(library) for library in await directory.libraries()]

    @router.post("", status_code=201, summary="Add a library to the network (province admin)")
    async def add(_: ProvinceAdmin, body: LibraryIn) -> LibraryOut:
        library = Library(body.id, body.name, body.kind, body.parent_id, body.auto_approve_cards, body.code.upper())
        policy = LendingPolicy(
            loan_periods=tuple(timedelta(days=days) for days in sorted(set(body.loan_periods_days))),
            max_loans=body.max_loans,
            max_holds=body.max_holds,
            max_renewals=body.max_renewals,
            hold_window=timedelta(hours=body.hold_window_hours),
        )
        await directory.add_library(library, body.code, policy)
        return LibraryOut.of(library)

    return router
