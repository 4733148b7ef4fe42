"""Every corpus EPUB survives protect → decrypt byte-identical; what must stay in clear stays in clear."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from urllib.parse import unquote

import pytest
from lxml import etree

from drm.adapters.packages import ENCRYPTION_PATH, protect_epub, protect_pdf, with_license
from drm.domain import lcp
from tests.corpus import CORPUS

BOOKS = sorted((CORPUS / "epub").glob("*.epub"))
ENC = "{http://www.w3.org/2001/04/xmlenc#}"


@pytest.mark.parametrize("book", BOOKS, ids=lambda path: path.stem)
def test_protect_then_decrypt_gives_back_every_byte(book: Path, tmp_path: Path) -> None:
    key = os.urandom(32)
    protected = protect_epub(book, tmp_path / "protected.epub", key)
    with zipfile.ZipFile(book) as original, zipfile.ZipFile(protected.path) as sealed:
        assert sealed.namelist()[0] == "mimetype"
        assert sealed.getinfo("mimetype").compress_type == zipfile.ZIP_STORED
        root = etree.fromstring(sealed.read(ENCRYPTION_PATH))
        compressed = {}
        for data in root.iter(f"{ENC}EncryptedData"):
            method = data.find(f"{ENC}EncryptionMethod").get("Algorithm")  # type: ignore[union-attr]
            uri = data.find(f"{ENC}CipherData/{ENC}CipherReference").get("URI")  # type: ignore[union-attr]
            if method == lcp.AES256_CBC:
                compressed[unquote(uri or "")] = (
                    data.find(".//{http://www.idpf.org/2016/encryption#compression}Compression") is not None
                )
        assert set(compressed) == set(protected.encrypted)
        for info in original.infolist():
            name = info.filename
            if name.endswith("/") or name == "mimetype":
                continue
            if name in protected.encrypted:
                plain = lcp.decrypt_resource(key, sealed.read(name), compressed[name])
                assert plain == original.read(name), name
            elif name != ENCRYPTION_PATH:
                assert sealed.read(name) == original.read(name), name  # clear resources are untouched
        for clear in ("META-INF/container.xml",):
            assert clear not in protected.encrypted


def test_the_package_document_nav_ncx_and_cover_stay_clear(tmp_path: Path) -> None:
    protected = protect_epub(CORPUS / "epub" / "wasteland-otf-obf.epub", tmp_path / "p.epub", os.urandom(32))
    assert set(protected.encrypted) == {"EPUB/fonts.css", "EPUB/wasteland-content.xhtml", "EPUB/wasteland-night.css",
                                        "EPUB/wasteland.css"}  # fmt: skip  # exactly what Readium's encrypter chose
    with zipfile.ZipFile(protected.path) as sealed:
        assert b"http://www.idpf.org/2008/embedding" in sealed.read(ENCRYPTION_PATH)  # fonts keep their obfuscation


def test_pdf_package_and_licence_injection(tmp_path: Path) -> None:
    key = os.urandom(32)
    pdf = CORPUS / "pdf" / "R-intro.pdf"
    protected = protect_pdf(pdf, tmp_path / "p.lcpdf", key, "An Introduction to R")
    licensed = tmp_path / "licensed.lcpdf"
    with_license(protected.path, {"id": "lic-1"}, licensed)
    with zipfile.ZipFile(licensed) as package:
        assert lcp.decrypt_resource(key, package.read("publication.pdf"), compressed=False) == pdf.read_bytes()
        assert b'"lic-1"' in package.read("META-INF/license.lcpl")
        assert b"application/pdf" in package.read("manifest.json")
