"""Our LCP output opened by Readium's own code: r2-streamer-js (with r2-lcp-js) serves our protected book
byte-identical to the original with the right passphrase, and refuses a wrong one."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import httpx
import pytest

from drm.adapters.packages import with_license
from tests.corpus import CORPUS
from tests.integration.conftest import readium_streamer
from tests.integration.drm.conftest import DrmUnderTest
from tests.integration.drm.test_licences import lend, publish

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "book", ["wasteland-otf-obf.epub", "readium-alice3.epub", "debian-installation-guide-vi.epub3.epub"]
)
async def test_readium_opens_our_licence_and_serves_every_resource(
    drm: DrmUnderTest, tmp_path: Path, book: str
) -> None:
    await publish(drm, "pub-x", book)
    await lend(drm, "loan-x", "ana", "pub-x")
    ana = drm.patron("ana")
    await drm.http.put("/v1/lcp/passphrase", json={"passphrase": "sách số", "hint": "Tên dự án?"}, headers=ana)
    licence = (await drm.http.get("/v1/loans/loan-x/license", headers=ana)).json()
    package = tmp_path / "protected.epub"
    package.write_bytes((await drm.http.get("/v1/publications/pub-x/protected")).content)
    licensed = tmp_path / "licensed.epub"
    with_license(package, licence, licensed)

    right = hashlib.sha256("sách số".encode()).hexdigest()
    wrong = hashlib.sha256(b"sach so").hexdigest()
    with readium_streamer([licensed]) as streamer, zipfile.ZipFile(CORPUS / "epub" / book) as original:
        async with httpx.AsyncClient(timeout=30) as http:
            refused = await http.get(f"{streamer.root(licensed, wrong)}/manifest.json")
            assert refused.status_code == 500
            assert "tryUserKeys" in refused.text  # r2-lcp-js refused the passphrase
            manifest = await http.get(f"{streamer.root(licensed, right)}/manifest.json")
            assert manifest.status_code == 200, manifest.text
            links = manifest.json()["readingOrder"] + manifest.json()["resources"]
            checked = 0
            for link in links:
                href = link["href"]
                path = href.split("/pub/", 1)[1].split("/", 1)[1] if "/pub/" in href else href
                if path not in original.namelist() or "encrypted" not in link.get("properties", {}):
                    continue
                if link["properties"]["encrypted"]["algorithm"] != "http://www.w3.org/2001/04/xmlenc#aes256-cbc":
                    continue
                served = await http.get(href if href.startswith("http") else f"{streamer.root(licensed, right)}/{href}")
                assert served.status_code == 200, path
                assert served.content == original.read(path), path
                checked += 1
            assert checked >= 3
