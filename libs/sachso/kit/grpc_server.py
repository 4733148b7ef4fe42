"""grpc.aio servers with the standard health and reflection services, authentication and error mapping."""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc
import pymongo
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.instrumentation.grpc import aio_server_interceptor

from sachso.kit.auth import Principal, TokenVerifier
from sachso.kit.dependencies import DEPENDENCY_ERRORS, dependency_unavailable
from sachso.kit.errors import ServiceError, Unauthenticated
from sachso.kit.observability import GRPC_DURATION, GRPC_REQUESTS

log = logging.getLogger(__name__)

_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("grpc_principal", default=None)

# Methods any caller may use without a token (probes and tooling).
PUBLIC_SERVICES = (health.SERVICE_NAME, reflection.SERVICE_NAME, "grpc.reflection.v1.ServerReflection")


def status_code(error: ServiceError) -> grpc.StatusCode:
    """The gRPC status an error answers with: the edge's half of :mod:`sachso.kit.errors` (which names it)."""
    return grpc.StatusCode.__members__.get(error.grpc_code, grpc.StatusCode.INTERNAL)


def current_principal() -> Principal:
    """The authenticated caller of the current RPC (set by the server's interceptor)."""
    principal = _principal.get()
    if principal is None:
        raise Unauthenticated("this call needs a bearer token")
    return principal


def _unary_handler(original: Any, behaviour: Callable[[Any, Any], Awaitable[Any]]) -> Any:
    """``original`` (a unary method handler) with ``behaviour`` in place of its function."""
    return grpc.unary_unary_rpc_method_handler(
        behaviour,
        request_deserializer=original.request_deserializer,
        response_serializer=original.response_serializer,
    )


class _EdgeInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Authenticates unary calls and maps :class:`ServiceError` to status codes; tracebacks never leave."""

    def __init__(self, verifier: TokenVerifier | None) -> None:
        self.verifier = verifier

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or handler.unary_unary is None or method.lstrip("/").startswith(PUBLIC_SERVICES):
            return handler
        inner = handler.unary_unary
        metadata = dict(handler_call_details.invocation_metadata or ())

        async def guarded(request: Any, context: Any) -> Any:
            try:
                _principal.set(await self._authenticate(metadata))
                with pymongo.timeout(context.time_remaining()):  # the caller's deadline bounds our database work
                    return await inner(request, context)
            except ServiceError as error:
                await context.abort(status_code(error), error.detail)
            except DEPENDENCY_ERRORS as error:
                unavailable = dependency_unavailable(error)
                if unavailable is None:
                    log.exception("unhandled dependency error in gRPC method", extra={"method": method})
                    await context.abort(grpc.StatusCode.INTERNAL, "internal error; it has been logged")
                else:
                    await context.abort(status_code(unavailable), unavailable.detail)
            except Exception:
                log.exception("unhandled error in gRPC method", extra={"method": method})
                await context.abort(grpc.StatusCode.INTERNAL, "internal error; it has been logged")

        return _unary_handler(handler, guarded)

    async def _authenticate(self, metadata: dict[str, Any]) -> Principal | None:
        if self.verifier is None:
            return None
        authorization = str(metadata.get("authorization", ""))
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("missing bearer token in 'authorization' metadata")
        return await self.verifier.verify(token)


class _MetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Counts and times every unary call by method and status code (outside the edge, so it sees its answers)."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary
        method: str = handler_call_details.method

        async def measured(request: Any, context: Any) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.UNKNOWN
            try:
                response = await inner(request, context)
                code = context.code() or grpc.StatusCode.OK
                return response
            except BaseException:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            finally:
                name = code.name if isinstance(code, grpc.StatusCode) else str(code)
                GRPC_REQUESTS.labels(method=method, code=name).inc()
                GRPC_DURATION.labels(method=method).observe(time.perf_counter() - started)

        return _unary_handler(handler, measured)


class GrpcServer:
    """A grpc.aio server bound to ``host:port`` with health (per service) and reflection registered."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        service_names: Iterable[str],
        register: Callable[[grpc.aio.Server], None],
        verifier: TokenVerifier | None,
    ) -> None:
        self.service_names = tuple(service_names)
        tracing = aio_server_interceptor()  # type: ignore[no-untyped-call]
        self.server = grpc.aio.server(interceptors=[tracing, _MetricsInterceptor(), _EdgeInterceptor(verifier)])
        register(self.server)
        self.health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (*self.service_names, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server
        )
        self.port = self.server.add_insecure_port(f"{host}:{port}")

    async def start(self) -> None:
        await self.server.start()
        for name in ("", *self.service_names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace_seconds: float) -> None:
        """Report NOT_SERVING, then let in-flight calls finish for up to ``grace_seconds``."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_seconds)
