"""Reader's HTTP API: publisher ingest, streaming to reading systems, and reading sync for patrons."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import UploadFile

from reader.adapters.open_publications import OpenPublications
from reader.entrypoints.responses import SECURITY_HEADERS, respond
from reader.errors import FileTooLarge
from reader.service_layer.ingest import Ingest, IngestResult, OfferedTerms, SubmittedMetadata, keep_upload
from reader.service_layer.reading import Annotation, Position, Reading
from reader.service_layer.revocations import Revocations
from reader.service_layer.streaming import Resource, Streaming
from sachso.kit.auth import Principal, Role, TokenVerifier
from sachso.kit.errors import Forbidden, InvalidInput, Unauthenticated
from sachso.kit.expiring import ExpiringCache
from sachso.kit.http import require_roles

Publisher = Annotated[Principal, Depends(require_roles(Role.PUBLISHER))]
Patron = Annotated[Principal, Depends(require_roles(Role.PATRON))]
WEBPUB = "application/webpub+json"
STREAMING_AUDIENCE = "sachso-streaming"


class TermsIn(BaseModel):
    model: str = Field("one-copy-one-user", pattern="^(one-copy-one-user|simultaneous-use|metered|time-limited|odl)$")
    concurrency: int = Field(1, ge=0, le=100_000)
    checkouts: int = Field(0, ge=0, le=100_000)
    expires_at: datetime | None = None
    max_loan_days: int = Field(0, ge=0, le=365)


class MetadataIn(BaseModel):
    title: str = Field("", max_length=500)
    subtitle: str = Field("", max_length=500)
    authors: list[str] = Field(default_factory=list, max_length=50)
    language: str = Field("", max_length=35)
    isbn: str = Field("", pattern=r"^[0-9Xx -]{0,20}$")
    publisher: str = Field("", max_length=200)
    subjects: list[str] = Field(default_factory=list, max_length=50)
    description: str = Field("", max_length=20_000)
    terms: TermsIn = Field(default_factory=TermsIn)

    def submitted(self) -> SubmittedMetadata:
        return SubmittedMetadata(
            title=self.title,
            subtitle=self.subtitle,
            authors=tuple(self.authors),
            language=self.language,
            isbn=self.isbn,
            publisher=self.publisher,
            subjects=tuple(self.subjects),
            description=self.description,
            terms=OfferedTerms(**self.terms.model_dump()),
        )


class IngestOut(BaseModel):
    id: str
    status: str = Field(description="accepted, or flagged when the book has warnings")
    created: bool
    file_replaced: bool
    warnings: list[str]

    @classmethod
    def of(cls, result: IngestResult) -> IngestOut:
        return cls(
            id=result.publication_id,
            status="flagged" if result.flagged else "accepted",
            created=result.created,
            file_replaced=result.file_replaced,
            warnings=list(result.warnings),
        )


class LocatorIn(BaseModel):
    href: str = Field(min_length=1, max_length=2000)
    type: str = Field("", max_length=200)
    title: str | None = Field(None, max_length=500)
    locations: dict[str, Any] = Field(default_factory=dict)
    text: dict[str, Any] | None = None


class PositionIn(BaseModel):
    locator: LocatorIn
    device_id: str = Field(min_length=1, max_length=200)
    device_name: str = Field("", max_length=200)
    modified: datetime

    def checked_modified(self) -> datetime:
        if self.modified.tzinfo is None:
            raise InvalidInput("modified needs a time zone")
        return self.modified


class PositionOut(BaseModel):
    publication_id: str
    locator: dict[str, Any]
    device_id: str
    device_name: str
    modified: datetime
    applied: bool

    @classmethod
    def of(cls, position: Position) -> PositionOut:
        return cls(**position.__dict__)


class AnnotationIn(BaseModel):
    kind: str = Field(pattern="^(bookmark|highlight)$")
    locator: LocatorIn
    note: str = Field("", max_length=10_000)
    color: str = Field("", pattern="^(|yellow|green|blue|pink|purple)$")


async def _form_upload(request: Request, max_bytes: int) -> tuple[UploadFile, MetadataIn]:
    declared = request.headers.get("content-length", "").strip()
    if not (declared.isascii() and declared.isdigit()):
        raise InvalidInput("send the upload with a Content-Length (a number of bytes)")
    if len(declared.lstrip("0")) > 18 or int(declared) > max_bytes + 1024 * 1024:
        raise FileTooLarge(f"the upload has {declared} bytes; the limit is {max_bytes}")
    form = await request.form(max_files=1, max_fields=2, max_part_size=256 * 1024)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidInput("send the book as the multipart field 'file'")
    raw = form.get("metadata") or "{}"
    try:
        metadata = MetadataIn.model_validate(json.loads(str(raw)))
    except (ValueError, ValidationError) as error:
        raise InvalidInput(f"the 'metadata' field is not valid: {error}") from None
    return upload, metadata


def ingest_router(ingest: Ingest, work_dir: Path) -> APIRouter:
    router = APIRouter(prefix="/v1/publications", tags=["publisher ingest"])

    async def run(request: Request, publisher: Principal, publication_id: str | None) -> IngestOut:
        if not publisher.publisher_id:
            raise Forbidden("the token is not scoped to a publisher")
        upload, metadata = await _form_upload(request, ingest.limits.max_file_bytes)
        with tempfile.TemporaryDirectory(dir=work_dir) as folder:
            path = Path(folder) / "upload"
            keep_upload(upload.file, path)
            await upload.close()
            result = await ingest.ingest(
                publisher.publisher_id, path, metadata.submitted(), publication_id=publication_id,
                file_name=upload.filename,
            )  # fmt: skip
        return IngestOut.of(result)

    @router.post(
        "",
        status_code=201,
        summary="Ingest an EPUB or PDF (multipart: 'file', and optional 'metadata' JSON)",
        openapi_extra={"requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object",
                       "properties": {"file": {"type": "string", "format": "binary"}, "metadata": {"type": "string"}},
                       "required": ["file"]}}}}},
    )  # fmt: skip
    async def create(request: Request, publisher: Publisher, response: Response) -> IngestOut:
        result = await run(request, publisher, None)
        if not result.created:
            response.status_code = 200  # the same book again: updated, not duplicated
        return result

    @router.put("/{publication_id}/file", summary="Replace the file of one of my publications")
    async def replace_file(request: Request, publisher: Publisher, publication_id: str) -> IngestOut:
        return await run(request, publisher, publication_id)

    @router.delete("/{publication_id}", status_code=204, summary="Withdraw one of my publications")
    async def withdraw(publisher: Publisher, publication_id: str) -> Response:
        if not publisher.publisher_id:
            raise Forbidden("the token is not scoped to a publisher")
        await ingest.withdraw(publisher.publisher_id, publication_id)
        return Response(status_code=204)

    @router.get("/{publication_id}", summary="One of my publications: status, warnings, manifest")
    async def status(publisher: Publisher, publication_id: str) -> dict[str, Any]:
        if not publisher.publisher_id:
            raise Forbidden("the token is not scoped to a publisher")
        document = await ingest.owned(publisher.publisher_id, publication_id)
        return {key: document[key] for key in ("_id", "title", "format", "status", "flagged", "warnings", "manifest")}

    return router


@dataclass(frozen=True)
class Grant:
    """What a verified streaming token allows."""

    publication_id: str
    loan_id: str
    patron_id: str
    online_only: bool
    expires_at: float


# ``/v1/read/open-{publication}/…``: the streaming root of a title lending opened to everyone (no token)
OPEN_ROOT_PREFIX = "open-"
MIN_PAGE_WIDTH, DEFAULT_PAGE_WIDTH, MAX_PAGE_WIDTH = 100, 1200, 3000


def page_watermark(grant: Grant) -> str | None:
    """What a page image of an online-only document carries across it: whose loan it was served to."""
    return f"Sách Số · {grant.patron_id} · {grant.loan_id[:8]}" if grant.online_only else None


class StreamingGrants:
    """Streaming tokens verified once per book opening, not once per resource; revocation asked every time.

    A verified token is remembered (at most ``remember`` tokens for ``ttl`` seconds, and never past its own
    expiry), so a page turn's dozen requests cost one signature check; whether its loan ended or its patron's card
    was blocked is still asked on every request (:class:`Revocations` keeps that answer two seconds).
    """

    def __init__(
        self,
        verifier: TokenVerifier,
        revocations: Revocations,
        *,
        remember: int = 20_000,
        ttl: float = 60,
        open_publications: OpenPublications | None = None,
    ) -> None:
        self.verifier = verifier
        self.revocations = revocations
        self.open_publications = open_publications
        self._verified: ExpiringCache[str, Grant] = ExpiringCache(maxsize=remember, ttl=ttl)

    async def grant_of(self, token: str) -> Grant:
        if token.startswith(OPEN_ROOT_PREFIX):  # an open title: no loan, no patron, nothing to watermark
            opened = token.removeprefix(OPEN_ROOT_PREFIX)
            if self.open_publications is None or not await self.open_publications.is_open(opened):
                raise Unauthenticated("this publication is not open to everyone: borrow it to read it")
            return Grant(opened, "", "", False, time.time() + 60)
        grant = self._verified.get(token)
        if grant is None or grant.expires_at <= time.time():
            principal = await self.verifier.verify(token)
            publication_id = principal.claims.get("pub")
            loan_id = principal.claims.get("loan")
            if not isinstance(publication_id, str) or not publication_id or not isinstance(loan_id, str):
                raise Unauthenticated("the streaming token names no publication or loan")
            grant = Grant(
                publication_id,
                loan_id,
                principal.subject,
                bool(principal.claims.get("online_only")),
                principal.expires_at or time.time(),
            )
            self._verified[token] = grant
        await self.revocations.ensure_open(grant.loan_id, grant.patron_id)
        return grant


def streaming_router(streaming: Streaming, grants: StreamingGrants) -> APIRouter:
    """``/v1/read/{token}/…``: the token is in the path so that relative links in the manifest keep it.

    Resource GETs usually take :class:`reader.entrypoints.streaming_fast_path.StreamingFastPath` in front of the
    framework; these routes answer everything else, and what the fast path hands back (errors, rare cases).
    """
    router = APIRouter(prefix="/v1/read/{token}", tags=["streaming"])
    grant_of = grants.grant_of

    async def publication_of(token: str) -> str:
        return (await grant_of(token)).publication_id

    @router.api_route("/manifest.json", methods=["GET", "HEAD"], summary="Readium Web Publication Manifest")
    async def manifest(request: Request, token: str) -> Response:
        body, etag = await streaming.manifest(await publication_of(token))
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return respond(request, Resource(WEBPUB, len(data), etag, data=data))

    @router.get("/~readium/positions", summary="Positions list")
    async def positions(request: Request, token: str) -> Response:
        body, etag = await streaming.positions(await publication_of(token))
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return respond(request, Resource("application/vnd.readium.position-list+json", len(data), etag, data=data))

    @router.get("/~sachso/search", summary="Search inside the publication (diacritics optional)")
    async def search(token: str, q: Annotated[str, Query(min_length=1, max_length=200)]) -> JSONResponse:
        found = await streaming.search(await publication_of(token), q)
        return JSONResponse({"total": len(found), "locators": found})

    @router.get("/~sachso/pages/{page}", summary="A PDF page as an image")
    async def page(
        request: Request,
        token: str,
        page: int,
        width: Annotated[int, Query(ge=MIN_PAGE_WIDTH, le=MAX_PAGE_WIDTH)] = DEFAULT_PAGE_WIDTH,
    ) -> Response:
        grant = await grant_of(token)
        watermark = page_watermark(grant)
        image, etag = await streaming.page_image(grant.publication_id, page, width, watermark)
        return respond(request, Resource("image/webp", len(image), etag, data=image))

    @router.get("/~sachso/pages/{page}/text", summary="A PDF page's text layer, its text alternative")
    async def page_text(token: str, page: int) -> Response:
        text = await streaming.page_text(await publication_of(token), page)
        return Response(text, media_type="text/plain; charset=utf-8", headers=SECURITY_HEADERS)

    @router.api_route("/{href:path}", methods=["GET", "HEAD"], summary="A resource of the publication")
    async def resource(request: Request, token: str, href: str) -> Response:
        grant = await grant_of(token)
        return respond(request, await streaming.resource(grant.publication_id, href, online_only=grant.online_only))

    return router


# Covers are public (the catalogue shows them to visitors) and change only with a new version of the file.
COVER_CACHE_CONTROL = "public, max-age=3600"


def covers_router(streaming: Streaming) -> APIRouter:
    router = APIRouter(prefix="/v1/covers", tags=["covers"])

    @router.api_route(
        "/{publication_id}",
        methods=["GET", "HEAD"],
        summary="The publication's cover, a small WebP for the catalogue (anyone may ask)",
        responses={200: {"content": {"image/webp": {}}}, 404: {"description": "no such publication, or no cover"}},
    )
    async def cover(request: Request, publication_id: str) -> Response:
        return respond(request, await streaming.cover(publication_id), cache_control=COVER_CACHE_CONTROL)

    return router


def _annotation_out(annotation: Annotation) -> dict[str, Any]:
    """What a patron sees of her annotation (never whose it is: she knows)."""
    fields = asdict(annotation)
    del fields["patron_id"]
    return fields


def reading_router(reading: Reading) -> APIRouter:
    router = APIRouter(prefix="/v1/reading", tags=["reading sync"])

    @router.put("/positions/{publication_id}", summary="Save where I am (the latest by device time wins)")
    async def save(patron: Patron, publication_id: str, body: PositionIn) -> PositionOut:
        position = await reading.save_position(
            patron.subject, publication_id, body.locator.model_dump(exclude_none=True), body.device_id,
            body.device_name, body.checked_modified(),
        )  # fmt: skip
        return PositionOut.of(position)

    @router.get("/positions/{publication_id}", summary="Where I am in a publication")
    async def current(patron: Patron, publication_id: str) -> PositionOut:
        return PositionOut.of(await reading.position(patron.subject, publication_id))

    @router.get("/positions", summary="Positions saved by any of my devices since a time")
    async def since(patron: Patron, since: datetime) -> list[PositionOut]:
        return [PositionOut.of(p) for p in await reading.changes_since(patron.subject, since)]

    @router.post("/annotations/{publication_id}", status_code=201, summary="Add a bookmark or highlight")
    async def annotate(patron: Patron, publication_id: str, body: AnnotationIn) -> dict[str, Any]:
        annotation = await reading.add_annotation(
            patron.subject, publication_id, body.kind, body.locator.model_dump(exclude_none=True), body.note, body.color
        )
        return _annotation_out(annotation)

    @router.get("/annotations/{publication_id}", summary="My bookmarks and highlights in a publication")
    async def annotations(patron: Patron, publication_id: str) -> list[dict[str, Any]]:
        return [_annotation_out(found) for found in await reading.annotations_of(patron.subject, publication_id)]

    @router.delete("/annotations/{publication_id}/{annotation_id}", status_code=204)
    async def delete(patron: Patron, publication_id: str, annotation_id: str) -> Response:
        await reading.delete_annotation(patron.subject, annotation_id)
        return Response(status_code=204)

    return router
