"""Sign-in: reader card and PIN, refresh, staff and publisher tokens."""

from __future__ import annotations

from fastapi import APIRouter

from lending.entrypoints.schemas import (
    CardSignIn,
    PublisherSignIn,
    RefreshIn,
    StaffSignIn,
    TokenOut,
)
from lending.service_layer.cards import Cards
from lending.service_layer.staff import Accounts
from sachso.kit.http import ClientAddress


def auth_router(cards: Cards, accounts: Accounts) -> APIRouter:
    router = APIRouter(prefix="/v1/auth", tags=["sign-in"])

    @router.post("/token", summary="Sign in with reader card number and PIN")
    async def card_token(body: CardSignIn, client: ClientAddress) -> TokenOut:
        return TokenOut.of(await cards.sign_in(body.card_number, body.pin, client))

    @router.post("/refresh", summary="Trade a refresh token for a new pair (single use)")
    async def refresh(body: RefreshIn) -> TokenOut:
        return TokenOut.of(await cards.refresh(body.refresh_token))

    @router.post("/staff-token", summary="Sign in as library staff")
    async def staff_token(body: StaffSignIn, client: ClientAddress) -> TokenOut:
        return TokenOut.of(await accounts.staff_sign_in(body.username, body.password, client))

    @router.post("/publisher-token", summary="Client credentials for a publisher's ingest API access")
    async def publisher_token(body: PublisherSignIn, client: ClientAddress) -> TokenOut:
        return TokenOut.of(await accounts.publisher_sign_in(body.publisher_id, body.secret, client))

    return router
