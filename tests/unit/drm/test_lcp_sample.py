"""Our LCP code against Readium's own sample (shared/corpus/lcp), with the corpus README's known answers."""

from __future__ import annotations

import copy
import hashlib
import json
import zipfile
from datetime import datetime
from typing import Any

import pytest

from drm.domain import lcp
from tests.corpus import CORPUS

LCP = CORPUS / "lcp"
ENC = "{http://www.w3.org/2001/04/xmlenc#}"


@pytest.fixture(scope="module")
def licence() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((LCP / "wasteland-otf-obf_LCP_dan.lcpl").read_text(encoding="utf-8"))
    return document


def test_user_key_key_check_and_content_key(licence: dict[str, Any]) -> None:
    assert lcp.user_key("dan") == hashlib.sha256(b"dan").digest()
    content_key = lcp.open_license(licence, "dan")
    assert len(content_key) == 32
    with pytest.raises(lcp.LcpError, match="wrong passphrase"):
        lcp.open_license(licence, "bob")


def test_signature_verifies_and_tampering_is_caught(licence: dict[str, Any]) -> None:
    certificate = lcp.verify_signature(licence)
    issued = datetime.fromisoformat(licence["issued"][:26] + "+00:00")
    assert certificate.not_valid_before_utc <= issued <= certificate.not_valid_after_utc  # valid when issued
    richer = copy.deepcopy(licence)
    richer["rights"]["copy"] = 1_000_000
    with pytest.raises(lcp.LcpError, match="tampered"):
        lcp.verify_signature(richer)
    swapped = copy.deepcopy(licence)
    swapped["encryption"]["content_key"]["encrypted_value"] = lcp.b64(b"\0" * 64)
    with pytest.raises(lcp.LcpError, match="tampered"):
        lcp.verify_signature(swapped)


def test_every_encrypted_resource_decrypts_to_the_unprotected_book(licence: dict[str, Any]) -> None:
    from lxml import etree

    content_key = lcp.open_license(licence, "dan")
    with (
        zipfile.ZipFile(LCP / "wasteland-otf-obf_LCP_dan.epub") as protected,
        zipfile.ZipFile(LCP / "wasteland-otf-obf.epub") as original,
    ):
        root = etree.fromstring(protected.read("META-INF/encryption.xml"))
        checked = 0
        for data in root.iter(f"{ENC}EncryptedData"):
            method = data.find(f"{ENC}EncryptionMethod").get("Algorithm")  # type: ignore[union-attr]
            uri = str(data.find(f"{ENC}CipherData/{ENC}CipherReference").get("URI"))  # type: ignore[union-attr]
            if method != lcp.AES256_CBC:
                continue  # obfuscated fonts stay as they are
            compression = data.find(".//{http://www.idpf.org/2016/encryption#compression}Compression")
            compressed = compression is not None and compression.get("Method") == "8"
            plain = lcp.decrypt_resource(content_key, protected.read(uri), compressed)
            assert plain == original.read(uri), uri
            if compression is not None:
                assert len(plain) == int(compression.get("OriginalLength", "-1"))
            checked += 1
    assert checked == 4


def test_encryption_round_trip_with_w3c_padding() -> None:
    key = bytes(range(32))
    for size in (0, 1, 15, 16, 17, 4096):
        data = bytes(size)
        sealed = lcp.encrypt_resource(key, data, compress=size % 2 == 0)
        assert len(sealed) % 16 == 0
        assert lcp.decrypt_resource(key, sealed, compressed=size % 2 == 0) == data
    with pytest.raises(lcp.LcpError):
        lcp.decrypt(key, b"short")
