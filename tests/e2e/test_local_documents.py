"""Local documents in a real browser against the whole platform (its real OCR worker pool on Kafka, Tesseract):
a reader who never signed in opens an open document, sees the page image and its OCR text, and finds "Cài đặt" by
typing "cai dat" with the hit marked on the page; a patron borrows a read-online-only document and reads it in the
same viewer, every page image through her loan's watermarked IIIF root; a librarian uploads scans (paused and
resumed), corrects a page and reads the progress report with its chart and the open reads — at 390×844 and
1280×800."""

from __future__ import annotations

import base64
import io
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.e2e.conftest import WebApp, run_scenario
from tests.integration.reader.local_documents_fixture import image_bytes, rendered_page

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
LIBRARY = "daklak"
LIBRARIAN = ("thuthu.daklak", "thuthu-daklak-local")


def within(limit: float, check: Any, what: str) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen within {limit} s")


def tiny_scans() -> bytes:
    """Two pages of Vietnamese text as a scanner gives them (300 dpi text, narrow pages: OCR stays cheap)."""
    pages = {
        "trang-1.png": image_bytes(rendered_page(["Hướng dẫn Cài đặt máy tính", "cho thư viện xã"], width=1300), "PNG"),
        "trang-2.png": image_bytes(rendered_page(["Đắk Lắk năm 2025"], width=1300), "PNG"),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in pages.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def staff_upload_file(folder: Path) -> Path:
    """About 3 MB (uncompressed TIFF, stored): several tus chunks, so the upload can be paused between them."""
    page = rendered_page(["Bản đồ xã Ea Tu"], width=1300).resize((1800, 1700))
    tiff = io.BytesIO()
    Image.Image.save(page, tiff, format="TIFF")
    path = folder / "ban-do-ea-tu.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("1.tif", tiff.getvalue())
    return path


def published_document(app: WebApp, access: str, title: str) -> str:
    """Upload, OCR (the platform's worker), describe and publish one document; its catalogue title id."""
    endpoints = app.platform.endpoints()
    lending = httpx.Client(base_url=endpoints["lending"].http_url, timeout=30)
    reader = httpx.Client(base_url=endpoints["reader"].http_url, timeout=60)
    staff = librarian(app)
    data = tiny_scans()
    tus = {"Tus-Resumable": "1.0.0"}
    metadata = f"filename {base64.b64encode(b'huong-dan.zip').decode()}"
    created = reader.post("/v1/local-documents/uploads", headers=staff | tus | {
        "Upload-Length": str(len(data)), "Upload-Metadata": metadata})  # fmt: skip
    assert created.status_code == 201, created.text
    sent = reader.patch(created.headers["location"], content=data, headers=staff | tus | {
        "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"})  # fmt: skip
    assert sent.status_code == 204, sent.text
    upload_id = created.headers["location"].rsplit("/", 1)[-1]
    made = reader.post("/v1/local-documents", json={"upload_id": upload_id, "title": "Hướng dẫn"}, headers=staff)
    assert made.status_code == 201, made.text
    document_id = made.json()["id"]
    within(300, lambda: reader.get(f"/v1/local-documents/{document_id}", headers=staff).json()["progress"]["complete"],
           "OCR of the two pages")  # fmt: skip
    described = reader.put(f"/v1/local-documents/{document_id}/description", headers=staff, json={
        "title": title, "creators": ["Thư viện tỉnh Đắk Lắk"], "access": access})  # fmt: skip
    assert described.status_code == 200, described.text
    assert reader.post(f"/v1/local-documents/{document_id}/publish", headers=staff).status_code == 204

    def catalogued() -> str | None:
        items = lending.get("/v1/titles", params={"q": "cai dat may tinh"}).json()["items"]
        found = [item for item in items if item.get("local_document") and item["publication_id"] == document_id]
        return str(found[0]["id"]) if found else None

    return str(within(60, catalogued, "the document in the catalogue"))


def librarian(app: WebApp) -> dict[str, str]:
    lending = httpx.Client(base_url=app.platform.endpoints()["lending"].http_url, timeout=30)
    token = lending.post("/v1/auth/staff-token", json={"username": LIBRARIAN[0], "password": LIBRARIAN[1]}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


@pytest.fixture(scope="module")
def open_title(web_app: WebApp) -> str:
    return published_document(web_app, "open", "Hướng dẫn Cài đặt máy tính")


def test_an_independent_iiif_client_draws_an_open_documents_page_from_our_image_service(
    web_app: WebApp, open_title: str
) -> None:
    """OpenSeadragon (npm, BSD-3-Clause; not our viewer) is given the first canvas's Image API service from the
    Presentation manifest and draws the page from the tiles it asks for: every request in IIIF's syntax answered
    200, and the dark text of the scan on the drawn stage, not a blank box."""
    endpoints = web_app.platform.endpoints()
    title = httpx.get(f"{endpoints['lending'].http_url}/v1/titles/{open_title}", timeout=30).json()
    root = f"{endpoints['reader'].http_url}/v1/iiif/open/{title['publication_id']}"
    manifest = httpx.get(f"{root}/manifest.json", timeout=30).json()
    canvas = manifest["items"][0]
    service = canvas["items"][0]["items"][0]["body"]["service"][0]["id"]
    result = run_scenario("iiifClient", {"base": web_app.base, "service": service}, timeout=120, script="documents.mjs")
    assert result["opened"] == {"width": canvas["width"], "height": canvas["height"]}, result
    iiif = re.compile(
        re.escape(service) + r"/(info\.json|(full|\d+,\d+,\d+,\d+)/(max|\d*,\d*|!?\d+,\d+)/0/default\.(jpg|webp|png))$"
    )
    images = [request for request in result["requests"] if not request["url"].endswith("/info.json")]
    assert images, result
    for request in result["requests"]:
        assert iiif.match(request["url"]), request
        assert request["status"] == 200, request
    stage = Image.open(result["stage"]).convert("L")
    histogram = stage.histogram()  # the stage is mid-grey, the scan white with black text
    dark = sum(histogram[:60])
    assert dark > 500, f"{dark} dark pixels: the page was not drawn"


def test_an_open_document_is_read_without_signing_in_with_its_text_and_the_hit_marked(
    web_app: WebApp, open_title: str
) -> None:
    result = run_scenario("viewer", {"base": web_app.base, "title": open_title}, timeout=240, script="documents.mjs")
    # /read/open/{title} of a document opens the viewer, and the reading is counted once, not twice
    assert result.pop("openAddress") == {"path": f"/documents/{open_title}", "openReadings": 1}
    for name, seen in result.items():
        assert seen["signedIn"] is False, name
        assert seen["imageNatural"] > 0, (name, seen)
        viewport = seen["viewport"]
        image = seen["image"]
        assert image["visibleArea"] >= 0.95 * image["width"] * image["height"], (name, image)  # all of it on screen
        assert image["width"] >= 0.4 * viewport["width"], (name, image)  # the page fills its stage's width
        assert "Cài đặt" in seen["text"], (name, seen["text"])  # the OCR text, on the screen
        assert seen["textBox"]["visibleArea"] > 0, (name, seen["textBox"])
        assert "Ảnh trang 1 của «Hướng dẫn Cài đặt máy tính»" in seen["alt"], seen["alt"]  # names the page and the item
        assert seen["hitCount"] == 2, (name, seen)  # "Cài" and "đặt", each boxed on the page image
        hit, page = seen["hit"], seen["imageAfterSearch"]
        assert hit["visibleArea"] > 0, (name, hit)
        assert page["x"] <= hit["x"], (name, hit, page)  # the mark lies on the page image
        assert hit["x"] + hit["width"] <= page["x"] + page["width"] + 1, (name, hit, page)
        assert page["y"] <= hit["y"], (name, hit, page)
        assert hit["y"] + hit["height"] <= page["y"] + page["height"] + 1, (name, hit, page)
        assert seen["marked"] == ["Cài đặt"], (name, seen["marked"])
        assert seen["markBox"]["visibleArea"] > 0, (name, seen["markBox"])
        assert "Trang 1" in seen["results"], seen["results"]
        assert seen["axe"] == [], (name, seen["axe"])


def test_a_patron_borrows_a_read_online_only_document_and_reads_its_watermarked_pages(web_app: WebApp) -> None:
    title_id = published_document(web_app, "online-only", "Sổ tay Cài đặt máy tính (bản quý)")
    lending = httpx.Client(base_url=web_app.platform.endpoints()["lending"].http_url, timeout=30)
    licence = {"owner_library_id": LIBRARY, "model": "one-copy-one-user", "concurrency": 1}
    added = lending.post(f"/v1/titles/{title_id}/licenses", json=licence, headers=librarian(web_app))
    assert added.status_code == 201, added.text
    _, card, pin, _ = next(p for p in web_app.seeded.patrons if p[3] == LIBRARY)
    result = run_scenario("lent", {"base": web_app.base, "title": title_id, "card": card, "pin": pin},
                          timeout=240, script="documents.mjs")  # fmt: skip
    not_document = result["desktop"].pop("notDocument")  # DRM's token names a Readium manifest: said, no crash
    assert "không phải của một tài liệu địa chí" in not_document["status"], not_document
    assert (not_document["errors"], not_document["images"]) == ([], 0), not_document
    for name, seen in result.items():
        assert seen["path"] == f"/documents/{title_id}", (name, seen)  # "Đọc" on the loan opens the viewer
        assert seen["loan"], (name, seen)
        assert "/iiif/loan/" in seen["src"], (name, seen["src"])  # through the loan's (watermarked) root only
        assert not seen["openRequests"], (name, seen["openRequests"])  # never the open root
        assert seen["imageNatural"] > 0, (name, seen)
        image, viewport = seen["image"], seen["viewport"]
        assert image["visibleArea"] >= 0.5 * image["width"] * image["height"], (name, image)  # on the screen
        assert image["width"] >= 0.4 * viewport["width"], (name, image)
        assert "Đang mượn" in seen["lent"], (name, seen["lent"])
        assert "Cài đặt" in seen["text"], (name, seen["text"])  # the page's OCR text
        assert seen["axe"] == [], (name, seen["axe"])
    assert result["phone"]["loan"] == result["desktop"]["loan"]  # signed in from the viewer's address, and back


def test_a_librarian_uploads_with_a_pause_corrects_and_reads_the_progress(
    web_app: WebApp, open_title: str, tmp_path: Path
) -> None:
    read = httpx.post(f"{web_app.platform.endpoints()['lending'].http_url}/v1/titles/{open_title}/open-reading")
    assert read.status_code == 200, read.text  # one open read at least, counted for the library this month
    upload = staff_upload_file(tmp_path)
    assert upload.stat().st_size > 2 * 1024 * 1024
    result = run_scenario(
        "staff", {"base": web_app.base, "library": LIBRARY, "file": str(upload), "openTitle": open_title,
                  "staff": {"username": LIBRARIAN[0], "password": LIBRARIAN[1]}},
        timeout=300, script="documents.mjs",
    )  # fmt: skip
    assert 0 < result["pausedAt"] < upload.stat().st_size, result
    assert "tạm dừng" in result["paused"].lower(), result["paused"]
    assert result["offsets"][0] == 0, result["offsets"]
    assert max(result["offsets"]) > 0, result["offsets"]  # resumed from the server's offset, not from the start
    assert result["document"].startswith("ld-"), result
    assert result["pages"] == 1, result
    assert "Hiệu đính lần cuối" in result["lastCorrection"], result
    assert result["correctionImage"]["visibleArea"] > 0, result
    assert result["axeDocument"] == [], result["axeDocument"]
    for name, screen in result["screens"].items():
        assert screen["chart"]["visibleArea"] > 0, (name, screen)
        assert screen["bars"] >= 4, (name, screen)
        assert max(screen["barValues"]) >= 2, (name, screen)  # this month's pages, drawn
        assert screen["chart"]["x"] >= 0, (name, screen)
        assert screen["chart"]["x"] + screen["chart"]["width"] <= screen["viewport"]["width"] + 1, (name, screen)
        assert "Thư viện tỉnh Đắk Lắk" in screen["row"], (name, screen["row"])
        assert screen["openReads"]["visibleArea"] > 0, (name, screen["openReads"])  # scrolled to, on the screen
        assert int(screen["openReadsCell"]) >= 1, (name, screen["openReadsRow"])  # the read above, this month
        assert screen["axe"] == [], (name, screen["axe"])
        access = screen["access"]  # no tick that lending refuses and the reader would ignore: its description's link
        assert (access["ticks"], "mô tả tài liệu" in access["text"]) == (0, True), (name, access)
        assert access["box"]["visibleArea"] > 0, (name, access)
        assert f"/staff/{LIBRARY}/documents/ld-" in access["href"], (name, access)
