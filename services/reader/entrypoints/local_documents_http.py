"""HTTP for scanned local documents: staff pages (digitise, describe, correct, publish, progress) and IIIF.

IIIF lives at two roots, one per kind of reader:
- ``/v1/iiif/open/{document}``: open, published documents, for anyone (no token; CORS open, as IIIF expects);
- ``/v1/iiif/loan/{token}/{document}``: a borrower's streaming token (from DRM) in the path, as for streaming;
  every image carries the visible watermark naming the patron and the loan, and none is wider than
  :data:`~reader.service_layer.local_documents.RESTRICTED_WIDTH`.
Under each: ``manifest.json``, ``{page}/info.json``, ``{page}/{region}/{size}/{rotation}/{quality}.{format}``,
``{page}/annotations`` (OCR lines), ``{page}/hocr``, ``{page}/text`` (the page's text alternative), ``search?q=``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import PlainTextResponse, RedirectResponse
from pydantic import BaseModel, Field

from reader.domain.local_documents import Access, DublinCore
from reader.entrypoints.tus import StaffPrincipal, staff_of
from reader.service_layer.local_documents import OPEN_VIEWER, LocalDocuments, Viewer, page_text
from reader.service_layer.revocations import Revocations
from sachso.kit.auth import TokenVerifier
from sachso.kit.errors import Unauthenticated

Document = dict[str, Any]
IIIF_IMAGE_JSON = 'application/ld+json;profile="http://iiif.io/api/image/3/context.json"'
IIIF_PRESENTATION_JSON = 'application/ld+json;profile="http://iiif.io/api/presentation/3/context.json"'
OPEN_CORS = {"Access-Control-Allow-Origin": "*"}
ViewerOf = Callable[..., Awaitable[Viewer]]


class DigitiseIn(BaseModel):
    upload_id: str = Field(min_length=8, max_length=64, pattern="^[0-9a-f]+$")
    title: str = Field("", max_length=500)


class DescriptionIn(BaseModel):
    title: str = Field(min_length=1, max_length=500)
    creators: list[str] = Field(default_factory=list, max_length=50)
    subjects: list[str] = Field(default_factory=list, max_length=50)
    description: str = Field("", max_length=20_000)
    publisher: str = Field("", max_length=300)
    date: str = Field("", max_length=100)
    type: str = Field("Text", max_length=100)
    format: str = Field("", max_length=300)
    identifier: str = Field("", max_length=200)
    source: str = Field("", max_length=500)
    languages: list[str] = Field(default_factory=lambda: ["vi"], max_length=10)
    coverage_places: list[str] = Field(default_factory=list, max_length=50)
    coverage_period: str = Field("", max_length=200)
    rights: str = Field("", max_length=1000)
    access: Access = Access.ONLINE_ONLY

    def dublin_core(self) -> DublinCore:
        values: dict[str, Any] = {
            key: tuple(value) if isinstance(value, list) else value
            for key, value in self.model_dump(exclude={"access"}).items()
        }
        return DublinCore(**values)


class CorrectionIn(BaseModel):
    text: str = Field(max_length=200_000)


def _summary(document: Document) -> Document:
    return {
        "id": document["_id"], "library_id": document["library_id"], "title": document["title"],
        "access": document["access"], "published": document["published"], "page_count": document["page_count"],
        "pages_recognised": document.get("pages_recognised", 0), "pages_corrected": document.get("pages_corrected", 0),
        "pages_failed": document.get("pages_failed", 0),
        "description": document["description"], "created_at": document["created_at"],
        "uploaded_by": document["uploaded_by"],
    }  # fmt: skip


def _encoded(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _json(
    body: Any, media_type: str = "application/json", headers: dict[str, str] | None = None, status: int = 200
) -> Response:
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=_encoded).encode()
    return Response(data, status_code=status, media_type=media_type, headers=headers)


def local_documents_router(documents: LocalDocuments) -> APIRouter:
    """The staff side: only librarians and library admins of the owning library."""
    router = APIRouter(prefix="/v1/local-documents", tags=["local documents (staff)"])

    @router.post("", status_code=201, summary="Make a document of a finished upload (pages queued for OCR)")
    async def digitise(body: DigitiseIn, staff: StaffPrincipal) -> Response:
        document = await documents.digitise(staff_of(staff), body.upload_id, body.title)
        return _json(_summary(document), status=201)

    @router.get("", summary="My library's local documents, newest first, with their progress")
    async def mine(staff: StaffPrincipal) -> Response:
        found = await documents.library_documents(staff_of(staff))
        return _json([_summary(document) for document in found])

    @router.get("/{document_id}", summary="One document: description, access, progress")
    async def one(document_id: str, staff: StaffPrincipal) -> Response:
        document = await documents.document_for_staff(staff_of(staff), document_id)
        progress = await documents.progress(document)
        return _json(_summary(document) | {"progress": asdict(progress) | {
            "percent_recognised": progress.percent_recognised, "complete": progress.recognition_complete}})  # fmt: skip

    @router.put("/{document_id}/description", summary="Describe (Dublin Core) and choose open or online-only")
    async def describe(document_id: str, body: DescriptionIn, staff: StaffPrincipal) -> Response:
        document = await documents.describe(staff_of(staff), document_id, body.dublin_core(), body.access)
        return _json(_summary(document))

    @router.post("/{document_id}/publish", status_code=204, summary="Publish: listed in the catalogue, readable")
    async def publish(request: Request, document_id: str, staff: StaffPrincipal) -> Response:
        manifest = str(request.url_for("iiif_open_manifest", document_id=document_id))
        await documents.publish(staff_of(staff), document_id, manifest)
        return Response(status_code=204)

    @router.get("/{document_id}/pages", summary="Pages with their OCR state")
    async def pages(document_id: str, staff: StaffPrincipal) -> Response:
        await documents.document_for_staff(staff_of(staff), document_id)
        return _json([
            {"page": p["page"], "width": p["width"], "height": p["height"], "source": p["source"],
             "ocr": p["ocr"]["state"], "ocr_error": p["ocr"].get("error"),
             "corrected": p.get("corrected") is not None}
            for p in await documents.pages(document_id)
        ])  # fmt: skip

    @router.post("/{document_id}/pages/{page}/ocr-retry", status_code=202, summary="Retry a page whose OCR failed")
    async def retry(document_id: str, page: int, staff: StaffPrincipal) -> Response:
        await documents.retry_ocr(staff_of(staff), document_id, page)
        return Response(status_code=202)

    @router.get("/{document_id}/pages/{page}/text", summary="A page's text: OCR and the latest correction")
    async def text(document_id: str, page: int, staff: StaffPrincipal) -> Response:
        await documents.document_for_staff(staff_of(staff), document_id)
        found = await documents.page(document_id, page)
        corrected = found.get("corrected") or {}
        return _json({"page": page, "text": page_text(found), "ocr_text": found["ocr"].get("text", ""),
                      "ocr": found["ocr"]["state"], "corrected_by": corrected.get("by"),
                      "corrected_at": corrected.get("at")})  # fmt: skip

    @router.put("/{document_id}/pages/{page}/text", summary="Correct a page's text (kept with who and when)")
    async def correct(document_id: str, page: int, body: CorrectionIn, staff: StaffPrincipal) -> Response:
        return _json(await documents.correct(staff_of(staff), document_id, page, body.text))

    @router.get("/{document_id}/pages/{page}/corrections", summary="Every correction of a page, newest first")
    async def corrections(document_id: str, page: int, staff: StaffPrincipal) -> Response:
        found = await documents.corrections(staff_of(staff), document_id, page)
        return _json([{key: value for key, value in c.items() if key != "_id"} for c in found])

    @router.get("/{document_id}/pages/{page}/image", summary="A page image for staff (no watermark)")
    async def preview(
        document_id: str, page: int, staff: StaffPrincipal, width: Annotated[int, Query(ge=50, le=1600)] = 1000
    ) -> Response:
        await documents.document_for_staff(staff_of(staff), document_id)
        image, media_type, _ = await documents.image(
            document_id, page, ("full", f"{width},", "0", "default.jpg"), Viewer(restricted_width=1600)
        )
        return Response(image, media_type=media_type, headers={"Cache-Control": "private, max-age=300"})

    @router.get("/{document_id}/search", summary="Search the document's text (diacritics optional)")
    async def search(
        document_id: str, staff: StaffPrincipal, q: Annotated[str, Query(min_length=1, max_length=200)]
    ) -> Response:
        await documents.document_for_staff(staff_of(staff), document_id)
        found = await documents.search(document_id, q)
        return _json({"total": len(found), "hits": found})

    return router


def _add_iiif_routes(router: APIRouter, documents: LocalDocuments, viewer_of: ViewerOf, name: str, cors: bool) -> None:
    """The IIIF routes of one root; ``viewer_of`` decides who is looking (a dependency of the path)."""
    looker = Depends(viewer_of)  # who is looking, decided from the path
    extra = OPEN_CORS if cors else {}

    def base_of(request: Request, document_id: str) -> str:
        params = {key: value for key, value in request.path_params.items() if key in ("token", "document_id")}
        manifest = str(request.url_for(f"iiif_{name}_manifest", **params))
        return manifest.removesuffix("/manifest.json")

    @router.get("/manifest.json", name=f"iiif_{name}_manifest", summary="IIIF Presentation 3.0 manifest")
    async def manifest(request: Request, document_id: str, viewer: Viewer = looker) -> Response:
        document = await documents.readable(document_id, viewer)
        body = await documents.manifest(document, base_of(request, document_id))
        return _json(body, IIIF_PRESENTATION_JSON, extra)

    @router.get("/search", summary="Search the document's text (diacritics optional), with boxes to highlight")
    async def search(
        document_id: str, q: Annotated[str, Query(min_length=1, max_length=200)], viewer: Viewer = looker
    ) -> Response:
        await documents.readable(document_id, viewer)
        found = await documents.search(document_id, q)
        return _json({"total": len(found), "hits": found}, headers=extra)

    @router.get("/{page}", summary="The image service's base URI: redirects to info.json")
    async def base(request: Request, document_id: str, page: int, viewer: Viewer = looker) -> Response:
        await documents.readable(document_id, viewer)
        return RedirectResponse(f"{request.url.path.rstrip('/')}/info.json", status_code=303, headers=extra)

    @router.get("/{page}/info.json", summary="IIIF Image API 3.0 information")
    async def info(request: Request, document_id: str, page: int, viewer: Viewer = looker) -> Response:
        await documents.readable(document_id, viewer)
        service = f"{base_of(request, document_id)}/{page}"
        body = await documents.info(document_id, page, service, viewer)
        media = IIIF_IMAGE_JSON if "ld+json" in request.headers.get("accept", "") else "application/json"
        return _json(body, media, extra | {"Link": '<http://iiif.io/api/image/3/level1.json>;rel="profile"'})

    @router.get("/{page}/annotations", summary="The page's OCR lines as IIIF annotations")
    async def annotations(request: Request, document_id: str, page: int, viewer: Viewer = looker) -> Response:
        await documents.readable(document_id, viewer)
        return _json(await documents.annotations(document_id, page, base_of(request, document_id)),
                     IIIF_PRESENTATION_JSON, extra)  # fmt: skip

    @router.get("/{page}/hocr", summary="The page's OCR text layer with word boxes (hOCR)")
    async def hocr(document_id: str, page: int, viewer: Viewer = looker) -> Response:
        await documents.readable(document_id, viewer)
        return Response(await documents.hocr(document_id, page), media_type="text/vnd.hocr+html; charset=utf-8",
                        headers=extra)  # fmt: skip

    @router.get("/{page}/text", summary="The page's text: the text alternative of its image")
    async def text(document_id: str, page: int, viewer: Viewer = looker) -> Response:
        await documents.readable(document_id, viewer)
        return PlainTextResponse(page_text(await documents.page(document_id, page)), headers=extra)

    @router.get("/{page}/{region}/{size}/{rotation}/{quality_format}", summary="IIIF Image API 3.0 image request")
    async def image(
        request: Request, document_id: str, page: int, region: str, size: str, rotation: str, quality_format: str,
        viewer: Viewer = looker,
    ) -> Response:  # fmt: skip
        await documents.readable(document_id, viewer)
        data, media_type, canonical = await documents.image(
            document_id, page, (region, size, rotation, quality_format), viewer
        )
        link = f'<{base_of(request, document_id)}/{page}/{canonical}>;rel="canonical"'
        cache = "public, max-age=86400" if viewer.watermark is None else "private, max-age=300"
        return Response(data, media_type=media_type, headers=extra | {"Link": link, "Cache-Control": cache})


def iiif_routers(documents: LocalDocuments, loan_viewer: ViewerOf) -> list[APIRouter]:
    """The open root (no token) and the loan root (a streaming token; ``loan_viewer`` checks it)."""

    async def open_viewer(document_id: str) -> Viewer:
        return OPEN_VIEWER

    opened = APIRouter(prefix="/v1/iiif/open/{document_id}", tags=["IIIF: open documents"])
    _add_iiif_routes(opened, documents, open_viewer, "open", cors=True)
    lent = APIRouter(prefix="/v1/iiif/loan/{token}/{document_id}", tags=["IIIF: lent documents (watermarked)"])
    _add_iiif_routes(lent, documents, loan_viewer, "loan", cors=True)
    return [opened, lent]


def loan_viewer_from(verifier: TokenVerifier, revocations: Revocations) -> ViewerOf:
    """A viewer dependency that checks the streaming token in the path: for this document, loan still open."""

    async def viewer(token: str, document_id: str) -> Viewer:
        principal = await verifier.verify(token)
        loan_id = principal.claims.get("loan")
        if principal.claims.get("pub") != document_id or not isinstance(loan_id, str) or not loan_id:
            raise Unauthenticated("this streaming token does not open this document")
        await revocations.ensure_open(loan_id, principal.subject)  # the loan still runs, the card is not blocked
        return Viewer.borrower(principal.subject, loan_id)

    return viewer
