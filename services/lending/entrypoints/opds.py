"""OPDS 2.0 catalogue feeds and the OPDS Authentication document, for third-party reading apps.

- ``GET /opds`` navigation feed; ``GET /opds/publications`` publications with availability, copies and holds,
  facets (language, library), search (``?query=``) and pagination; ``GET /opds/shelf`` my loans and holds.
- ``GET|POST /opds/publications/{id}/borrow`` borrows when a copy is free, or joins the hold queue; the answer is
  the publication with its new availability and, for a loan, the LCP licence acquisition link (DRM service).
- ``GET /opds/auth`` the Authentication for OPDS 1.0 document: OAuth 2.0 resource owner password credentials
  with the reader card number and PIN (``POST /opds/oauth/token``, RFC 6749 form and answers). Every OPDS
  route that needs a patron answers 401 with this document, as the specification requires.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from lending.domain.availability import Availability
from lending.domain.titles import has_readable_publication
from lending.errors import CardBlocked, NoCopyAvailable, SignInFailed, SignInLocked
from lending.service_layer.cards import Cards, TokenPair
from lending.service_layer.catalogue import Catalogue
from lending.service_layer.circulation import Circulation, HoldView, Loan
from sachso.kit.auth import Principal, Role
from sachso.kit.errors import Unauthenticated
from sachso.kit.http import ClientAddress, verified_principal

OPDS = "application/opds+json"
OPDS_PUBLICATION = "application/opds-publication+json"
AUTH_DOCUMENT = "application/opds-authentication+json"
LCP_LICENSE = "application/vnd.readium.lcp.license.v1.0+json"
BORROW = "http://opds-spec.org/acquisition/borrow"
ACQUISITION = "http://opds-spec.org/acquisition"
AUTH_REL = "http://opds-spec.org/auth/document"
PAGE_SIZE = 50

_bearer = HTTPBearer(auto_error=False)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


class OpdsAuthenticationRequired(Unauthenticated):
    """401 whose body is the authentication document, so an OPDS client can sign the reader in."""

    problem = "opds-authentication-required"

    def __init__(self, detail: str, document: dict[str, Any]) -> None:
        super().__init__(detail)
        self.document = document

    def http_body(self, instance: str | None = None) -> tuple[dict[str, Any], str]:
        return self.document, AUTH_DOCUMENT


def authentication_document(base: str) -> dict[str, Any]:
    return {
        "id": f"{base}/opds/auth",
        "title": "Sách Số",
        "description": "Đăng nhập bằng số thẻ bạn đọc và mã PIN. Sign in with your reader card number and PIN.",
        "links": [
            {"rel": "register", "href": f"{base}/v1/card-applications", "type": "application/json"},
            {"rel": "start", "href": f"{base}/opds", "type": OPDS},
        ],
        "authentication": [
            {
                "type": "http://opds-spec.org/auth/oauth/password",
                "labels": {"login": "Số thẻ bạn đọc", "password": "Mã PIN"},
                "links": [
                    {"rel": "authenticate", "href": f"{base}/opds/oauth/token", "type": "application/json"},
                    {"rel": "refresh", "href": f"{base}/opds/oauth/token", "type": "application/json"},
                ],
            }
        ],
    }


def _base(request: Request) -> str:
    """The configured public URL of lending (set on every OPDS request by the router), never the Host header."""
    return str(request.state.opds_base)


def _query(params: dict[str, Any]) -> str:
    """A query string with every value percent-encoded (``&``, ``#``, spaces, Vietnamese), empty ones left out."""
    return urlencode({key: value for key, value in params.items() if value not in (None, "")}, quote_via=quote)


def _feed_response(body: dict[str, Any], media_type: str = OPDS) -> JSONResponse:
    return JSONResponse(body, media_type=media_type)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


async def patron_or_none(request: Request, credentials: Credentials) -> Principal | None:
    if credentials is None:
        return None
    try:
        principal = await verified_principal(request, credentials.credentials)
    except Unauthenticated as error:
        raise OpdsAuthenticationRequired(error.detail, authentication_document(_base(request))) from None
    return principal if Role.PATRON in principal.roles else None


async def patron(request: Request, principal: Annotated[Principal | None, Depends(patron_or_none)]) -> Principal:
    if principal is None:
        raise OpdsAuthenticationRequired("sign in with your reader card", authentication_document(_base(request)))
    return principal


OptionalPatron = Annotated[Principal | None, Depends(patron_or_none)]
Patron = Annotated[Principal, Depends(patron)]


HashedPassphrase = Callable[[str], Awaitable[str | None]]


async def no_passphrase(patron_id: str) -> str | None:
    return None


def opds_router(
    catalogue: Catalogue,
    circulation: Circulation,
    cards: Cards,
    drm_public_url: str,
    hashed_passphrase: HashedPassphrase = no_passphrase,
    *,
    public_url: str,
) -> APIRouter:
    """``public_url``: where reading apps reach lending; every link is built from it, so a request's Host header
    (which anyone can set) never lands in a feed a cache or an app keeps."""
    base_url = public_url.rstrip("/")

    async def links_from_public_url(request: Request) -> None:
        request.state.opds_base = base_url

    router = APIRouter(prefix="/opds", tags=["OPDS 2.0"], dependencies=[Depends(links_from_public_url)])

    def publication(
        base: str,
        title: dict[str, Any],
        availability: Availability | None,
        *,
        loan: Loan | None = None,
        hold: HoldView | None = None,
        passphrase: str | None = None,
    ) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "@type": "http://schema.org/Book",
            "identifier": f"urn:isbn:{title['isbn']}" if title.get("isbn") else f"urn:uuid:{title['_id']}",
            "title": title.get("title", ""),
            "author": [{"name": name} for name in title.get("authors", [])],
            "language": title.get("language", ""),
        }
        for key in ("subtitle", "description"):
            if title.get(key):
                metadata[key] = title[key]
        if title.get("subjects"):
            metadata["subject"] = [{"name": name} for name in title["subjects"]]
        properties: dict[str, Any] = {
            "indirectAcquisition": [{"type": LCP_LICENSE, "child": [{"type": "application/epub+zip"}]}]
        }
        if not has_readable_publication(title.get("publication_id"), title.get("readable")):
            properties["availability"] = {"state": "unavailable"}  # no file yet: nothing to lend
        elif loan is not None:
            properties["availability"] = {"state": "ready", "since": _iso(loan.starts_at), "until": _iso(loan.due_at)}
        elif hold is not None:
            state = "ready" if hold.hold.state.value == "ready" else "reserved"
            properties["availability"] = {"state": state}
            if hold.hold.ready_until is not None:  # a waiting hold has no end yet (OPDS: until is a date-time)
                properties["availability"]["until"] = _iso(hold.hold.ready_until)
            properties["holds"] = {"position": hold.position}
        elif availability is not None:
            free = availability.available is None or availability.available > 0
            properties["availability"] = {"state": "available" if free else "unavailable"}
            if availability.copies is not None:
                properties["copies"] = {"total": availability.copies, "available": availability.available or 0}
            properties["holds"] = {"total": availability.holds}
        links: list[dict[str, Any]] = [
            {
                "rel": "self",
                "href": f"{base}/opds/publications/{quote(title['_id'], safe='')}",
                "type": OPDS_PUBLICATION,
            },
            {
                "rel": BORROW,
                "href": f"{base}/opds/publications/{quote(title['_id'], safe='')}/borrow",
                "type": OPDS_PUBLICATION,
                "properties": properties,
            },
        ]
        if title.get("open_access") and not title.get("online_only"):  # anyone reads it: no card, no loan
            links.append({
                "rel": "http://opds-spec.org/acquisition/open-access",
                "href": f"{base}/v1/titles/{quote(title['_id'], safe='')}/open-reading",
                "type": "application/ld+json" if title.get("local_document") else "application/webpub+json",
            })  # fmt: skip
        if loan is not None and drm_public_url and not title.get("online_only"):
            acquisition: dict[str, Any] = {
                "rel": ACQUISITION,
                "href": f"{drm_public_url}/v1/loans/{loan.id}/license",
                "type": LCP_LICENSE,
            }
            if passphrase:  # automatic key retrieval: the app opens the licence without asking the reader
                acquisition["properties"] = {"lcp_hashed_passphrase": passphrase}
            links.append(acquisition)
        return {"metadata": metadata, "links": links}

    async def availability_for(title_id: str, principal: Principal | None) -> Availability | None:
        if principal is None or principal.library_id is None:
            return None
        return await catalogue.availability(title_id, principal.library_id)

    @router.get("", summary="The catalogue's navigation feed")
    async def root(request: Request) -> JSONResponse:
        base = _base(request)
        return _feed_response(
            {
                "metadata": {"title": "Sách Số"},
                "links": [
                    {"rel": "self", "href": f"{base}/opds", "type": OPDS},
                    {"rel": "search", "href": f"{base}/opds/publications{{?query}}", "type": OPDS, "templated": True},
                    {"rel": AUTH_REL, "href": f"{base}/opds/auth", "type": AUTH_DOCUMENT},
                ],
                "navigation": [
                    {"title": "Tất cả sách", "href": f"{base}/opds/publications", "type": OPDS, "rel": "collection"},
                    {
                        "title": "Sách tiếng Việt",
                        "href": f"{base}/opds/publications?{_query({'language': 'vi'})}",
                        "type": OPDS,
                    },
                    {
                        "title": "Tủ sách của tôi",
                        "href": f"{base}/opds/shelf",
                        "type": OPDS,
                        "rel": "http://opds-spec.org/shelf",
                    },
                ],
            }
        )

    @router.get("/auth", summary="Authentication for OPDS 1.0 document")
    async def auth_document(request: Request) -> JSONResponse:
        return _feed_response(authentication_document(_base(request)), AUTH_DOCUMENT)

    @router.post("/oauth/token", summary="OAuth 2.0 token endpoint (password and refresh_token grants)")
    async def token(
        client: ClientAddress,
        grant_type: Annotated[str, Form()],
        username: Annotated[str | None, Form()] = None,
        password: Annotated[str | None, Form()] = None,
        refresh_token: Annotated[str | None, Form()] = None,
    ) -> JSONResponse:
        try:
            if grant_type == "password" and username and password:
                pair: TokenPair = await cards.sign_in(username, password, client)
            elif grant_type == "refresh_token" and refresh_token:
                pair = await cards.refresh(refresh_token)
            else:
                return _oauth_error(
                    "unsupported_grant_type" if grant_type not in {"password", "refresh_token"} else "invalid_request"
                )
        except (SignInFailed, SignInLocked, CardBlocked) as error:
            return _oauth_error("invalid_grant", error.detail)
        return JSONResponse(
            {
                "access_token": pair.access_token,
                "token_type": "bearer",
                "expires_in": pair.expires_in,
                "refresh_token": pair.refresh_token,
            },
            headers={"Cache-Control": "no-store"},
        )

    @router.get("/publications", summary="Publications, searchable and faceted, with availability when signed in")
    async def publications(
        request: Request,
        principal: OptionalPatron,
        query: Annotated[str, Query(max_length=200)] = "",
        language: Annotated[str | None, Query(max_length=35)] = None,
        library: Annotated[str | None, Query(max_length=100)] = None,
        page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    ) -> JSONResponse:
        base = _base(request)
        found = await catalogue.queries.search(query, language=language, library_id=library, page=page, size=PAGE_SIZE)

        def href(**changes: Any) -> str:
            params = {"query": query, "language": language, "library": library, "page": page, **changes}
            return f"{base}/opds/publications?{_query(params)}"

        links = [
            {"rel": "self", "href": href(), "type": OPDS},
            {"rel": "first", "href": href(page=1), "type": OPDS},
            {"rel": "search", "href": f"{base}/opds/publications{{?query}}", "type": OPDS, "templated": True},
            {"rel": AUTH_REL, "href": f"{base}/opds/auth", "type": AUTH_DOCUMENT},
        ]
        if page > 1:
            links.append({"rel": "previous", "href": href(page=page - 1), "type": OPDS})
        if page * PAGE_SIZE < found.total:
            links.append({"rel": "next", "href": href(page=page + 1), "type": OPDS})
        facets = [
            {
                "metadata": {"title": "Ngôn ngữ"},
                "links": [
                    {
                        "href": href(language=code, page=1),
                        "type": OPDS,
                        "title": code,
                        "properties": {"numberOfItems": count},
                    }
                    for code, count in sorted(found.facets["language"].items())
                ],
            },
            {
                "metadata": {"title": "Thư viện"},
                "links": [
                    {
                        "href": href(library=code, page=1),
                        "type": OPDS,
                        "title": code,
                        "properties": {"numberOfItems": count},
                    }
                    for code, count in sorted(found.facets["library"].items())
                ],
            },
        ]
        items = [publication(base, item, await availability_for(item["_id"], principal)) for item in found.items]
        return _feed_response(
            {
                "metadata": {
                    "title": "Sách Số",
                    "numberOfItems": found.total,
                    "itemsPerPage": PAGE_SIZE,
                    "currentPage": page,
                },
                "links": links,
                **({"facets": facets} if (facets := [facet for facet in facets if facet["links"]]) else {}),
                **_listing(base, items),
            }
        )

    @router.get("/publications/{title_id}", summary="One publication")
    async def one(request: Request, principal: OptionalPatron, title_id: str) -> JSONResponse:
        title = await catalogue.title(title_id)
        body = publication(_base(request), title, await availability_for(title_id, principal))
        return _feed_response(body, OPDS_PUBLICATION)

    @router.api_route("/publications/{title_id}/borrow", methods=["GET", "POST"], summary="Borrow, or join the queue")
    async def borrow(request: Request, principal: Patron, title_id: str) -> JSONResponse:
        base = _base(request)
        title = await catalogue.title(title_id)
        existing = [loan for loan in await circulation.loans_of(principal.subject) if loan.title_id == title_id]
        passphrase = await hashed_passphrase(principal.subject)
        if existing:
            return _feed_response(
                publication(base, title, None, loan=existing[0], passphrase=passphrase), OPDS_PUBLICATION
            )
        try:
            loan = await circulation.checkout(principal.subject, title_id)
        except NoCopyAvailable:
            held = [view for view in await circulation.holds_of(principal.subject) if view.hold.title_id == title_id]
            view = held[0] if held else await circulation.place_hold(principal.subject, title_id)
            return JSONResponse(publication(base, title, None, hold=view), status_code=201, media_type=OPDS_PUBLICATION)
        return JSONResponse(
            publication(base, title, None, loan=loan, passphrase=passphrase),
            status_code=201,
            media_type=OPDS_PUBLICATION,
        )

    @router.get("/shelf", summary="My loans and holds")
    async def shelf(request: Request, principal: Patron) -> JSONResponse:
        base = _base(request)
        items = []
        passphrase = await hashed_passphrase(principal.subject)
        for loan in await circulation.loans_of(principal.subject):
            items.append(
                publication(base, await catalogue.title(loan.title_id), None, loan=loan, passphrase=passphrase)
            )
        for view in await circulation.holds_of(principal.subject):
            items.append(publication(base, await catalogue.title(view.hold.title_id), None, hold=view))
        return _feed_response(
            {
                "metadata": {"title": "Tủ sách của tôi", "numberOfItems": len(items)},
                "links": [{"rel": "self", "href": f"{base}/opds/shelf", "type": OPDS}],
                **_listing(base, items),
            }
        )

    return router


def _listing(base: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A feed's publications; OPDS 2.0 wants at least one in a ``publications`` collection, so an empty page
    (no match, an empty shelf) offers the way to the whole catalogue as ``navigation`` instead."""
    if items:
        return {"publications": items}
    return {
        "navigation": [{"href": f"{base}/opds/publications", "type": OPDS, "title": "Tất cả sách", "rel": "collection"}]
    }


def _oauth_error(error: str, description: str = "") -> JSONResponse:
    """RFC 6749 section 5.2 error response."""
    body = {"error": error, **({"error_description": description} if description else {})}
    return JSONResponse(body, status_code=400, headers={"Cache-Control": "no-store"})
