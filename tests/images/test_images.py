"""The real images, run as the chart renders them for a province, carry the journey (issue 20): a publisher's
EPUB checked by EPUBCheck inside the reader image, a rare PDF read online as pages watermarked in Vietnamese,
an LCP-protected book decrypted on the fly by the reader with DRM's key, a loan, a hold that becomes ready and
the email that says so, and the web app's config.json served by the web image, pointing at APIs that allow it.

A drift between chart, image and code (a setting the code lacks, a file the wheel does not carry, a Secret or
peer the chart does not wire) fails here before it fails in a province.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import functools
import io
import json
import os
import time
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast
from unittest import mock

import httpx
import images
import pytest
from PIL import Image, ImageChops, ImageFont, features
from pymongo import AsyncMongoClient
from seed import PATRONS, PROVINCE_ADMIN, PUBLISHER, BookSeed, Seeded, Seeder, SeedTarget

from drm.adapters.content_keys import ContentKeys, MasterKey
from drm.adapters.packages import protect_epub
from reader.adapters import pdf as reader_pdf
from reader.adapters.epub import read_epub
from reader.adapters.storage import ObjectStore
from reader.domain.manifest import epub_manifest
from sachso.kit.s3 import create_s3_client
from sachso.kit.settings import S3Settings
from tests.corpus import CORPUS
from tests.images.conftest import ADDRESSES, Install
from tests.images.pods import pod_from_chart, run_pod

pytestmark = pytest.mark.images


class ImageTestS3Settings(S3Settings):
    """The local S3 server, to place a file as an operator would (built here, never from the environment)."""


GUIDE = "epub/debian-installation-guide-vi.epub3.epub"  # one copy: the second reader waits
RARE_PDF = "pdf/debian-project-history.en.pdf"
PROTECTED_SOURCE = CORPUS / "epub" / "wasteland-otf-obf.epub"
BOOKS = (
    BookSeed(GUIDE, {"owner_library_id": "daklak", "model": "one-copy-one-user", "concurrency": 1}),
    BookSeed(RARE_PDF, {"owner_library_id": "daklak", "model": "simultaneous-use", "concurrency": None}),
)


async def eventually(what: str, attempt: Any, within: float = 60.0) -> Any:
    """``await attempt()`` until it returns something truthy (DRM and notify learn of loans through Kafka)."""
    deadline = time.monotonic() + within
    while True:
        result = await attempt()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within:.0f} s")
        await asyncio.sleep(0.3)


@pytest.fixture(scope="session")
async def seeded(install: Install) -> Seeded:
    """The province bootstrapped as an operator does (``python -m lending.manage`` inside the lending pod), then
    seeded through the APIs: the books go through the reader image's ingest, EPUBCheck included."""
    lending = install.pods["lending"]
    province = ["--id", "daklak", "--name", "Thư viện tỉnh Đắk Lắk", "--kind", "province", "--code", "DL"]
    administrator = ["--username", PROVINCE_ADMIN[0], "--role", "province-admin", "--library", "daklak"]
    for command, stdin in (
        (["add-library", *province], None),
        (["add-staff", *administrator], PROVINCE_ADMIN[1] + "\n"),
    ):
        result = lending.exec("python", "-m", "lending.manage", *command, stdin=stdin)
        assert result.returncode == 0, result.stdout + result.stderr
    target = SeedTarget(
        install.url("lending"), install.url("reader"), install.stack_env["SACHSO_MONGO_URI"], install.namespace
    )
    return await Seeder(target, BOOKS).run()


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=120) as client:
        yield client


async def token(http: httpx.AsyncClient, install: Install, path: str, body: dict[str, str]) -> dict[str, str]:
    response = await http.post(f"{install.url('lending')}{path}", json=body)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def patron(http: httpx.AsyncClient, install: Install, seeded: Seeded, index: int) -> dict[str, str]:
    _, card, pin, _ = seeded.patrons[index]
    return await token(http, install, "/v1/auth/token", {"card_number": card, "pin": pin})


async def admin(http: httpx.AsyncClient, install: Install) -> dict[str, str]:
    return await token(
        http, install, "/v1/auth/staff-token", {"username": PROVINCE_ADMIN[0], "password": PROVINCE_ADMIN[1]}
    )


