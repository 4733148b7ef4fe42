"""ODL between deployments over HTTP.

Lending side — for a partner deployment, authenticated by HTTP Basic with its id and secret:
``GET /odl/feed`` (OPDS 2.0 with ODL licences), ``GET /odl/offers/{id}`` (License Info Document),
``POST /odl/offers/{id}/checkout?checkout_id=&patron_id=&expires=`` (201 and the loan's License Status Document),
``GET /odl/loans/{id}/status``, ``PUT /odl/loans/{id}/return``. A partner sees only its own offers and loans.
Staff: ``PUT /v1/odl/partners/{id}`` (province admin), ``POST /v1/odl/offers`` (staff of the licence's library).

Borrowing side — ``POST /v1/odl/sources/{id}/sync`` (province admin) mirrors a source's offers here.
"""

# No ``from __future__ import annotations`` here: the partner dependency is local to the router, and FastAPI must
# see its annotation as an object, not as a name to look up in the module.
import base64
import binascii
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from lending.domain import odl
from lending.domain.network import LibraryNetwork
from lending.service_layer.odl_borrowing import OdlBorrowing
from lending.service_layer.odl_lending import OdlLending
from lending.service_layer.staff import STAFF_ROLES, ensure_may_manage
from sachso.kit.auth import Principal, Role
from sachso.kit.errors import InvalidInput, Unauthenticated
from sachso.kit.http import require_roles

ProvinceAdmin = Annotated[Principal, Depends(require_roles(Role.PROVINCE_ADMIN))]
Staff = Annotated[Principal, Depends(require_roles(*STAFF_ROLES))]
ID = r"^[a-z0-9][a-z0-9-]{1,62}$"


class PartnerIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    secret: str = Field(min_length=24, max_length=200)


class OfferIn(BaseModel):
    partner_id: str = Field(pattern=ID)
    license_id: str = Field(min_length=1, max_length=100)
    copies: int = Field(ge=1, le=10_000)
    max_loan_days: int = Field(21, ge=1, le=365)


class OfferOut(BaseModel):
    id: str
    partner_id: str
    title_id: str
    license_id: str
    copies: int
    in_use: int
    max_loan_days: int


class SyncOut(BaseModel):
    offers: int
    new: int


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _document(body: dict[str, Any], media_type: str, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=media_type)


def odl_lending_router(lending: OdlLending, network: Callable[[], Awaitable[LibraryNetwork]]) -> APIRouter:
    router = APIRouter(tags=["ODL (lending to partner deployments)"])

    async def partner(request: Request) -> str:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            partner_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            partner_id, secret = "", ""
        if scheme.lower() != "basic" or not partner_id:
            raise Unauthenticated("ODL calls authenticate with HTTP Basic: partner id and secret")
        return await lending.authenticate(partner_id, secret)

    Partner = Annotated[str, Depends(partner)]

    @router.put("/v1/odl/partners/{partner_id}", status_code=204, summary="Register a partner deployment")
    async def register(_: ProvinceAdmin, partner_id: Annotated[str, Path(pattern=ID)], body: PartnerIn) -> None:
        await lending.register_partner(partner_id, body.name, body.secret)

    @router.post("/v1/odl/offers", status_code=201, summary="Offer copies of a licence to a partner's patrons")
    async def make_offer(staff: Staff, body: OfferIn) -> OfferOut:
        license_ = await lending.license(body.license_id)
        ensure_may_manage(staff, license_.owner_id, await network())
        offer = await lending.make_offer(body.partner_id, body.license_id, body.copies, body.max_loan_days)
        return OfferOut(**{key: getattr(offer, key) for key in OfferOut.model_fields})

    @router.get("/odl/feed", summary="OPDS 2.0 feed of the offers to the calling partner, with ODL licences")
    async def feed(partner_id: Partner, request: Request) -> JSONResponse:
        base = _base(request)
        offers, titles = await lending.offers(partner_id)
        now = lending.clock()
        publications = [
            odl.feed_publication(offer, titles[offer.title_id], base, now)
            for offer in offers
            if offer.title_id in titles
        ]
        body = {
            "metadata": {"title": "Sách Số — ODL", "numberOfItems": len(publications)},
            "links": [{"rel": "self", "href": f"{base}/odl/feed", "type": odl.OPDS}],
            "publications": publications,
        }
        return _document(body, odl.OPDS)

    @router.get("/odl/offers/{offer_id}", summary="License Info Document of an offer")
    async def info(partner_id: Partner, offer_id: str) -> JSONResponse:
        offer = await lending.offer(partner_id, offer_id)
        return _document(odl.license_info(offer, lending.clock()), odl.ODL_INFO)

    @router.post("/odl/offers/{offer_id}/checkout", summary="Check a copy out for a partner's patron")
    async def checkout(
        partner_id: Partner,
        request: Request,
        offer_id: str,
        checkout_id: Annotated[str, Query(min_length=1, max_length=100)],
        patron_id: Annotated[str, Query(min_length=1, max_length=100)],
        expires: Annotated[datetime | None, Query()] = None,
    ) -> JSONResponse:
        if expires is not None and expires.tzinfo is None:
            raise InvalidInput("expires needs a time zone")
        loan = await lending.checkout(partner_id, offer_id, checkout_id, patron_id, expires)
        return _document(odl.status_document(loan, _base(request)), odl.STATUS_DOCUMENT, 201)

    @router.get("/odl/loans/{loan_id}/status", summary="License Status Document of a partner loan")
    async def status(partner_id: Partner, request: Request, loan_id: str) -> JSONResponse:
        loan = await lending.loan(partner_id, loan_id)
        return _document(odl.status_document(loan, _base(request)), odl.STATUS_DOCUMENT)

    @router.put("/odl/loans/{loan_id}/return", summary="Return a partner loan early")
    async def give_back(partner_id: Partner, request: Request, loan_id: str) -> JSONResponse:
        loan = await lending.return_loan(partner_id, loan_id)
        return _document(odl.status_document(loan, _base(request)), odl.STATUS_DOCUMENT)

    return router


def odl_borrowing_router(borrowing: OdlBorrowing) -> APIRouter:
    router = APIRouter(tags=["ODL (borrowing from other deployments)"])

    @router.post("/v1/odl/sources/{source_id}/sync", summary="Mirror a lending deployment's offers here")
    async def sync(_: ProvinceAdmin, source_id: str) -> SyncOut:
        report = await borrowing.sync(source_id)
        return SyncOut(offers=report.offers, new=report.new)

    return router
