"""The OAI-PMH 2.0 endpoint: ``GET`` or ``POST`` (form-encoded) ``/oai``. Open to every harvester, as the catalogue is
(no patron data is in it); protocol errors are XML ``error`` elements with HTTP 200, as the protocol requires."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response

from lending.service_layer.oai_pmh import OaiProvider

XML = "text/xml; charset=utf-8"
MAX_BODY = 64 * 1024


def oai_router(provider: OaiProvider) -> APIRouter:
    router = APIRouter(tags=["OAI-PMH 2.0"])

    @router.api_route("/oai", methods=["GET", "POST"], summary="OAI-PMH 2.0 (all six verbs; oai_dc and marc21)")
    async def oai(request: Request) -> Response:
        query = request.url.query
        if request.method == "POST":
            body = await request.body()
            if len(body) > MAX_BODY or not request.headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"
            ):
                arguments: dict[str, list[str]] = {"verb": []}  # answered as badVerb
            else:
                arguments = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        else:
            arguments = parse_qs(query, keep_blank_values=True)
        base_url = str(request.url.replace(query="", fragment=""))
        return Response(await provider.respond(arguments, base_url), media_type=XML)

    return router