async def borrow(http: httpx.AsyncClient, install: Install, headers: dict[str, str], title_id: str) -> str:
    loan = await http.post(
        f"{install.url('lending')}/v1/loans", json={"title_id": title_id, "period": "P7D"}, headers=headers
    )
    assert loan.status_code == 201, loan.text
    return str(loan.json()["id"])


async def streaming(http: httpx.AsyncClient, install: Install, headers: dict[str, str], loan_id: str) -> str:
    """The manifest URL DRM hands out for a loan (once DRM heard of the loan), rebased nowhere: the chart's
    public URLs are where the pods answer."""

    async def granted() -> str | None:
        response = await http.post(f"{install.url('drm')}/v1/loans/{loan_id}/streaming-token", headers=headers)
        return str(response.json()["manifest_url"]) if response.status_code == 200 else None

    manifest_url: str = await eventually("a streaming token from drm", granted)
    assert manifest_url.startswith(install.public_url("reader") + "/v1/read/")
    return manifest_url.removesuffix("/manifest.json")


async def test_every_pod_is_ready_from_its_image(install: Install) -> None:
    for service, running in install.pods.items():
        assert running.running(), service
        pod = running.pod
        assert pod.read_only_root
        assert pod.user >= 10000
        assert "ALL" in pod.dropped_capabilities
        assert running.exec("touch", "/opt/sachso/written").returncode != 0, "the root file system is read-only"


async def test_an_epub_is_ingested_with_epubcheck_inside_the_reader_image(install: Install, seeded: Seeded) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(install.stack_env["SACHSO_MONGO_URI"])
    try:
        publication = await client[f"{install.namespace}_reader"]["publications"].find_one(
            {"format": "application/epub+zip"}
        )
    finally:
        await client.close()
    assert publication is not None
    assert publication["epubcheck"] is not None, "EPUBCheck did not run in the reader image"
    assert publication["epubcheck"]["fatals"] == 0
    assert GUIDE in seeded.titles


async def test_a_rare_pdf_is_read_online_as_pages_watermarked_in_vietnamese(
    install: Install, seeded: Seeded, http: httpx.AsyncClient, podman: images.Podman
) -> None:
    title_id = seeded.titles[RARE_PDF]
    staff = await admin(http, install)
    marked = await http.put(
        f"{install.url('lending')}/v1/titles/{title_id}/online-only", json={"online_only": True}, headers=staff
    )
    assert marked.status_code == 200, marked.text
    reader_headers = await patron(http, install, seeded, 2)
    loan_id = await borrow(http, install, reader_headers, title_id)
    base = await streaming(http, install, reader_headers, loan_id)

    page = await http.get(f"{base}/~sachso/pages/1", params={"width": 600})
    assert page.status_code == 200, page.text
    assert page.headers["content-type"] == "image/webp"
    assert (await http.get(f"{base}/publication.pdf")).status_code == 403  # never the file itself
    # The same page rendered here with DejaVu Sans (the font the image must carry) and with the fallback that
    # folds the Vietnamese letters away: the served page is the first.
    payload = base.rsplit("/", 1)[-1].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["online_only"] is True
    watermark = f"Sách Số · {claims['sub']} · {loan_id[:8]}"
    served = Image.open(io.BytesIO(page.content)).convert("RGB")
    layout = image_text_layout(podman)
    with_dejavu = rendered_here(watermark, layout)
    original_font = reader_pdf.WATERMARK_FONT
    reader_pdf.WATERMARK_FONT = Path("/nonexistent.ttf")
    try:
        folded = rendered_here(watermark, layout)
    finally:
        reader_pdf.WATERMARK_FONT = original_font
    # Compare only where the two fonts draw differently (the marks), so the page itself does not dilute it.
    where_fonts_differ = ImageChops.difference(with_dejavu, folded).convert("L").point(lambda v: 255 if v > 24 else 0)
    assert where_fonts_differ.getbbox() is not None
    assert (
        masked_difference(served, with_dejavu, where_fonts_differ)
        < masked_difference(served, folded, where_fonts_differ) / 3
    )


def image_text_layout(podman: images.Podman) -> ImageFont.Layout:
    """The text layout Pillow uses in the reader image: libraqm (complex layout) when the image has FriBiDi, which
    Tesseract's Pango brings, otherwise the basic one; each places glyphs differently."""
    probe = "from PIL import features; print(features.check_feature('raqm'))"
    answer = podman(
        "run", "--rm", "--network", "none", "--read-only", "--user", "10001:10001",
        images.image_reference("reader"), "python", "-c", probe,
    ).stdout.strip()  # fmt: skip
    return ImageFont.Layout.RAQM if answer == "True" else ImageFont.Layout.BASIC


