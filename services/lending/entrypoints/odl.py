"""ODL between deployments over HTTP.

Lending side — for a partner deployment, authenticated by HTTP Basic with its id and secret:
``GET /odl/feed`` (OPDS 2.0 with ODL licences), ``GET /odl/offers/{id}`` (License Info Document),
``POST /odl/offers/{id}/checkout?checkout_id=&patron_id=&expires=`` (201 and the loan's License Status Document),
``GET /odl/loans/{id}/status``, ``PUT /odl/loans/{id}/return``, ``POST /odl/loans/{id}/streaming`` (a streaming
token of this deployment's DRM and the manifest on its reader, for the partner's patron to read the loan). A partner
sees only its own offers and loans. Staff: ``PUT /v1/odl/partners/{id}`` (province admin), ``POST /v1/odl/offers``
and ``DELETE /v1/odl/offers/{id}`` (withdraw: no new loans, the running ones run to their end; staff of the
licence's library).

Borrowing side — ``POST /v1/odl/sources/{id}/sync`` (province admin of the source's library) mirrors a source's
offers here (and ends the mirrored licences of offers withdrawn since); ``POST /v1/odl/loans/{id}/streaming-token``
(the patron of the loan) gives her the lender's streaming token and manifest to read a loan of a mirrored licence.
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
Patron = Annotated[Principal, Depends(require_roles(Role.PATRON))]
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


class OfferWithdrawnOut(OfferOut):
    withdrawn_at: datetime


class ReadingOut(BaseModel):
    loan_id: str
    token: str
    expires_at: datetime
    manifest_url: str


class SyncOut(BaseModel):
    offers: int
    new: int
    withdrawn: int


def _base_url(public_url: str) -> Callable[[Request], str]:
    """Links are built from lending's public URL (``LENDING_PUBLIC_URL``), never from the request's Host header;
    only a test that serves the app on a port chosen at run time leaves it empty."""

    def base(request: Request) -> str:
        return public_url.rstrip("/") or str(request.base_url).rstrip("/")

    return base


def _document(body: dict[str, Any], media_type: str, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=media_type)


def odl_lending_router(
    lending: OdlLending, network: Callable[[], Awaitable[LibraryNetwork]], public_url: str = ""
) -> APIRouter:
    router = APIRouter(tags=["ODL (lending to partner deployments)"])
    _base = _base_url(public_url)

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

    @router.delete("/v1/odl/offers/{offer_id}", summary="Withdraw an offer (running loans run to their end)")
    async def withdraw_offer(staff: Staff, offer_id: str) -> OfferWithdrawnOut:
        _, license_ = await lending.offer_to_manage(offer_id)
        ensure_may_manage(staff, license_.owner_id, await network())
        offer = await lending.withdraw_offer(offer_id)
        assert offer.withdrawn_at is not None
        fields = {key: getattr(offer, key) for key in OfferOut.model_fields}
        return OfferWithdrawnOut(**fields, withdrawn_at=offer.withdrawn_at)

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

    @router.post("/odl/loans/{loan_id}/streaming", summary="A streaming token to read a partner loan")
    async def streaming(partner_id: Partner, loan_id: str) -> ReadingOut:
        reading = await lending.reading(partner_id, loan_id)
        return ReadingOut(**reading.__dict__)

    @router.put("/odl/loans/{loan_id}/return", summary="Return a partner loan early")
    async def give_back(partner_id: Partner, request: Request, loan_id: str) -> JSONResponse:
        loan = await lending.return_loan(partner_id, loan_id)
        return _document(odl.status_document(loan, _base(request)), odl.STATUS_DOCUMENT)

    return router


def odl_borrowing_router(borrowing: OdlBorrowing, network: Callable[[], Awaitable[LibraryNetwork]]) -> APIRouter:
    router = APIRouter(tags=["ODL (borrowing from other deployments)"])

    @router.post("/v1/odl/sources/{source_id}/sync", summary="Mirror a lending deployment's offers here")
    async def sync(admin: ProvinceAdmin, source_id: str) -> SyncOut:
        ensure_may_manage(admin, borrowing.source(source_id).library_id, await network())
        report = await borrowing.sync(source_id)
        return SyncOut(offers=report.offers, new=report.new, withdrawn=report.withdrawn)

    @router.post("/v1/odl/loans/{loan_id}/streaming-token", summary="Read my loan of another deployment's title")
    async def streaming_token(patron: Patron, loan_id: str) -> ReadingOut:
        reading = await borrowing.reading(patron.subject, loan_id)
        return ReadingOut(**reading.__dict__)

    return router
