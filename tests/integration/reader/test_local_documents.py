"""Scanned local documents end to end on real servers and the real Tesseract: upload (tus), pages, Vietnamese OCR,
search without diacritics, corrections, description, IIIF for open and lent documents."""

from __future__ import annotations

import io
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageChops

from reader.adapters.mongo_unit_of_work import mongo_units_of_work
from reader.service_layer.revocations import record_loan_ended, record_patron_block
from tests.corpus import CORPUS
from tests.integration.kafka_helpers import wait_until
from tests.integration.reader.local_documents_fixture import (
    LocalDocumentsUnderTest,
    character_error_rate,
    image_bytes,
    rendered_page,
    scans,
    zip_of,
)

pytestmark = pytest.mark.integration
IIIF_VALIDATOR = Path(__file__).resolve().parents[3] / ".local" / "iiif-tools" / "bin" / "python"
VALIDATE = Path(__file__).resolve().parents[3] / "tools" / "iiif" / "validate_manifest.py"


def validated_by_iiif_prezi3(manifest: dict[str, object], folder: Path) -> str:
    """iiif-prezi3 (its own virtualenv, `make iiif-tools`) reads the manifest into its Presentation 3.0 models."""
    assert IIIF_VALIDATOR.exists(), "run `make iiif-tools` first"
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    result = subprocess.run([IIIF_VALIDATOR, VALIDATE, path], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


__all__ = ["scans"]

PAGE_1 = ["Cài đặt phần mềm thư viện", "Hướng dẫn cho cán bộ địa chí"]
PAGE_2 = ["Tỉnh Đắk Lắk có nhiều dân tộc", "sinh sống từ lâu đời ở Tây Nguyên."]
PAGE_3 = ["Báo cáo số hóa tài liệu quý hiếm", "năm hai nghìn không trăm hai mươi lăm."]


def vietnamese_zip() -> bytes:
    """Three pages, named so that a plain sort would put them out of order, in three formats."""
    return zip_of({
        "scans/trang-10.png": image_bytes(rendered_page(PAGE_3), "PNG"),
        "scans/trang-2.tif": image_bytes(rendered_page(PAGE_2), "TIFF"),
        "scans/trang-1.jpg": image_bytes(rendered_page(PAGE_1).convert("RGB"), "JPEG"),
        "scans/.DS_Store": b"\x00\x00\x00\x01Bud1",
        "scans/ghi-chu.txt": "không phải ảnh".encode(),
    })  # fmt: skip


async def published_open(scans: LocalDocumentsUnderTest, document_id: str, access: str = "open") -> None:
    staff = scans.staff()
    described = await scans.http.put(
        f"/v1/local-documents/{document_id}/description",
        json={"title": "Địa chí Đắk Lắk", "creators": ["Nguyễn Văn A"], "coverage_places": ["Đắk Lắk"],
              "coverage_period": "1930–1945", "subjects": ["Lịch sử"], "access": access},
        headers=staff,
    )  # fmt: skip
    assert described.status_code == 200, described.text
    assert (await scans.http.post(f"/v1/local-documents/{document_id}/publish", headers=staff)).status_code == 204


async def test_vietnamese_scans_are_recognised_searchable_and_correctable(scans: LocalDocumentsUnderTest) -> None:
    document_id = await scans.digitise(vietnamese_zip(), title="Tài liệu thử")
    staff = scans.staff()
    pages = (await scans.http.get(f"/v1/local-documents/{document_id}/pages", headers=staff)).json()
    assert [page["source"] for page in pages] == ["scans/trang-1.jpg", "scans/trang-2.tif", "scans/trang-10.png"]
    assert {page["ocr"] for page in pages} == {"queued"}
    assert len(await scans.events("RecognisePage")) == 3  # one message per page
    digitised = await scans.events("LocalDocumentDigitised")
    assert len(digitised) == 1

    await scans.recognise_all(document_id)
    status = (await scans.http.get(f"/v1/local-documents/{document_id}", headers=staff)).json()
    assert status["progress"]["recognised"] == 3
    assert status["progress"]["complete"]
    for number, lines in ((1, PAGE_1), (2, PAGE_2), (3, PAGE_3)):
        text = (await scans.http.get(f"/v1/local-documents/{document_id}/pages/{number}/text", headers=staff)).json()
        assert character_error_rate("\n".join(lines), text["text"]) < 0.08, text["text"]
    recognised = await scans.events("LocalDocumentRecognised")
    assert len(recognised) == 1

    found = (await scans.http.get(f"/v1/local-documents/{document_id}/search", params={"q": "cai dat"},
                                  headers=staff)).json()  # fmt: skip
    assert [hit["page"] for hit in found["hits"]] == [1]
    assert found["hits"][0]["text"]["highlight"] == "Cài đặt"
    assert len(found["hits"][0]["boxes"]) == 2  # the two words, to highlight on the page image
    assert (await scans.http.get(f"/v1/local-documents/{document_id}/search", params={"q": "dak lak"},
                                 headers=staff)).json()["hits"][0]["page"] == 2  # fmt: skip

    corrected = await scans.http.put(
        f"/v1/local-documents/{document_id}/pages/3/text",
        json={"text": "Báo cáo số hoá tài liệu quý hiếm\nnăm 2025."},
        headers=scans.staff("minh"),
    )
    assert corrected.status_code == 200, corrected.text
    history = (await scans.http.get(f"/v1/local-documents/{document_id}/pages/3/corrections", headers=staff)).json()
    assert [(c["corrected_by"], c["text"].splitlines()[1]) for c in history] == [("minh", "năm 2025.")]
    assert "Báo cáo" in history[0]["previous"]  # the OCR it replaced is kept
    hits = (await scans.http.get(f"/v1/local-documents/{document_id}/search", params={"q": "nam 2025"},
                                 headers=staff)).json()["hits"]  # fmt: skip
    assert [hit["page"] for hit in hits] == [3]
    assert len(await scans.events("LocalDocumentPageCorrected")) == 1
    assert (await scans.http.get(f"/v1/local-documents/{document_id}", headers=staff)).json()["pages_corrected"] == 1

    # the page's text is its image's text alternative, for screen readers
    await published_open(scans, document_id)
    alt = await scans.http.get(f"/v1/iiif/open/{document_id}/1/text")
    assert alt.status_code == 200, alt.text
    assert "Cài đặt" in alt.text


async def test_a_corpus_pdf_page_scanned_at_300_dpi_reads_back(scans: LocalDocumentsUnderTest) -> None:
    source = pdfium.PdfDocument(str(CORPUS / "pdf" / "debian-project-history.en.pdf"))
    page = source[2]
    expected = page.get_textpage().get_text_range()
    scan = page.render(scale=300 / 72, grayscale=True).to_pil()
    source.close()
    # a multi-page PDF of scans, as a scanner makes it (here, one page of one image)
    buffer = io.BytesIO()
    scan.save(buffer, format="PDF", resolution=300)
    document_id = await scans.digitise(buffer.getvalue(), filename="lich-su.pdf")
    await scans.recognise_all(document_id)
    text = (await scans.http.get(f"/v1/local-documents/{document_id}/pages/1/text", headers=scans.staff())).json()
    assert character_error_rate(expected, text["text"]) < 0.05


async def test_only_staff_of_the_owning_library_upload_and_edit(scans: LocalDocumentsUnderTest) -> None:
    tus = {"Tus-Resumable": "1.0.0", "Upload-Length": "100"}
    assert (await scans.http.post("/v1/local-documents/uploads", headers=scans.publisher() | tus)).status_code == 403
    assert (await scans.http.post("/v1/local-documents/uploads", headers=tus)).status_code == 401
    document_id = await scans.digitise(zip_of({"1.png": image_bytes(rendered_page(["Một"]), "PNG")}))
    other = scans.staff("hoa", library="krong-pac")
    for method, path, body in (
        ("GET", f"/v1/local-documents/{document_id}", None),
        ("PUT", f"/v1/local-documents/{document_id}/description", {"title": "X"}),
        ("PUT", f"/v1/local-documents/{document_id}/pages/1/text", {"text": "X"}),
        ("POST", f"/v1/local-documents/{document_id}/publish", None),
    ):
        answer = await scans.http.request(method, path, json=body, headers=other)
        assert answer.status_code == 403, (path, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    # unpublished: nobody reads it through IIIF
    assert (await scans.http.get(f"/v1/iiif/open/{document_id}/manifest.json")).status_code == 404


async def test_unsafe_or_empty_uploads_are_refused_precisely(scans: LocalDocumentsUnderTest) -> None:
    staff = scans.staff()
    for data, expected in (
        (zip_of({"../../etc/passwd.png": image_bytes(rendered_page(["x"]), "PNG")}), "path traversal"),
        (zip_of({"ghi-chu.txt": b"no pages"}), "no page image"),
        (zip_of({"bomb.png": b"\x00" * 50_000_000}), "expand"),
        (b"GIF89a not a scan", "PDF or a zip"),
    ):
        upload_id = await scans.upload(data, staff)
        answer = await scans.http.post("/v1/local-documents", json={"upload_id": upload_id}, headers=staff)
        assert answer.status_code in (400, 415), answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert expected in answer.json()["detail"], answer.json()
    assert await scans.repository.documents.count_documents({}) == 0  # nothing half-written


def _decoded(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("L")


async def test_open_documents_serve_iiif_without_a_token(scans: LocalDocumentsUnderTest, tmp_path: Path) -> None:
    document_id = await scans.digitise(vietnamese_zip())
    await scans.recognise_all(document_id)
    await published_open(scans, document_id)
    root = f"/v1/iiif/open/{document_id}"
    manifest = await scans.http.get(f"{root}/manifest.json")
    assert manifest.status_code == 200
    assert manifest.headers["access-control-allow-origin"] == "*"
    body = manifest.json()
    assert "3 canvases" in validated_by_iiif_prezi3(body, tmp_path)
    assert next(canvas["label"] for canvas in body["items"]) == {"vi": ["Trang 1"], "en": ["Page 1"]}
    service = body["items"][0]["items"][0]["items"][0]["body"]["service"][0]["id"]
    info = (await scans.http.get(f"{service}/info.json")).json()
    assert (info["width"], info["height"]) == (body["items"][0]["width"], body["items"][0]["height"])
    assert "maxWidth" not in info
    whole = await scans.http.get(f"{service}/full/max/0/default.jpg")
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "image/jpeg"
    assert _decoded(whole.content).size == (info["width"], info["height"])
    tile = await scans.http.get(f"{service}/0,0,512,256/256,/0/gray.webp")
    assert tile.headers["content-type"] == "image/webp"
    assert Image.open(io.BytesIO(tile.content)).size == (256, 128)
    assert tile.headers["link"].endswith('0,0,512,256/256,128/0/gray.webp>;rel="canonical"')
    assert (await scans.http.get(f"{service}/full/5000,/0/default.jpg")).status_code == 400
    assert (await scans.http.get(f"{service}/full/max/0/default.jpg", headers={})).status_code == 200
    redirect = await scans.http.get(service)
    assert redirect.status_code == 303
    assert redirect.headers["location"].endswith("/1/info.json")
    annotations = (await scans.http.get(f"{root}/1/annotations")).json()
    assert "Cài đặt" in annotations["items"][0]["body"]["value"]
    hocr = await scans.http.get(f"{root}/1/hocr")
    assert "ocrx_word" in hocr.text
    hits = (await scans.http.get(f"{root}/search", params={"q": "cai dat"})).json()["hits"]
    assert [hit["page"] for hit in hits] == [1]
    published = await scans.events("LocalDocumentPublished")
    assert len(published) == 1


async def test_a_lent_document_never_yields_an_unwatermarked_original(
    scans: LocalDocumentsUnderTest, tmp_path: Path
) -> None:
    document_id = await scans.digitise(zip_of({"1.png": image_bytes(rendered_page(PAGE_1 * 8, width=2400), "PNG")}))
    await published_open(scans, document_id, access="online-only")
    page = await scans.repository.page(document_id, 1)
    assert page is not None
    # without a loan: nothing, in any form
    for path in ("manifest.json", "1/info.json", "1/full/max/0/default.jpg", "1/full/max/0/default.jpg/",
                 "1%2Ffull%2Fmax%2F0%2Fdefault.jpg", "1/text", "search?q=cai"):  # fmt: skip
        answer = await scans.http.get(f"/v1/iiif/open/{document_id}/{path}")
        assert answer.status_code in (403, 404, 307), (path, answer.status_code)
        assert not answer.headers.get("content-type", "").startswith("image/")

    token = scans.streaming_token(document_id)
    root = f"/v1/iiif/loan/{token}/{document_id}"
    lent_manifest = (await scans.http.get(f"{root}/manifest.json")).json()
    validated_by_iiif_prezi3(lent_manifest, tmp_path)
    assert lent_manifest["requiredStatement"]["label"]["en"] == ["Terms of use"]
    info = (await scans.http.get(f"{root}/1/info.json")).json()
    assert max(info["maxWidth"], info["maxHeight"]) == 1600 < max(page["width"], page["height"])
    master = Image.open(io.BytesIO((await scans.documents.cache.file(page["image_key"])).read_bytes())).convert("L")
    variants: list[str] = [
        "full/max/0/default.jpg", "full/^max/0/default.jpg", "full/pct:100/0/default.jpg",
        f"full/{page['width']},/0/default.jpg", f"full/!{page['width']},{page['height']}/0/default.png",
        f"0,0,{page['width']},{page['height']}/max/0/default.webp", "pct:0,0,100,100/max/0/color.jpg",
        "full/max/0/default.jpg/", "full%2Fmax%2F0%2Fdefault.jpg", "square/max/0/default.jpg",
        "0,0,1024,512/max/0/default.jpg", "0,0,512,512/512,/0/default.png",
    ]  # fmt: skip
    served = 0
    for variant in variants:
        answer = await scans.http.get(f"{root}/1/{variant}", follow_redirects=True)
        if answer.status_code != 200:
            assert answer.status_code in (400, 404), (variant, answer.status_code)
            continue
        served += 1
        image = _decoded(answer.content)
        assert image.size != master.size, variant
        request = answer.headers["link"].split("/1/", 1)[1].split(">")[0]
        region = request.split("/")[0]
        if region == "full":
            box = (0, 0, master.width, master.height)
        else:
            x, y, w, h = (int(v) for v in region.split(","))
            box = (x, y, x + w, y + h)
        clean = master.crop(box).resize(image.size, Image.Resampling.LANCZOS)
        changed = sum(ImageChops.difference(image, clean).histogram()[41:])  # pixels off by more than 40 levels
        assert changed > image.width * image.height * 0.002, variant  # the watermark is there
    assert served >= 6
    assert (await scans.http.get(f"/v1/iiif/loan/{token}/{document_id}-other/1/info.json")).status_code == 401

    units = mongo_units_of_work(scans.repository.documents.database, scans.outbox)
    # another patron's loan of it: her card blocked, her token no longer opens anything (ana's still does)
    blocked_root = f"/v1/iiif/loan/{scans.streaming_token(document_id, 'binh', 'loan-binh0001')}/{document_id}"
    assert (await scans.http.get(f"{blocked_root}/1/info.json")).status_code == 200
    await units().run(lambda uow: record_patron_block(uow, "binh", True, datetime.now(UTC)))

    async def blocked_refused() -> bool:
        answer = await scans.http.get(f"{blocked_root}/1/info.json")
        return answer.status_code == 401 and answer.json()["type"].endswith("/card-blocked")

    await wait_until(blocked_refused, within=10)
    assert (await scans.http.get(f"{root}/1/info.json")).status_code == 200

    # the loan ends: its token no longer opens anything
    await units().run(lambda uow: record_loan_ended(uow, "loan-12345678", datetime.now(UTC)))

    async def refused() -> bool:
        return (await scans.http.get(f"{root}/1/full/200,/0/default.jpg")).status_code == 401

    await wait_until(refused, within=10)  # replicas remember an open loan for two seconds at most
