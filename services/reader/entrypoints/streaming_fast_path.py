"""Resource GETs of ``/v1/read/{token}/…`` answered in front of the framework: the streaming hot path.

A page turn asks for a dozen resources; under load the framework's routing, dependency injection, middleware
layers and ``Response`` objects cost several times the work itself (see the README's profile). This ASGI layer
takes the requests that are a publication's resources and answers the common cases itself, with exactly the
checks and answers of :func:`reader.entrypoints.http.streaming_router`'s resource route:

- the token is verified (remembered per token until its expiry, :class:`StreamingGrants`) and revocation is asked
  on every request; the resource is the one :meth:`Streaming.resource` decides (canonical path, servable, PDF
  online-only refusal, LCP decryption);
- the answer follows :func:`reader.domain.ranges.plan` as :func:`respond` does: 200 (gzip when asked and
  worthwhile, its body compressed once), one range as 206, 304; headers are built once per representation;
- PDF page images (``~sachso/pages/{page}``, plainly written) likewise, from :meth:`Streaming.page_image`;
- everything else is handed, untouched, to the framework: errors (problem details), several ranges, 416,
  whole files on disk (the PDF: streamed by the framework in chunks — uvicorn offers no sendfile/pathsend
  extension to hand a file to the kernel), other methods, the manifest and the other ``~readium``/``~sachso``
  routes, and cross-origin requests (the framework's CORS layer answers those).

Requests are counted in the same metrics with the same route template as the framework's.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import pymongo
from cachetools import LRUCache
from starlette.types import ASGIApp, Receive, Scope, Send

from reader.domain.ranges import Full, NotModified, Partial, plan
from reader.entrypoints.http import (
    DEFAULT_PAGE_WIDTH,
    MAX_PAGE_WIDTH,
    MIN_PAGE_WIDTH,
    Grant,
    StreamingGrants,
    page_watermark,
)
from reader.entrypoints.responses import CACHE_CONTROL, LAST_MODIFIED, MIN_COMPRESS, SECURITY_HEADERS, gzipped
from reader.service_layer.streaming import Resource, Streaming
from sachso.kit.observability import HTTP_DURATION, HTTP_REQUESTS

PREFIX = "/v1/read/"
ROUTE = "/v1/read/{token}/{href:path}"  # the framework's route templates, for the metrics
PAGE_ROUTE = "/v1/read/{token}/~sachso/pages/{page}"
PAGES = "~sachso/pages/"
Headers = list[tuple[bytes, bytes]]
# the request headers :func:`reader.domain.ranges.plan` reads (ASGI header names are lower-case)
_PLANNED = {b"range": "range", b"if-range": "if-range", b"if-none-match": "if-none-match"}
_NO_DEADLINE = contextlib.nullcontext()


def _request_headers(raw: Headers) -> tuple[dict[str, str], str] | None:
    """What the answer depends on: the headers :func:`plan` reads, and Accept-Encoding (the last of repeated
    ones, as a dict of all headers keeps them); None for a cross-origin request (the framework's CORS layer
    answers those). One pass over the headers, decoding only these: this runs on every resource GET."""
    planned: dict[str, str] = {}
    accept_encoding = ""
    for name, value in raw:
        key = _PLANNED.get(name)
        if key is not None:
            planned[key] = value.decode("latin-1")
        elif name == b"accept-encoding":
            accept_encoding = value.decode("latin-1")
        elif name == b"origin":
            return None
    return planned, accept_encoding


def _page_request(href: str, query: bytes) -> tuple[int, int] | None:
    """(page, width) of ``~sachso/pages/{page}?width=…`` written plainly; None for anything the framework should
    validate and answer itself (other spellings, other parameters, widths out of bounds)."""
    number = href[len(PAGES) :]
    if not (number.isascii() and number.isdigit() and len(number) <= 6 and number[0] != "0"):
        return None
    if not query:
        return int(number), DEFAULT_PAGE_WIDTH
    name, equals, value = query.partition(b"=")
    if name != b"width" or not equals or not (value.isdigit() and len(value) <= 4 and value[:1] != b"0"):
        return None
    width = int(value)
    return (int(number), width) if MIN_PAGE_WIDTH <= width <= MAX_PAGE_WIDTH else None


def _content_type(media_type: str) -> bytes:
    """As Starlette writes it: text types get ``charset=utf-8`` unless they name one."""
    if media_type.startswith("text/") and "charset=" not in media_type.lower():
        media_type += "; charset=utf-8"
    return media_type.encode("latin-1")


class _Representation:
    """The headers of one representation, built once."""

    __slots__ = ("common", "content_type", "full", "gzip_common")

    def __init__(self, resource: Resource) -> None:
        common: Headers = [
            (b"etag", resource.etag.encode("latin-1")),
            (b"accept-ranges", b"bytes"),
            (b"cache-control", CACHE_CONTROL.encode("latin-1")),
            (b"last-modified", LAST_MODIFIED.encode("latin-1")),
            *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in SECURITY_HEADERS.items()),
        ]
        if resource.compressible:
            common.append((b"vary", b"Accept-Encoding"))
        self.common = common
        self.content_type = (b"content-type", _content_type(resource.media_type))
        self.full: Headers = [*common, (b"content-length", str(resource.length).encode()), self.content_type]
        gz_etag = (resource.etag[:-1] + '-gz"').encode("latin-1")
        self.gzip_common: Headers = [
            *((name, gz_etag if name == b"etag" else value) for name, value in common),
            (b"content-encoding", b"gzip"),
        ]


class StreamingFastPath:
    """ASGI layer in front of the reader's app; ``app`` answers whatever this layer hands on."""

    def __init__(
        self, app: ASGIApp, streaming: Streaming, grants: StreamingGrants, *, request_deadline_seconds: float = 0.0
    ) -> None:
        self.app = app
        self.streaming = streaming
        self.grants = grants
        self.deadline = request_deadline_seconds
        self._representations: LRUCache[tuple[str, str, int], _Representation] = LRUCache(maxsize=50_000)
        self._metric_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    def _metrics(self, method: str, route: str, status: str) -> tuple[Any, Any]:
        """The request counter and duration histogram of these labels (looked up once: ``labels`` is costly)."""
        key = (method, route, status)
        children = self._metric_children.get(key)
        if children is None:
            children = (
                HTTP_REQUESTS.labels(method=method, route=route, status=status),
                HTTP_DURATION.labels(method=method, route=route),
            )
            self._metric_children[key] = children
        return children

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        token, slash, href = scope["path"][len(PREFIX) :].partition("/")
        page = (
            _page_request(href, scope["query_string"]) if href.startswith(PAGES) and scope["method"] == "GET" else None
        )
        if not (token and slash and href) or href == "manifest.json" or (href.startswith("~") and page is None):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = _request_headers(scope["headers"])
        if headers is None:
            await self.app(scope, receive, send)
            return
        try:
            with pymongo.timeout(self.deadline) if self.deadline > 0 else _NO_DEADLINE:
                grant = await self.grants.grant_of(token)
                if page is None:
                    route = ROUTE
                    resource = await self.streaming.resource(grant.publication_id, href, online_only=grant.online_only)
                else:
                    route = PAGE_ROUTE
                    resource = await self._page(grant, *page)
        except Exception:
            # the framework asks again and answers as it always does (problem details, 503, or the logged 500)
            await self.app(scope, receive, send)
            return
        status = None if resource.data is None else await self._answer(scope, send, resource, *headers)
        if status is None:
            await self.app(scope, receive, send)
            return
        requests, duration = self._metrics(scope["method"], route, status)
        requests.inc()
        duration.observe(time.perf_counter() - started)

    async def _page(self, grant: Grant, page: int, width: int) -> Resource:
        """As the framework's page route: the watermark names the patron's loan on online-only documents."""
        watermark = page_watermark(grant)
        image, etag = await self.streaming.page_image(grant.publication_id, page, width, watermark)
        return Resource("image/webp", len(image), etag, data=image)

    def _representation(self, resource: Resource) -> _Representation:
        key = (resource.etag, resource.media_type, resource.length)
        representation = self._representations.get(key)
        if representation is None:
            representation = _Representation(resource)
            self._representations[key] = representation
        return representation

    async def _answer(
        self, scope: Scope, send: Send, resource: Resource, planned: dict[str, str], accept_encoding: str
    ) -> str | None:
        """Send the answer if it is one of the common cases, and say its status; None (nothing sent) to hand the
        request on."""
        data = resource.data
        assert data is not None
        head = scope["method"] == "HEAD"
        decision = plan(resource.length, resource.etag, LAST_MODIFIED, planned)
        representation = self._representation(resource)
        if isinstance(decision, Full):
            accepts_gzip = "gzip" in accept_encoding
            if resource.compressible and accepts_gzip and resource.length >= MIN_COMPRESS:
                body = gzipped(resource.etag, data)
                answer = [
                    *representation.gzip_common,
                    (b"content-length", str(len(body)).encode()),
                    representation.content_type,
                ]
                await self._send(send, 200, answer, b"" if head else body)
            else:
                await self._send(send, 200, representation.full, b"" if head else data)
            return "200"
        if isinstance(decision, Partial) and len(decision.ranges) == 1:
            (byte_range,) = decision.ranges
            answer = [
                *representation.common,
                (b"content-range", byte_range.content_range(resource.length).encode()),
                (b"content-length", str(byte_range.length).encode()),
                representation.content_type,
            ]
            await self._send(send, 206, answer, b"" if head else data[byte_range.first : byte_range.last + 1])
            return "206"
        if isinstance(decision, NotModified):
            await self._send(send, 304, representation.common, b"")
            return "304"
        return None  # several ranges (multipart/byteranges) or none satisfiable (416): the framework answers

    @staticmethod
    async def _send(send: Send, status: int, headers: Headers, body: bytes) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
