"""Staff tasks: accounts, publishers, reader cards (renew, block) and title corrections."""

from __future__ import annotations

from fastapi import APIRouter, Response

from lending.entrypoints.dependencies import ProvinceAdmin, Staff
from lending.entrypoints.schemas import (
    LibraryOut,
    OnlineOnlyIn,
    PatronOut,
    PublisherIn,
    StaffIn,
    TitleIn,
    TitleOut,
    title_metadata,
)
from lending.service_layer.cards import Cards
from lending.service_layer.catalogue import Catalogue
from lending.service_layer.circulation import Circulation
from lending.service_layer.directory import Directory
from lending.service_layer.staff import Accounts, ensure_may_curate_title, ensure_may_manage, may_manage
from sachso.kit.auth import Principal, Role
from sachso.kit.errors import Forbidden, NotFound


def staff_router(
    accounts: Accounts, cards: Cards, catalogue: Catalogue, circulation: Circulation, directory: Directory
) -> APIRouter:
    router = APIRouter(tags=["staff"])

    @router.post("/v1/staff", status_code=201, summary="Create a staff account in a library you administer")
    async def create_staff(admin: Staff, body: StaffIn) -> dict[str, str]:
        if not admin.has_any_role(Role.LIBRARY_ADMIN, Role.PROVINCE_ADMIN):
            raise Forbidden("only library and province admins create staff accounts")
        if body.role is Role.PROVINCE_ADMIN and Role.PROVINCE_ADMIN not in admin.roles:
            raise Forbidden("only a province admin creates province admins")
        ensure_may_manage(admin, body.library_id, await directory.network())
        staff_id = await accounts.create_staff(
            username=body.username, password=body.password, role=body.role, library_id=body.library_id
        )
        return {"id": staff_id, "username": body.username}

    @router.get("/v1/staff/me/libraries", summary="The libraries I may manage (my library, and below it for admins)")
    async def my_libraries(staff: Staff) -> list[LibraryOut]:
        network = await directory.network()
        libraries = await directory.libraries()
        return [LibraryOut.of(library) for library in libraries if may_manage(staff, library.id, network)]

    @router.post("/v1/publishers", status_code=201, summary="Register a publisher for the ingest API")
    async def create_publisher(_: ProvinceAdmin, body: PublisherIn) -> dict[str, str]:
        return {"id": await accounts.create_publisher(name=body.name, secret=body.secret, publisher_id=body.id)}

    async def managed_patron(staff: Principal, library_id: str, patron_id: str) -> None:
        ensure_may_manage(staff, library_id, await directory.network())
        if await directory.patron_of(library_id, patron_id) is None:
            raise NotFound(f"library {library_id} has no patron {patron_id}")

    @router.post("/v1/libraries/{library_id}/patrons/{patron_id}/renew-card", summary="Extend a reader card")
    async def renew_card(staff: Staff, library_id: str, patron_id: str) -> PatronOut:
        await managed_patron(staff, library_id, patron_id)
        return PatronOut.model_validate(await cards.renew_card(patron_id), from_attributes=True)

    @router.post(
        "/v1/libraries/{library_id}/patrons/{patron_id}/block",
        status_code=204,
        summary="Block a card: sign-in and reading stop, loans are returned, holds wait skipped",
    )
    async def block(staff: Staff, library_id: str, patron_id: str) -> Response:
        await managed_patron(staff, library_id, patron_id)
        await circulation.block_card(patron_id)
        return Response(status_code=204)

    @router.post("/v1/libraries/{library_id}/patrons/{patron_id}/unblock", status_code=204, summary="Unblock")
    async def unblock(staff: Staff, library_id: str, patron_id: str) -> Response:
        await managed_patron(staff, library_id, patron_id)
        await circulation.unblock_card(patron_id)
        return Response(status_code=204)

    async def curated_title(staff: Principal, title_id: str) -> None:
        ensure_may_curate_title(staff, await catalogue.title(title_id), await directory.network())

    @router.put(
        "/v1/titles/{title_id}/online-only",
        summary="Lend a rare document for online reading only (staff managing every library that holds it)",
    )
    async def online_only(staff: Staff, title_id: str, body: OnlineOnlyIn) -> TitleOut:
        await curated_title(staff, title_id)
        await catalogue.set_online_only(title_id, body.online_only)
        return TitleOut.of(await catalogue.title(title_id))

    @router.put("/v1/titles/{title_id}", summary="Correct a title's metadata (staff managing every library holding it)")
    async def edit_title(staff: Staff, title_id: str, body: TitleIn) -> TitleOut:
        await curated_title(staff, title_id)
        await catalogue.edit_title(title_id, title_metadata(body))
        return TitleOut.of(await catalogue.title(title_id))

    return router