def rendered_here(watermark: str, layout: ImageFont.Layout) -> Image.Image:
    """Page 1 of the rare PDF, 600 px wide, rendered and encoded by the reader's own code in this process — with
    the text layout the image uses."""
    if layout == ImageFont.Layout.RAQM and not features.check_feature("raqm"):
        pytest.fail("the reader image lays text out with libraqm, which this machine's Pillow lacks (FriBiDi)")
    laid_out = functools.partial(ImageFont.truetype, layout_engine=layout)
    with mock.patch.object(ImageFont, "truetype", laid_out):
        webp = reader_pdf.render_page(CORPUS / RARE_PDF, 1, 600, "WEBP", watermark)
    return Image.open(io.BytesIO(webp)).convert("RGB")


def masked_difference(first: Image.Image, second: Image.Image, mask: Image.Image) -> float:
    """Mean absolute difference (0–255) over the pixels ``mask`` selects."""
    assert first.size == second.size == mask.size
    difference = ImageChops.difference(first, second).convert("L")
    pixels = zip(difference.get_flattened_data(), mask.get_flattened_data(), strict=True)
    selected = [int(cast(int, value)) for value, keep in pixels if keep]
    return sum(selected) / len(selected)


async def test_an_lcp_protected_book_is_read_on_the_fly_with_drms_key(
    install: Install, seeded: Seeded, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    """The reader image signs a service token with its key, DRM trusts sachso-reader through the chart's JWKS
    URLs and answers over the chart's gRPC target: every encrypted resource comes back in clear.

    Publisher ingest refuses protected files (issue 12), so the book is placed as an operator places one delivered
    already protected with its content key: the clear book goes through the reader image's ingest (so lending
    catalogues it), then its stored file becomes the protected package and DRM keeps the package's key."""
    content_key = os.urandom(32)
    protected = protect_epub(PROTECTED_SOURCE, tmp_path / "protected.epub", content_key)
    publisher = await token(
        http, install, "/v1/auth/publisher-token", {"publisher_id": PUBLISHER[0], "secret": PUBLISHER[2]}
    )
    with PROTECTED_SOURCE.open("rb") as file:
        ingested = await http.post(
            f"{install.url('reader')}/v1/publications",
            headers=publisher,
            files={"file": ("wasteland.epub", file, "application/epub+zip")},
        )
    assert ingested.status_code in (200, 201), ingested.text
    publication_id = ingested.json()["id"]
    master_file = tmp_path / "master"
    master_file.write_bytes(install.secrets.get("sachso-drm-master-keys", "master-key-2025-10"))
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(install.stack_env["SACHSO_MONGO_URI"])
    try:
        keys = ContentKeys(client[f"{install.namespace}_drm"]["content_keys"], [MasterKey.from_file(str(master_file))])
        # DRM protects the clear book for LCP apps when it hears of it; the key it made then gives way to the key
        # the protected package was made with (wrapped by the pod's master key).
        await eventually("DRM's content key for the book", lambda: keys.collection.find_one({"_id": publication_id}))
        await keys.store(publication_id, content_key)
        await place_protected_package(install, client[f"{install.namespace}_reader"], publication_id, protected.path)
    finally:
        await client.close()

    async def catalogued() -> str | None:
        found = await http.get(f"{install.url('lending')}/v1/titles", params={"size": 100})
        return next((item["id"] for item in found.json()["items"] if item["publication_id"] == publication_id), None)

    title_id = await eventually("the protected book in the catalogue", catalogued)
    licence = {"owner_library_id": "daklak", "model": "simultaneous-use", "concurrency": None}
    added = await http.post(
        f"{install.url('lending')}/v1/titles/{title_id}/licenses", json=licence, headers=await admin(http, install)
    )
    assert added.status_code == 201, added.text
    reader_headers = await patron(http, install, seeded, 3)
    base = await streaming(http, install, reader_headers, await borrow(http, install, reader_headers, title_id))
    with zipfile.ZipFile(PROTECTED_SOURCE) as clear:
        for href in protected.encrypted:
            served = await http.get(f"{base}/{href}", headers={"Accept-Encoding": "identity"})
            assert served.status_code == 200, f"{href}: {served.text[:300]}"
            assert served.content == clear.read(href), href


async def place_protected_package(install: Install, database: Any, publication_id: str, package_path: Path) -> None:
    """Store the protected package in the reader's bucket under a key of its own and point the publication at it,
    with the manifest the reader makes of it (the encryption extension marks what DRM's key opens)."""
    package, sizes = read_epub(package_path)
    key = f"{publication_id}/protected.epub"
    settings = ImageTestS3Settings(
        service_name="image-test",
        s3_endpoint_url=install.stack_env["SACHSO_S3_ENDPOINT_URL"],
        s3_region=install.stack_env["SACHSO_S3_REGION"],
        s3_access_key_id=install.stack_env["SACHSO_S3_ACCESS_KEY_ID"],
        s3_secret_access_key=install.stack_env["SACHSO_S3_SECRET_ACCESS_KEY"],
        s3_bucket=f"{install.namespace}-reader",
    )
    async with create_s3_client(settings) as s3:
        await ObjectStore(s3, settings.s3_bucket).put_file(key, package_path, "application/epub+zip")
    changed = await database["publications"].update_one(
        {"_id": publication_id},
        {
            "$set": {
                "key": key,
                "version": f"protected-{os.urandom(4).hex()}",
                "manifest": epub_manifest(package),
                "sizes": sorted([name, size] for name, size in sizes.items()),
            }
        },
    )
    assert changed.matched_count == 1


async def test_a_loan_and_a_hold_whose_ready_email_arrives(
    install: Install, seeded: Seeded, http: httpx.AsyncClient
) -> None:
    title_id = seeded.titles[GUIDE]
    first = await patron(http, install, seeded, 0)
    second = await patron(http, install, seeded, 1)
    loan_id = await borrow(http, install, first, title_id)
    hold = await http.post(f"{install.url('lending')}/v1/holds", json={"title_id": title_id}, headers=second)
    assert hold.status_code == 201, hold.text
    returned = await http.post(f"{install.url('lending')}/v1/loans/{loan_id}/return", headers=first)
    assert returned.status_code == 200, returned.text
    address = PATRONS[1].email

    async def hold_ready_email() -> str | None:
        for path in sorted((install.maildir / "new").glob("*")):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if address in str(message["To"]) and str(message["Subject"]).startswith("Sách bạn chờ đã sẵn sàng"):
                return str(message["Subject"])
        return None

    subject = await eventually("the hold-ready email", hold_ready_email)
    assert "Hướng dẫn cài đặt Debian" in subject or subject


async def test_the_web_image_serves_the_config_the_app_reads_and_the_apis_allow_it(
    install: Install, podman: images.Podman
) -> None:
    """nginx listens on 8080 in its own network namespace (a bridge network), as in a pod."""
    manifests = install.manifests
    pod = pod_from_chart(
        manifests, "sachso-web", "web", install.secrets, install.state / "volumes", image=images.image_reference("web")
    )
    web = run_pod(podman, pod, name=f"sachso-{install.namespace}-web", hosts={}, network="bridge",
                  env_dir=install.state / "env")  # fmt: skip
    try:
        base = f"http://{web.address()}:{pod.ports['http']}"
        async with httpx.AsyncClient(timeout=10) as client:

            async def served() -> httpx.Response | None:
                try:
                    response = await client.get(f"{base}/config.json")
                except httpx.TransportError:
                    return None
                return response if response.status_code == 200 else None

            config = (await eventually("config.json from the web image", served)).json()
            # web/src/api.ts reads config[service] for each API
            assert config == {service: install.public_url(service) for service in ADDRESSES}
            assert (await client.get(f"{base}/")).headers["content-type"].startswith("text/html")
            assert (await client.get(f"{base}/healthz")).status_code == 200
            origin = install.public_url("web")
            for service in ADDRESSES:
                preflight = await client.options(
                    f"{config[service]}/v1/anything",
                    headers={"Origin": origin, "Access-Control-Request-Method": "GET",
                             "Access-Control-Request-Headers": "authorization"},
                )  # fmt: skip
                assert preflight.headers.get("access-control-allow-origin") == origin, service
    finally:
        (install.state / "web.log").write_text(web.logs(200), encoding="utf-8")
        web.stop()
