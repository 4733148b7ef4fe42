"""DRM's HTTP API: LCP licences and passphrases for patrons, License Status Documents for reading apps,
protected packages, and streaming tokens for the web reader."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from drm.domain import lcp
from drm.domain.status import language
from drm.service_layer.licences import Licences
from drm.service_layer.protection import Protection
from drm.service_layer.status_documents import RenewLoan, StatusDocuments
from sachso.kit.auth import Principal, Role
from sachso.kit.errors import NotFound
from sachso.kit.http import require_roles

Patron = Annotated[Principal, Depends(require_roles(Role.PATRON))]
DeviceId = Annotated[str, Query(alias="id", max_length=255)]
DeviceName = Annotated[str, Query(alias="name", max_length=255)]


class PassphraseIn(BaseModel):
    passphrase: str = Field(min_length=4, max_length=200)
    hint: str = Field(min_length=1, max_length=200)


class StreamingTokenOut(BaseModel):
    token: str
    expires_at: datetime
    publication_id: str
    manifest_url: str
    loan_ends_at: datetime | None = Field(
        description="when the loan ends: a copy kept for offline reading must not open after it"
    )
    online_only: bool = Field(description="read online only: the app must never store the publication")
    local_document: bool = Field(
        False,
        description="a scanned local document: manifest_url is its IIIF Presentation 3.0 manifest (watermarked "
        "page images, OCR text) rather than a Readium Web Publication Manifest",
    )


def _lsd(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, media_type=lcp.STATUS_TYPE)


def licence_router(
    licences: Licences,
    status_documents: StatusDocuments,
    protection: Protection,
    renew_loan: RenewLoan,
    reader_public_url: str,
) -> APIRouter:
    router = APIRouter(tags=["LCP"])

    @router.put("/v1/lcp/passphrase", status_code=204, summary="Set my reading passphrase and its hint")
    async def passphrase(patron: Patron, body: PassphraseIn) -> Response:
        await licences.set_passphrase(patron.subject, body.passphrase, body.hint)
        return Response(status_code=204)

    @router.get("/v1/lcp/hashed-passphrase", summary="My hashed passphrase (automatic key retrieval)")
    async def hashed(patron: Patron) -> dict[str, str]:
        value = await licences.hashed_passphrase(patron.subject)
        if value is None:
            raise NotFound("no passphrase set")
        return {"lcp_hashed_passphrase": value}

    @router.get("/v1/lcp/hint", response_class=HTMLResponse, summary="Where to find the passphrase")
    async def hint() -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><html lang='vi'><meta charset='utf-8'><title>Mật khẩu đọc sách</title>"
            "<h1>Mật khẩu đọc sách</h1><p>Đây là mật khẩu bạn đã đặt trong Sách Số (Tài khoản → Mật khẩu đọc sách). "
            "Bạn có thể đặt lại mật khẩu ở đó; những sách mượn sau sẽ dùng mật khẩu mới.</p>"
            "<p lang='en'>This is the reading passphrase you set in Sách Số (Account → Reading passphrase). You can "
            "set a new one there; books borrowed afterwards use the new passphrase.</p></html>"
        )

    @router.get("/v1/loans/{loan_id}/license", summary="The LCP licence of my loan")
    async def licence(patron: Patron, loan_id: str) -> Response:
        return Response(
            await licences.licence_for(loan_id, patron.subject),
            media_type=lcp.LICENSE_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{loan_id}.lcpl"'},
        )

    @router.post("/v1/loans/{loan_id}/streaming-token", summary="A short-lived token to read my loan in the browser")
    async def streaming_token(patron: Patron, loan_id: str) -> StreamingTokenOut:
        grant = await licences.streaming_token(loan_id, patron.subject)
        root = f"iiif/loan/{grant.token}/{grant.publication_id}" if grant.local_document else f"read/{grant.token}"
        manifest = f"{reader_public_url}/v1/{root}/manifest.json" if reader_public_url else ""
        return StreamingTokenOut(
            token=grant.token,
            expires_at=grant.expires_at,
            publication_id=grant.publication_id,
            manifest_url=manifest,
            loan_ends_at=grant.loan_ends_at,
            online_only=grant.online_only,
            local_document=grant.local_document,
        )

    @router.get("/v1/publications/{publication_id}/protected", summary="A protected package (encrypted, no licence)")
    async def protected(publication_id: str) -> StreamingResponse:
        package, chunks = await protection.open_package(publication_id)
        extension = "lcpdf" if package.media_type == "application/pdf+lcp" else "epub"
        return StreamingResponse(
            chunks,
            media_type=package.media_type,
            headers={
                "Content-Length": str(package.length),
                "Content-Disposition": f'attachment; filename="{publication_id}.{extension}"',
            },
        )

    @router.get("/v1/licenses/{licence_id}/status", summary="License Status Document")
    async def status(licence_id: str, accept_language: Annotated[str | None, Header()] = None) -> JSONResponse:
        return _lsd(await status_documents.document(licence_id, language(accept_language)))

    @router.post("/v1/licenses/{licence_id}/register", summary="Register a device (LSD)")
    async def register(
        licence_id: str,
        device_id: DeviceId = "",
        device_name: DeviceName = "",
        accept_language: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        await status_documents.register(licence_id, device_id, device_name)
        return _lsd(await status_documents.document(licence_id, language(accept_language)))

    @router.put("/v1/licenses/{licence_id}/return", summary="Return the publication (LSD)")
    async def give_back(
        licence_id: str,
        device_id: DeviceId = "",
        device_name: DeviceName = "",
        accept_language: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        await status_documents.give_back(licence_id, device_id, device_name)
        return _lsd(await status_documents.document(licence_id, language(accept_language)))

    @router.put("/v1/licenses/{licence_id}/renew", summary="Renew the loan (LSD; lending's rules apply)")
    async def renew(
        licence_id: str,
        device_id: DeviceId = "",
        device_name: DeviceName = "",
        accept_language: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        await status_documents.renew(licence_id, device_id, device_name, renew_loan)
        return _lsd(await status_documents.document(licence_id, language(accept_language)))

    return router
