"""A read-online-only local document lent and read through the real services: staff upload scans to the reader
(tus), the platform's OCR worker recognises them (Tesseract), staff describe and publish; lending lists the title,
its library records a licence, a patron borrows it; DRM — which learns from the loan (lending's event or answer)
that the publication is a scanned document, whatever it heard from the reader — answers a streaming token whose
manifest is the IIIF one under the loan's root; every page image served there carries the watermark, the original
is reached through no address, and the return closes it."""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from local_platform import Platform, ServiceEndpoints
from PIL import Image, ImageChops
from pymongo import AsyncMongoClient

from sachso.kit.auth import Role, TokenIssuer
from tests.integration.kafka_helpers import wait_until
from tests.integration.reader.local_documents_fixture import image_bytes, rendered_page, zip_of

pytestmark = pytest.mark.integration
LIBRARY = {"id": "daklak", "name": "Thư viện tỉnh Đắk Lắk", "kind": "province", "code": "DL"}
LINES = ["Cài đặt phần mềm thư viện", "Địa chí Đắk Lắk năm 1930"]


@pytest.fixture(scope="module")
def platform(stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    platform = Platform(tmp_path_factory.mktemp("platform"), stack_env, namespace=f"lent{uuid.uuid4().hex[:8]}")
    platform.start()
    yield platform
    platform.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def digitised(http: httpx.AsyncClient, reader: str, staff: dict[str, str]) -> str:
    """One page at scanning resolution, wider than a borrower may ever receive, uploaded over tus."""
    data = zip_of({"trang-1.png": image_bytes(rendered_page(LINES * 6, width=2400), "PNG")})
    tus = {"Tus-Resumable": "1.0.0"}
    metadata = f"filename {base64.b64encode(b'dia-chi.zip').decode()}"
    created = await http.post(f"{reader}/v1/local-documents/uploads", headers=staff | tus | {
        "Upload-Length": str(len(data)), "Upload-Metadata": metadata})  # fmt: skip
    assert created.status_code == 201, created.text
    sent = await http.patch(created.headers["location"], content=data, headers=staff | tus | {
        "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})  # fmt: skip
    assert sent.status_code == 204, sent.text
    upload_id = created.headers["location"].rsplit("/", 1)[-1]
    made = await http.post(f"{reader}/v1/local-documents", json={"upload_id": upload_id, "title": "Địa chí"},
                           headers=staff)  # fmt: skip
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def differs_visibly(served: Image.Image, clean: Image.Image) -> bool:
    """More than 0.2 % of the pixels off by more than 40 levels: something (the watermark) is drawn on it."""
    changed = sum(ImageChops.difference(served, clean).histogram()[41:])
    return changed > served.width * served.height * 0.002


async def test_a_patron_borrows_a_scanned_document_and_reads_only_watermarked_pages(
    platform: Platform, stack_env: dict[str, str]
) -> None:
    endpoints: dict[str, ServiceEndpoints] = platform.endpoints()
    lending, reader, drm = (endpoints[name].http_url for name in ("lending", "reader", "drm"))
    keys = platform.state_dir / "keys"
    accounts = TokenIssuer.from_files("sachso-lending", [str(next((keys / "lending").glob("*.pem")))])
    admin = bearer(accounts.issue("admin", audience="sachso", roles=[Role.PROVINCE_ADMIN], library_id="daklak"))
    librarian = bearer(accounts.issue("lan", audience="sachso", roles=[Role.LIBRARIAN], library_id="daklak"))
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack_env["SACHSO_MONGO_URI"], retryWrites=False)
    async with httpx.AsyncClient(timeout=120) as http:
        assert (await http.post(f"{lending}/v1/libraries", json=LIBRARY, headers=admin)).status_code == 201
        document_id = await digitised(http, reader, librarian)

        async def recognised() -> bool:
            answer = await http.get(f"{reader}/v1/local-documents/{document_id}", headers=librarian)
            return bool(answer.json()["progress"]["complete"])

        await wait_until(recognised, within=240)  # the platform's OCR worker, real Tesseract
        described = await http.put(f"{reader}/v1/local-documents/{document_id}/description", headers=librarian,
                                   json={"title": "Địa chí Đắk Lắk", "access": "online-only"})  # fmt: skip
        assert described.status_code == 200, described.text
        published = await http.post(f"{reader}/v1/local-documents/{document_id}/publish", headers=librarian)
        assert published.status_code == 204, published.text

        async def catalogued() -> list[dict[str, Any]]:
            found = (await http.get(f"{lending}/v1/titles", params={"q": "dia chi dak lak"})).json()["items"]
            return [title for title in found if title["publication_id"] == document_id]

        await wait_until(catalogued, within=60)
        (title,) = await catalogued()
        assert (title["local_document"], title["online_only"]) == (True, True), title
        licence = {"owner_library_id": "daklak", "model": "one-copy-one-user", "concurrency": 1}
        added = await http.post(f"{lending}/v1/titles/{title['id']}/licenses", json=licence, headers=librarian)
        assert added.status_code == 201, added.text

        await client[f"{platform.namespace}_lending"]["patrons"].insert_one({
            "_id": "hoa", "library_id": "daklak", "display_name": "Hoà", "email": "hoa@example.vn",
            "status": "active", "card_number": "DL-000888", "pin_hash": PasswordHasher().hash("1357")})  # fmt: skip
        signed_in = await http.post(f"{lending}/v1/auth/token", json={"card_number": "DL-000888", "pin": "1357"})
        assert signed_in.status_code == 200, signed_in.text
        hoa = bearer(signed_in.json()["access_token"])
        borrowed = await http.post(f"{lending}/v1/loans", json={"title_id": title["id"]}, headers=hoa)
        assert borrowed.status_code == 201, borrowed.text
        loan_id = borrowed.json()["id"]

        grants: list[dict[str, Any]] = []

        async def granted() -> bool:  # DRM heard of the loan (or asks lending) and of the document (its event)
            answer = await http.post(f"{drm}/v1/loans/{loan_id}/streaming-token", headers=hoa)
            grants.append(answer.json())
            return answer.status_code == 200 and bool(answer.json()["local_document"])

        await wait_until(granted, within=60)
        grant = grants[-1]
        assert (grant["publication_id"], grant["online_only"]) == (document_id, True), grant
        root = grant["manifest_url"].removesuffix("/manifest.json")
        assert root == f"{reader}/v1/iiif/loan/{grant['token']}/{document_id}", grant
        manifest = await http.get(grant["manifest_url"])
        assert manifest.status_code == 200, manifest.text
        assert manifest.json()["label"]["vi"] == ["Địa chí Đắk Lắk"]
        info = (await http.get(f"{root}/1/info.json")).json()
        assert (info["width"], max(info["maxWidth"], info["maxHeight"])) == (2400, 1600)
        assert "Cài đặt" in (await http.get(f"{root}/1/text")).text  # the page's OCR text, its text alternative
        hits = (await http.get(f"{root}/search", params={"q": "cai dat"})).json()
        assert [hit["page"] for hit in hits["hits"]][:1] == [1], hits

        served = await http.get(f"{root}/1/full/max/0/default.png")
        assert (served.status_code, served.headers["content-type"]) == (200, "image/png"), served.text
        page = Image.open(io.BytesIO(served.content)).convert("L")
        assert page.width == 1600, page.size  # never the full-resolution original
        preview = await http.get(f"{reader}/v1/local-documents/{document_id}/pages/1/image",
                                 params={"width": 1600}, headers=librarian)  # fmt: skip
        clean = Image.open(io.BytesIO(preview.content)).convert("L").resize(page.size)  # staff's, unmarked
        assert differs_visibly(page, clean)  # the patron's copy carries the watermark
        region = await http.get(f"{root}/1/0,0,800,400/max/0/default.jpg")
        assert region.status_code == 200
        crop = Image.open(io.BytesIO(region.content)).convert("L")
        assert differs_visibly(crop, clean.crop((0, 0, 533, 267)).resize(crop.size))  # on every region too

        # a DRM that never saw LocalDocumentPublished (published before it consumed the topic) still knows it from
        # the loan: its LoanCreated, or — the licence unknown too — lending's gRPC answer when DRM asks
        drm_db = client[f"{platform.namespace}_drm"]
        await drm_db["local_documents"].delete_many({})
        for forget_licence in (False, True):
            if forget_licence:
                await drm_db["licences"].delete_many({"loan_id": loan_id})
            again = await http.post(f"{drm}/v1/loans/{loan_id}/streaming-token", headers=hoa)
            assert again.status_code == 200, again.text
            assert again.json()["local_document"] is True, again.json()
            assert again.json()["manifest_url"].startswith(f"{reader}/v1/iiif/loan/"), again.json()
        assert await drm_db["local_documents"].count_documents({}) == 0

        # the original, through no address: no LCP licence, no Readium root, no open IIIF root
        refused = await http.get(f"{drm}/v1/loans/{loan_id}/license", headers=hoa)
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"].endswith("online-only"), refused.text
        for url in (f"{reader}/v1/read/{grant['token']}/manifest.json",
                    f"{reader}/v1/iiif/open/{document_id}/manifest.json",
                    f"{reader}/v1/iiif/open/{document_id}/1/full/max/0/default.jpg",
                    f"{reader}/v1/iiif/open/{document_id}/1/full/max/0/default.jpg/",
                    f"{reader}/v1/local-documents/{document_id}/pages/1/image"):  # fmt: skip
            answer = await http.get(url, headers=hoa, follow_redirects=True)
            assert answer.status_code >= 400, (url, answer.status_code)
            assert not answer.headers.get("content-type", "").startswith("image/"), url

        # returned: the loan's token opens nothing more
        assert (await http.post(f"{lending}/v1/loans/{loan_id}/return", headers=hoa)).status_code == 200

        async def closed() -> bool:
            return (await http.get(f"{root}/1/full/200,/0/default.jpg")).status_code == 401

        await wait_until(closed, within=30)
    await client.close()
