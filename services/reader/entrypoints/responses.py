"""HTTP answers for one representation: conditionals, ranges (see :mod:`reader.domain.ranges`), compression."""

from __future__ import annotations

import gzip
import secrets
from collections.abc import AsyncIterator
from email.utils import formatdate

import anyio
from cachetools import LRUCache
from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from reader.domain.ranges import Full, NotModified, Partial, Unsatisfiable, plan
from reader.service_layer.streaming import Resource

CHUNK = 256 * 1024
MIN_COMPRESS = 1024
# Publication files never change under an ETag (a new file is a new version); URLs carry a short-lived token.
CACHE_CONTROL = "private, max-age=3600"
LAST_MODIFIED = formatdate(0, usegmt=True)
# Book content is the publisher's, not ours: opened directly as a document, a resource is sandboxed into an
# opaque origin with no script, so it can never read the reading app's storage or act as the app, and it
# loads nothing from elsewhere. (The app shows books through Readium's navigator, which fetches them and
# applies the app's own policy.) Token-bearing URLs are never sent on as a referrer.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; font-src 'self' data:; "
        "media-src 'self'; sandbox"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


# The gzip body of a representation, computed once (gzip.compress with mtime=0 is deterministic, so the bytes are
# those a fresh compression gives). Keyed by the ETag and the content's length and hash: ETags are per URL, and two
# publications of the same file share their resource ETags.
_GZIPPED: LRUCache[tuple[str, int, int], bytes] = LRUCache(maxsize=32 * 1024 * 1024, getsizeof=len)


def gzipped(etag: str, data: bytes) -> bytes:
    """``data`` gzip-compressed as this module always compresses it (level 6, no timestamp)."""
    key = (etag, len(data), hash(data))
    body = _GZIPPED.get(key)
    if body is None:
        body = gzip.compress(data, compresslevel=6, mtime=0)
        if len(body) <= _GZIPPED.maxsize // 64:
            _GZIPPED[key] = body
    return body


async def _slice(resource: Resource, first: int, last: int) -> bytes:
    if resource.data is not None:
        return resource.data[first : last + 1]
    assert resource.path is not None
    async with await anyio.open_file(resource.path, "rb") as source:
        await source.seek(first)
        return await source.read(last - first + 1)


async def _stream(resource: Resource, first: int, last: int) -> AsyncIterator[bytes]:
    position = first
    while position <= last:
        end = min(position + CHUNK - 1, last)
        yield await _slice(resource, position, end)
        position = end + 1


def respond(request: Request, resource: Resource, *, cache_control: str = CACHE_CONTROL) -> Response:
    """The answer to GET or HEAD of ``resource`` with the request's conditional and range headers."""
    headers = {
        "ETag": resource.etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": cache_control,
        "Last-Modified": LAST_MODIFIED,
        **SECURITY_HEADERS,
    }
    if resource.compressible:
        headers["Vary"] = "Accept-Encoding"
    request_headers = {key.lower(): value for key, value in request.headers.items()}
    decision = plan(resource.length, resource.etag, LAST_MODIFIED, request_headers)
    head = request.method == "HEAD"
    if isinstance(decision, NotModified):
        return Response(status_code=304, headers=headers)
    if isinstance(decision, Unsatisfiable):
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{resource.length}"})
    if isinstance(decision, Partial) and len(decision.ranges) == 1:
        (byte_range,) = decision.ranges
        headers |= {"Content-Range": byte_range.content_range(resource.length)}
        if head:
            return Response(status_code=206, headers={**headers, "Content-Length": str(byte_range.length)},
                            media_type=resource.media_type)  # fmt: skip
        if resource.data is not None:
            return Response(resource.data[byte_range.first : byte_range.last + 1], status_code=206,
                            media_type=resource.media_type, headers=headers)  # fmt: skip
        return StreamingResponse(
            _stream(resource, byte_range.first, byte_range.last),
            status_code=206,
            media_type=resource.media_type,
            headers={**headers, "Content-Length": str(byte_range.length)},
        )
    if isinstance(decision, Partial):
        return _multipart(resource, decision, headers, head)
    assert isinstance(decision, Full)
    accepts_gzip = "gzip" in request_headers.get("accept-encoding", "")
    if resource.compressible and accepts_gzip and resource.data is not None and resource.length >= MIN_COMPRESS:
        body = gzipped(resource.etag, resource.data)
        # a different representation: its own ETag, so caches never mix the two
        headers |= {"Content-Encoding": "gzip", "ETag": resource.etag[:-1] + '-gz"'}
        return Response(b"" if head else body, media_type=resource.media_type,
                        headers={**headers, "Content-Length": str(len(body))})  # fmt: skip
    if head:
        return Response(status_code=200, media_type=resource.media_type,
                        headers={**headers, "Content-Length": str(resource.length)})  # fmt: skip
    if resource.data is not None:
        return Response(resource.data, media_type=resource.media_type, headers=headers)
    return StreamingResponse(
        _stream(resource, 0, resource.length - 1) if resource.length else _empty(),
        media_type=resource.media_type,
        headers={**headers, "Content-Length": str(resource.length)},
    )


async def _empty() -> AsyncIterator[bytes]:
    yield b""


def _multipart(resource: Resource, decision: Partial, headers: dict[str, str], head: bool) -> Response:
    boundary = secrets.token_hex(16)
    part_heads = [
        (
            f"--{boundary}\r\nContent-Type: {resource.media_type}\r\n"
            f"Content-Range: {byte_range.content_range(resource.length)}\r\n\r\n"
        ).encode()
        for byte_range in decision.ranges
    ]
    closing = f"--{boundary}--\r\n".encode()
    length = sum(len(h) + r.length + 2 for h, r in zip(part_heads, decision.ranges, strict=True)) + len(closing)
    headers = {**headers, "Content-Length": str(length)}
    media_type = f"multipart/byteranges; boundary={boundary}"

    async def body() -> AsyncIterator[bytes]:
        for part_head, byte_range in zip(part_heads, decision.ranges, strict=True):
            yield part_head
            async for chunk in _stream(resource, byte_range.first, byte_range.last):
                yield chunk
            yield b"\r\n"
        yield closing

    if head:
        return Response(status_code=206, headers=headers, media_type=media_type)
    return StreamingResponse(body(), status_code=206, media_type=media_type, headers=headers)
