"""The library network over HTTP: the tree and its groups (anyone); moves and card number prefixes (province admins,
within their province); merges (the two provinces' admins, each agreeing for her own); groups (province admins and
library admins, within the libraries they manage); with whom a licence pool is shared (staff who manage the pool's
library). Who manages what: :func:`lending.service_layer.staff.may_manage`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from lending.domain.network import LibraryGroup, LibraryKind, LibraryNetwork, Sharing
from lending.service_layer.network_admin import NetworkAdmin, NetworkChange
from lending.service_layer.staff import STAFF_ROLES, ensure_may_manage, may_manage
from sachso.kit.auth import Principal, Role
from sachso.kit.errors import Forbidden
from sachso.kit.http import require_roles

ProvinceAdmin = Annotated[Principal, Depends(require_roles(Role.PROVINCE_ADMIN))]
Admin = Annotated[Principal, Depends(require_roles(Role.LIBRARY_ADMIN, Role.PROVINCE_ADMIN))]
Staff = Annotated[Principal, Depends(require_roles(*STAFF_ROLES))]
LIBRARY_ID = r"^[a-z0-9][a-z0-9-]{1,62}$"


class LibraryNodeOut(BaseModel):
    id: str
    name: str
    kind: LibraryKind
    parent_id: str | None
    code: str


class GroupOut(BaseModel):
    id: str
    name: str
    scope_id: str
    kinds: list[LibraryKind]
    members: list[str] = Field(description="named libraries; libraries of `kinds` within the scope belong too")
    libraries: list[str] = Field(description="every library in the group as the network is now")

    @classmethod
    def of(cls, group: LibraryGroup, network: LibraryNetwork) -> GroupOut:
        return cls(
            id=group.id,
            name=group.name,
            scope_id=group.scope_id,
            kinds=sorted(group.kinds),
            members=sorted(group.members),
            libraries=sorted(network.group_members(group.id)),
        )


class NetworkOut(BaseModel):
    libraries: list[LibraryNodeOut]
    groups: list[GroupOut]


class MoveIn(BaseModel):
    parent_id: str = Field(pattern=LIBRARY_ID)


class MergeIn(BaseModel):
    absorbed_id: str = Field(pattern=LIBRARY_ID, description="the provincial library whose province is absorbed")
    surviving_id: str = Field(pattern=LIBRARY_ID, description="the provincial library of the merged province")


class CodeIn(BaseModel):
    code: str = Field(pattern=r"^[A-Za-z]{2,6}$", description="card number prefix")


class GroupIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    scope_id: str = Field(pattern=LIBRARY_ID, description="the library whose subtree `kinds` are taken from")
    kinds: list[LibraryKind] = Field(default_factory=list, max_length=10)
    members: list[str] = Field(default_factory=list, max_length=1000)


class SharingIn(BaseModel):
    sharing: Sharing
    group_id: str | None = Field(None, pattern=LIBRARY_ID)


class SharingOut(BaseModel):
    license_id: str
    owner_library_id: str
    sharing: Sharing
    group_id: str | None


class ChangeOut(BaseModel):
    at: datetime
    action: str
    subject_id: str
    by: str
    detail: dict[str, object]


def _node(library_id: str, network: LibraryNetwork) -> LibraryNodeOut:
    library = network.get(library_id)
    return LibraryNodeOut(
        id=library.id, name=library.name, kind=library.kind, parent_id=library.parent_id, code=library.code
    )


def _concerns(principal: Principal, change: NetworkChange, network: LibraryNetwork) -> bool:
    """A change log entry about a library, group or pool she manages (or a merge her province agreed to)."""
    groups = {group.id: group for group in network.groups}
    if change.subject_id in network:
        subject = change.subject_id
    elif change.action.startswith("group-"):
        subject = str(
            change.detail.get("scope") or (groups[change.subject_id].scope_id if change.subject_id in groups else "")
        )
    else:
        subject = str(change.detail.get("owner", ""))
    related = {subject, str(change.detail.get("into", "")), str(change.detail.get("province", ""))} - {""}
    return any(may_manage(principal, library_id, network) for library_id in related)


def network_router(admin: NetworkAdmin) -> APIRouter:
    router = APIRouter(tags=["library network"])

    @router.get("/v1/network", summary="The library tree with kinds, card number prefixes and groups")
    async def network() -> NetworkOut:
        current = await admin.network()
        return NetworkOut(
            libraries=[_node(library.id, current) for library in sorted(current.libraries, key=lambda lib: lib.id)],
            groups=[GroupOut.of(group, current) for group in sorted(current.groups, key=lambda g: g.id)],
        )

    @router.post("/v1/libraries/{library_id}/move", summary="Move a library (and its sub-libraries) under another")
    async def move(principal: ProvinceAdmin, library_id: str, body: MoveIn) -> LibraryNodeOut:
        current = await admin.network()
        ensure_may_manage(principal, library_id, current)
        ensure_may_manage(principal, body.parent_id, current)
        await admin.move_library(library_id, body.parent_id, by=principal.subject)
        return _node(library_id, await admin.network())

    @router.post(
        "/v1/network/merge",
        summary="Merge two provinces' networks into one (each province's admin agrees; 202 until both have)",
        responses={
            202: {"description": "your province's agreement is recorded; the other province's admin's is awaited"}
        },
    )
    async def merge(principal: ProvinceAdmin, body: MergeIn) -> Response:
        province = principal.library_id or ""
        if province not in (body.absorbed_id, body.surviving_id):
            raise Forbidden("only the admins of the two provinces agree to their merge")
        merged = await admin.merge_provinces(
            body.absorbed_id, body.surviving_id, by=principal.subject, for_province=province
        )
        if merged is None:
            other = body.surviving_id if province == body.absorbed_id else body.absorbed_id
            return JSONResponse({"status": "agreed", "awaiting": other}, status_code=202)
        return JSONResponse(_node(body.absorbed_id, await admin.network()).model_dump())

    @router.put("/v1/libraries/{library_id}/code", summary="A new card number prefix for the library's new cards")
    async def code(principal: ProvinceAdmin, library_id: str, body: CodeIn) -> LibraryNodeOut:
        ensure_may_manage(principal, library_id, await admin.network())
        await admin.set_code(library_id, body.code, by=principal.subject)
        return _node(library_id, await admin.network())

    @router.get("/v1/network/changes", summary="The network's change log within your province, newest first")
    async def changes(principal: ProvinceAdmin, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[ChangeOut]:
        current = await admin.network()
        return [
            ChangeOut(at=c.at, action=c.action, subject_id=c.subject_id, by=c.by, detail=dict(c.detail))
            for c in await admin.changes(limit)
            if _concerns(principal, c, current)
        ]

    @router.put("/v1/library-groups/{group_id}", summary="Define a named group of libraries (admins of its scope)")
    async def define_group(principal: Admin, group_id: str, body: GroupIn) -> GroupOut:
        current = await admin.network()
        ensure_may_manage(principal, body.scope_id, current)
        for member in body.members:
            ensure_may_manage(principal, member, current)
        if group_id in {group.id for group in current.groups}:
            ensure_may_manage(principal, current.group(group_id).scope_id, current)
        group = LibraryGroup(group_id, body.name, body.scope_id, frozenset(body.kinds), frozenset(body.members))
        await admin.define_group(group, by=principal.subject)
        return GroupOut.of(group, await admin.network())

    @router.delete("/v1/library-groups/{group_id}", status_code=204, summary="Remove a group no pool is shared with")
    async def remove_group(principal: Admin, group_id: str) -> Response:
        group = await admin.group(group_id)
        ensure_may_manage(principal, group.scope_id, await admin.network())
        await admin.remove_group(group_id, by=principal.subject)
        return Response(status_code=204)

    @router.put("/v1/licenses/{license_id}/sharing", summary="Whom a licence serves: own, subtree or a group")
    async def share(principal: Staff, license_id: str, body: SharingIn) -> SharingOut:
        license_ = await admin.license(license_id)
        ensure_may_manage(principal, license_.owner_id, await admin.network())
        shared = await admin.share_pool(license_id, body.sharing, body.group_id, by=principal.subject)
        return SharingOut(
            license_id=shared.id, owner_library_id=shared.owner_id, sharing=shared.sharing, group_id=shared.group_id
        )

    return router
