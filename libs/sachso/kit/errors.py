"""One exception hierarchy, translated at the edges to RFC 9457 problem details and gRPC status codes.

Each service derives its own base (``class LendingError(ServiceError)``) and raises specific subclasses from
its domain and service layer; FastAPI handlers (:mod:`sachso.kit.http`) and the gRPC interceptor
(:mod:`sachso.kit.grpc_server`) do the translation, so no route or servicer formats an error by hand.

This module is pure (no gRPC, no web framework): a domain may raise these. An error names its gRPC status by
the ``grpc.StatusCode`` member name (``"NOT_FOUND"``); only the gRPC edge turns the name into the code.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_TYPE_BASE = "https://sachso.vn/problems/"


class ServiceError(Exception):
    """Base of every expected failure. Subclasses fix the HTTP status, gRPC code and problem type."""

    status: ClassVar[int] = 500
    grpc_code: ClassVar[str] = "INTERNAL"  # a grpc.StatusCode member name; the gRPC edge maps it
    problem: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions

    @property
    def type_uri(self) -> str:
        return PROBLEM_TYPE_BASE + self.problem

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """The RFC 9457 problem details object for this error."""
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        return body

    def http_headers(self) -> dict[str, str]:
        """Headers the answer carries besides the body (``Retry-After`` for throttling and outages)."""
        return {}

    def http_body(self, instance: str | None = None) -> tuple[dict[str, Any], str]:
        """The HTTP response body and its media type: problem details, unless a protocol prescribes another
        (an OPDS catalogue answers 401 with its authentication document)."""
        return self.to_problem(instance), "application/problem+json"


class InvalidInput(ServiceError):
    status = 400
    grpc_code = "INVALID_ARGUMENT"
    problem = "invalid-input"
    title = "Invalid input"


class Unauthenticated(ServiceError):
    status = 401
    grpc_code = "UNAUTHENTICATED"
    problem = "unauthenticated"
    title = "Authentication required"


class Forbidden(ServiceError):
    status = 403
    grpc_code = "PERMISSION_DENIED"
    problem = "forbidden"
    title = "Not allowed"


class NotFound(ServiceError):
    status = 404
    grpc_code = "NOT_FOUND"
    problem = "not-found"
    title = "Not found"


class Conflict(ServiceError):
    status = 409
    grpc_code = "ALREADY_EXISTS"
    problem = "conflict"
    title = "Conflict"


class PreconditionFailed(ServiceError):
    status = 409
    grpc_code = "FAILED_PRECONDITION"
    problem = "precondition-failed"
    title = "Not possible in the current state"


class PayloadTooLarge(ServiceError):
    status = 413
    grpc_code = "RESOURCE_EXHAUSTED"
    problem = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(ServiceError):
    status = 415
    grpc_code = "INVALID_ARGUMENT"
    problem = "unsupported-media-type"
    title = "Unsupported media type"


class _RetryLater(ServiceError):
    """An answer that tells the caller when to try again (``Retry-After``, seconds; ``retry_after`` in the body)."""

    default_retry_after: ClassVar[int] = 1

    def __init__(self, detail: str, *, retry_after: int | None = None, **extensions: Any) -> None:
        self.retry_after = max(1, int(retry_after if retry_after is not None else self.default_retry_after))
        super().__init__(detail, retry_after=self.retry_after, **extensions)

    def http_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class TooManyRequests(_RetryLater):
    status = 429
    grpc_code = "RESOURCE_EXHAUSTED"
    problem = "too-many-requests"
    title = "Too many requests; try again later"


class DependencyUnavailable(_RetryLater):
    """A database, broker or peer service did not answer; the caller may retry."""

    status = 503
    grpc_code = "UNAVAILABLE"
    problem = "dependency-unavailable"
    title = "Temporarily unavailable"
    default_retry_after = 2
