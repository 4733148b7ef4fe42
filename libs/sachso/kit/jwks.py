"""The JWKS endpoint of a token-issuing service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from sachso.kit.auth import TokenIssuer

JWKS_PATH = "/.well-known/jwks.json"


def jwks_router(issuer: TokenIssuer) -> APIRouter:
    router = APIRouter(tags=["keys"])

    @router.get(JWKS_PATH, summary="Public keys that verify this service's tokens (JWKS)")
    async def jwks(response: Response) -> dict[str, Any]:
        # Verifiers cache the set; a rotated key is published before it signs, so a short cache is safe.
        response.headers["Cache-Control"] = "public, max-age=300"
        return issuer.jwks()

    return router
