"""The licence writer's canonical JSON is exactly what the LCP canonicalisation gives, whatever the values hold."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lcp_provider import ensure_lcp_files

from drm.domain import lcp
from drm.domain.documents import LicenceWriter, Links, Passphrase, ProtectedPublication
from drm.domain.licences import Licence
from drm.domain.status import Status

START = datetime(2026, 12, 1, 9, 0, 0, 123456, tzinfo=UTC)
AWKWARD = 'Truyện "Kiều"\\ \n\t\u0001 — 𝔘 </script>'


@pytest.fixture(scope="module")
def writer(tmp_path_factory: pytest.TempPathFactory) -> LicenceWriter:
    files = ensure_lcp_files(Path(tmp_path_factory.mktemp("lcp")))
    provider = lcp.Provider.from_pem(files.certificate.read_bytes(), files.key.read_bytes())
    return LicenceWriter(provider, f"https://sachso.vn/{AWKWARD}", Links("https://drm.test", "https://r.test"), (7, 99))


@pytest.mark.parametrize("text", ["", "plain", AWKWARD])
def test_the_template_is_canonical_json(writer: LicenceWriter, text: str) -> None:
    licence = Licence(
        f"lic-{text}", "loan-1", Status.ACTIVE, START, START, patron_id=f"ana{text}", publication_id="pub-1",
        start=START.astimezone(timezone(timedelta(hours=7))), end=START + timedelta(days=14),
        updated=datetime(2026, 12, 2, 1, 2, 3),  # naive: UTC, as MongoDB gives it back
    )  # fmt: skip
    publication = ProtectedPublication("pub-1", "k", "application/epub+zip", 123456789, "ab" * 32, text)
    secret = Passphrase(lcp.user_key("mèo con"), text or "gợi ý")
    content_key = os.urandom(32)
    data = writer.canonical(licence, publication, secret, content_key)
    document = json.loads(data)
    assert lcp.canonical(document) == data
    assert document["rights"] == {"print": 7, "copy": 99, "start": "2026-12-01T09:00:00.123456Z",
                                  "end": "2026-12-15T09:00:00.123456Z"}  # fmt: skip
    assert document["updated"] == "2026-12-02T01:02:03Z"
    assert document["user"] == {"id": f"ana{text}"}
    assert document["links"][2]["href"] == f"https://drm.test/v1/licenses/lic-{text}/status"
    signed = json.loads(writer.signed(licence, publication, secret, content_key))
    lcp.verify_signature(signed)
    assert lcp.open_license(signed, "mèo con") == content_key
    assert {key: value for key, value in signed.items() if key != "signature"}.keys() == document.keys()
