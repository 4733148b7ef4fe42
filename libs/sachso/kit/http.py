"""The FastAPI edge every service shares: problem details, health, metrics, tracing, bearer authentication."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

import pymongo
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from prometheus_client import make_asgi_app
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sachso.kit.auth import Principal, Role, TokenVerifier
from sachso.kit.dependencies import DEPENDENCY_ERRORS, dependency_unavailable
from sachso.kit.errors import PROBLEM_TYPE_BASE, Forbidden, ServiceError, Unauthenticated
from sachso.kit.health import record_readiness, run_check
from sachso.kit.observability import RequestMetricsMiddleware, current_trace_id

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
CORRELATION_HEADER = "X-Correlation-Id"
ReadinessCheck = Callable[[], Awaitable[None]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
PrincipalCheck = Callable[[Principal], Awaitable[None]]


def problem_response(status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(dict(body), status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {}))


async def _service_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ServiceError)
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if isinstance(error, Unauthenticated) else {}
    headers |= error.http_headers()
    body, media_type = error.http_body(instance=request.url.path)
    return JSONResponse(body, status_code=error.status, media_type=media_type, headers=headers)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        {"location": ".".join(str(part) for part in item["loc"]), "message": item["msg"]} for item in error.errors()
    ]
    body = {
        "type": PROBLEM_TYPE_BASE + "invalid-input",
        "title": "Invalid input",
        "status": 422,
        "detail": "; ".join(f"{item['location']}: {item['message']}" for item in errors),
        "instance": request.url.path,
        "errors": errors,
    }
    return problem_response(422, body)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    body = {
        "type": "about:blank",
        "title": str(error.detail),
        "status": error.status_code,
        "instance": request.url.path,
    }
    return problem_response(error.status_code, body, error.headers)


async def _dependency_error(request: Request, error: Exception) -> JSONResponse:
    """A database or object store failure: 503 problem details when it is an outage, else the logged 500."""
    unavailable = dependency_unavailable(error)
    if unavailable is None:
        return await _unexpected_error(request, error)
    log.warning("dependency unavailable", extra={"path": request.url.path, "error": repr(error)})
    return await _service_error(request, unavailable)


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error", extra={"path": request.url.path})
    body = {
        "type": PROBLEM_TYPE_BASE + "internal-error",
        "title": "Internal error",
        "status": 500,
        "detail": "The server could not complete the request; it has been logged.",
        "instance": request.url.path,
        "correlation_id": current_trace_id(),
    }
    return problem_response(500, body)


class _DeadlineMiddleware:
    """Gives each request's database work a deadline (``pymongo.timeout``): operations and transaction retries
    stop there, so an outage answers 503 in seconds and a write never commits long after its caller gave up."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with pymongo.timeout(self.seconds):
            await self.app(scope, receive, send)


class _CorrelationIdMiddleware:
    """Returns the request's trace id so a caller can quote it; sits inside the tracing middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_id(message: Message) -> None:
            trace_id = current_trace_id()
            if message["type"] == "http.response.start" and trace_id:
                message["headers"] = [
                    *message.get("headers", []),
                    (CORRELATION_HEADER.encode(), trace_id.encode()),
                ]
            await send(message)

        await self.app(scope, receive, send_with_id)


def create_http_app(
    *,
    title: str,
    version: str,
    readiness: Mapping[str, ReadinessCheck],
    dependencies: Callable[[], Mapping[str, str]] = dict,
    lifespan: Lifespan | None = None,
    description: str = "",
    untraced: Sequence[str] = (),
    cors_origins: Sequence[str] = (),
    request_deadline_seconds: float = 0.0,
) -> FastAPI:
    """A FastAPI app with problem details, ``/healthz``, ``/readyz``, ``/metrics`` and tracing installed.

    ``readiness``: what the pod needs to serve (its database) — ``/readyz`` answers 503 when one fails.
    ``dependencies``: the latest results of the background dependency checks (Kafka, S3), reported in
    ``/readyz``'s body but never making the pod unready (see ``sachso.kit.health``).
    ``untraced``: URL patterns not to trace (high-volume reads such as streaming resources, where a span per
    request would cost more than it tells). ``cors_origins``: browser origins that may call the API (a web app
    served elsewhere); bearer tokens, not cookies, so credentials stay off. ``request_deadline_seconds``: the
    deadline of each request's database work (0: none); database outages answer 503 problem details either way.
    """
    app = FastAPI(title=title, version=version, description=description, lifespan=lifespan)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for dependency_error in DEPENDENCY_ERRORS:
        app.add_exception_handler(dependency_error, _dependency_error)
    app.add_exception_handler(Exception, _unexpected_error)
    if request_deadline_seconds > 0:
        app.add_middleware(_DeadlineMiddleware, seconds=request_deadline_seconds)
    app.add_middleware(_CorrelationIdMiddleware)
    app.add_middleware(RequestMetricsMiddleware)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "HEAD", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Accept", "Accept-Language", "Range", "If-None-Match"],
            expose_headers=["Content-Range", "Accept-Ranges", "Content-Length", "ETag", CORRELATION_HEADER],
            max_age=600,
        )

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Readiness: what this pod needs to serve answers")
    async def readyz() -> JSONResponse:
        results = await asyncio.gather(*(run_check(check) for check in readiness.values()))
        checks = dict(zip(readiness, results, strict=True))
        record_readiness(checks)
        ready = all(result == "ok" for result in results)
        body = {"status": "ready" if ready else "not ready", "checks": checks, "dependencies": dict(dependencies())}
        return JSONResponse(body, 200 if ready else 503)

    app.mount("/metrics", make_asgi_app())
    excluded = ",".join(["healthz", "readyz", "metrics", *untraced])
    FastAPIInstrumentor.instrument_app(app, excluded_urls=excluded)
    return app


_bearer = HTTPBearer(auto_error=False)


async def authenticated_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """The caller's principal from ``Authorization: Bearer``; 401 problem details otherwise."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("this endpoint needs a bearer token")
    return await verified_principal(request, credentials.credentials)


async def verified_principal(request: Request, token: str) -> Principal:
    """Verify ``token`` with the app's verifier, then ask the app's ``principal_check`` (if any) whether this
    principal may still act: a service can withdraw access before tokens expire (a blocked reader card)."""
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = await verifier.verify(token)
    check: PrincipalCheck | None = getattr(request.app.state, "principal_check", None)
    if check is not None:
        await check(principal)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticated_principal)]


def client_address(request: Request) -> str:
    """The caller's network address, for rate limits: the peer, or behind ``trusted_proxy_hops`` proxies (an
    ingress, a load balancer) the address the outermost trusted one saw in ``X-Forwarded-For``. Entries a client
    wrote itself lie to the left of those and are never used."""
    hops: int = getattr(request.app.state, "trusted_proxy_hops", 0)
    peer = request.client.host if request.client else "unknown"
    if hops <= 0:
        return peer
    forwarded = [part.strip() for part in request.headers.get("x-forwarded-for", "").split(",") if part.strip()]
    return forwarded[-hops] if len(forwarded) >= hops else peer


ClientAddress = Annotated[str, Depends(client_address)]


def require_roles(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through only principals with one of ``roles``."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.has_any_role(*roles):
            raise Forbidden("your role does not allow this")
        return principal

    return dependency
