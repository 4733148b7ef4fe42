"""Sign-in with a card of the library's own system (SIP2), and where that system answers (library admins)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from lending.domain.network import LibraryNetwork
from lending.service_layer.cards import TokenPair
from lending.service_layer.ils_sign_in import IlsConnection, IlsSignIn
from lending.service_layer.staff import ensure_may_manage
from sachso.kit.auth import Principal, Role
from sachso.kit.http import ClientAddress, require_roles

Admin = Annotated[Principal, Depends(require_roles(Role.LIBRARY_ADMIN, Role.PROVINCE_ADMIN))]


class IlsSignInIn(BaseModel):
    library_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    card_number: str = Field(min_length=1, max_length=64, pattern=r"^[^|\r\n\x00]+$")
    pin: str = Field(min_length=1, max_length=64, pattern=r"^[^|\r\n\x00]+$")


class IlsTokenOut(BaseModel):
    access_token: str
    token_type: str
    expires_in: int

    @classmethod
    def of(cls, pair: TokenPair) -> IlsTokenOut:
        return cls(access_token=pair.access_token, token_type=pair.token_type, expires_in=pair.expires_in)


class IlsConnectionIn(BaseModel):
    host: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:-]+$")
    port: int = Field(ge=1, le=65535)
    institution: str = Field(min_length=1, max_length=64, description="SIP2 institution id (AO)")
    tls: bool = False
    location: str = Field("", max_length=64, description="SIP2 location code (CP)")
    encoding: Literal["utf-8", "cp850", "cp1252", "latin-1"] = "utf-8"
    message: Literal["patron-information", "patron-status"] = "patron-information"


class IlsConnectionOut(IlsConnectionIn):
    library_id: str


def ils_router(sign_in: IlsSignIn, network: Callable[[], Awaitable[LibraryNetwork]]) -> APIRouter:
    router = APIRouter(tags=["sign-in"])

    @router.post("/v1/auth/ils-token", summary="Sign in with the card and PIN of your library's own system (SIP2)")
    async def ils_token(body: IlsSignInIn, client: ClientAddress) -> IlsTokenOut:
        return IlsTokenOut.of(await sign_in.sign_in(body.library_id, body.card_number, body.pin, client))

    @router.get("/v1/libraries/{library_id}/ils", summary="Where the library's own system answers SIP2")
    async def connection(admin: Admin, library_id: str) -> IlsConnectionOut:
        ensure_may_manage(admin, library_id, await network())
        return IlsConnectionOut(**(await sign_in.connection(library_id)).__dict__)

    @router.put("/v1/libraries/{library_id}/ils", summary="Sign the library's patrons in through its own system")
    async def configure(admin: Admin, library_id: str, body: IlsConnectionIn) -> IlsConnectionOut:
        ensure_may_manage(admin, library_id, await network())
        saved = await sign_in.configure(IlsConnection(library_id=library_id, **body.model_dump()))
        return IlsConnectionOut(**saved.__dict__)

    return router
