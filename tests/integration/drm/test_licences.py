"""LCP end to end inside DRM: protect on ingest, licence for a loan, open it like a reading app, status documents."""

from __future__ import annotations

import base64
import io
import os
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from drm.adapters.content_keys import ContentKeys, MasterKey
from drm.domain import lcp
from sachso.events.v1 import drm_events_pb2, lending_events_pb2, local_document_events_pb2, reader_events_pb2
from tests.corpus import CORPUS
from tests.integration.drm.conftest import DrmUnderTest
from tests.official_schemas import validated

pytestmark = pytest.mark.integration
ENC = "{http://www.w3.org/2001/04/xmlenc#}"


async def publish(drm: DrmUnderTest, publication_id: str, book: str = "wasteland-otf-obf.epub") -> None:
    data = (CORPUS / "epub" / book).read_bytes()
    await drm.s3.put_object(Bucket=drm.source_bucket, Key=f"{publication_id}/original.epub", Body=data)
    original = reader_events_pb2.StoredFile(
        bucket=drm.source_bucket, key=f"{publication_id}/original.epub", media_type="application/epub+zip",
        length=len(data), sha256="digest-1",
    )  # fmt: skip
    metadata = reader_events_pb2.PublicationMetadata(title="The Waste Land")
    await drm.handle(
        "publication_ingested",
        reader_events_pb2.PublicationIngested(publication_id=publication_id, metadata=metadata, original=original),
    )


async def lend(drm: DrmUnderTest, loan_id: str, patron_id: str, publication_id: str, days: int = 14) -> None:
    now = datetime.now(UTC)
    created = lending_events_pb2.LoanCreated(loan_id=loan_id, patron_id=patron_id, publication_id=publication_id)
    created.starts_at.FromDatetime(now)
    created.due_at.FromDatetime(now + timedelta(days=days))
    await drm.handle("loan_created", created)


async def test_a_reading_app_opens_our_licence_and_our_protected_book(drm: DrmUnderTest) -> None:
    await publish(drm, "pub-1")
    await publish(drm, "pub-1")  # the same file again: protected once
    assert len(await drm.events("PublicationProtected")) == 1
    await lend(drm, "loan-1", "ana", "pub-1")
    ana = drm.patron("ana")

    missing = await drm.http.get("/v1/loans/loan-1/license", headers=ana)
    assert missing.status_code == 409
    assert missing.json()["type"].endswith("/lcp-passphrase-missing")
    hint_leak = await drm.http.put("/v1/lcp/passphrase", json={"passphrase": "mèo con", "hint": "mèo con"}, headers=ana)
    assert hint_leak.status_code == 400
    assert (
        await drm.http.put("/v1/lcp/passphrase", json={"passphrase": "mèo con", "hint": "Tên con mèo?"}, headers=ana)
    ).status_code == 204

    response = await drm.http.get("/v1/loans/loan-1/license", headers=ana)
    assert response.status_code == 200
    assert response.headers["content-type"] == lcp.LICENSE_TYPE
    licence = response.json()
    assert validated[-1] == lcp.LICENSE_TYPE  # the client checked it against readium/lcp-specs' schema
    lcp.verify_signature(licence)
    assert licence["encryption"]["user_key"]["text_hint"] == "Tên con mèo?"
    with pytest.raises(lcp.LcpError, match="wrong passphrase"):
        lcp.open_license(licence, "wrong")
    content_key = lcp.open_license(licence, "mèo con")
    assert licence["rights"]["end"] > licence["rights"]["start"]
    assert (await drm.http.get("/v1/loans/loan-1/license", headers=drm.patron("binh"))).status_code == 404
    assert len(await drm.events("LicenseIssued")) == 1

    publication = next(link for link in licence["links"] if link["rel"] == "publication")
    package = await drm.http.get(publication["href"].removeprefix("http://drm"))
    assert len(package.content) == publication["length"]
    with (
        zipfile.ZipFile(io.BytesIO(package.content)) as sealed,
        zipfile.ZipFile(CORPUS / "epub" / "wasteland-otf-obf.epub") as original,
    ):
        root = etree.fromstring(sealed.read("META-INF/encryption.xml"))
        decrypted = 0
        for data in root.iter(f"{ENC}EncryptedData"):
            if data.find(f"{ENC}EncryptionMethod").get("Algorithm") != lcp.AES256_CBC:  # type: ignore[union-attr]
                continue
            uri = str(data.find(f"{ENC}CipherData/{ENC}CipherReference").get("URI"))  # type: ignore[union-attr]
            compressed = data.find(".//{http://www.idpf.org/2016/encryption#compression}Compression") is not None
            assert lcp.decrypt_resource(content_key, sealed.read(uri), compressed) == original.read(uri)
            decrypted += 1
        assert decrypted == 4

    tampered = {**licence, "rights": {**licence["rights"], "end": "2099-01-01T00:00:00Z"}}
    with pytest.raises(lcp.LcpError, match="tampered"):
        lcp.verify_signature(tampered)


async def test_status_document_register_and_return_then_lending_hears_it(drm: DrmUnderTest) -> None:
    await publish(drm, "pub-2")
    await lend(drm, "loan-2", "ana", "pub-2")
    licence_id = (await drm.database["licences"].find_one({"loan_id": "loan-2"}))["_id"]  # type: ignore[index]
    status = (await drm.http.get(f"/v1/licenses/{licence_id}/status")).json()
    assert validated[-1] == lcp.STATUS_TYPE  # the client checked it against readium/lcp-specs' schema
    assert status["status"] == "ready"
    assert status["message"].startswith("Giấy phép đã sẵn sàng")
    assert {link["rel"] for link in status["links"]} >= {"license", "register", "return", "renew"}
    english = await drm.http.get(f"/v1/licenses/{licence_id}/status", headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert english.json()["message"].startswith("The licence is ready")

    registered = await drm.http.post(f"/v1/licenses/{licence_id}/register", params={"id": "kobo-1", "name": "Kobo"})
    assert registered.json()["status"] == "active"
    again = await drm.http.post(f"/v1/licenses/{licence_id}/register", params={"id": "kobo-1", "name": "Kobo"})
    assert len(again.json()["events"]) == 1  # the same device registering twice is one registration
    nameless = await drm.http.post(f"/v1/licenses/{licence_id}/register")
    assert nameless.status_code == 409
    assert nameless.json()["type"] == "http://readium.org/license-status-document/error/registration"

    returned = await drm.http.put(f"/v1/licenses/{licence_id}/return", params={"id": "kobo-1", "name": "Kobo"})
    assert returned.json()["status"] == "returned"
    assert (
        await drm.http.put(f"/v1/licenses/{licence_id}/return", params={"id": "kobo-1", "name": "Kobo"})
    ).status_code == 200
    (event,) = await drm.events("LicenseReturned")
    assert drm_events_pb2.LicenseReturned.FromString(bytes(event["data"])).loan_id == "loan-2"
    other_device = await drm.http.put(f"/v1/licenses/{licence_id}/return", params={"id": "phone", "name": "Phone"})
    assert other_device.json()["type"] == "http://readium.org/license-status-document/error/return"

    # lending's own LoanReturned arrives afterwards (twice): the licence stays returned
    ended = lending_events_pb2.LoanReturned(loan_id="loan-2")
    await drm.handle("loan_returned", ended, "e1")
    await drm.handle("loan_returned", ended, "e2")
    assert (await drm.http.get(f"/v1/licenses/{licence_id}/status")).json()["status"] == "returned"
    unknown = await drm.http.get("/v1/licenses/nope/status")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


async def test_out_of_order_loan_events_never_revive_a_licence(drm: DrmUnderTest) -> None:
    await drm.handle("loan_expired", lending_events_pb2.LoanExpired(loan_id="loan-3"))
    await lend(drm, "loan-3", "ana", "pub-3")  # the creation arrives late
    document = await drm.database["licences"].find_one({"loan_id": "loan-3"})
    assert document is not None
    assert document["status"] == "expired"
    assert (await drm.http.post("/v1/loans/loan-3/streaming-token", headers=drm.patron("ana"))).status_code == 409


async def test_streaming_tokens_are_short_scoped_and_stop_when_the_loan_ends(drm: DrmUnderTest) -> None:
    await lend(drm, "loan-4", "ana", "pub-4", days=1)
    answer = await drm.http.post("/v1/loans/loan-4/streaming-token", headers=drm.patron("ana"))
    assert answer.status_code == 200
    body = answer.json()
    assert body["manifest_url"] == f"http://reader/v1/read/{body['token']}/manifest.json"
    principal = await drm.verifier.verify(body["token"])
    assert principal.subject == "ana"
    assert principal.claims["pub"] == "pub-4"
    assert principal.claims["loan"] == "loan-4"
    assert principal.expires_at is not None
    assert principal.expires_at - datetime.now(UTC).timestamp() <= 300
    # What offline reading adds is information, not reach: the loan's end and whether it may be stored. The
    # token keeps its scope (this patron, this publication, this loan) and its five minutes.
    assert set(body) == {
        "token", "expires_at", "publication_id", "manifest_url", "loan_ends_at", "online_only", "local_document"
    }  # fmt: skip
    assert (body["online_only"], body["local_document"]) == (False, False)
    loan_ends_at = datetime.fromisoformat(body["loan_ends_at"])
    assert loan_ends_at > datetime.now(UTC) + timedelta(hours=23)
    assert principal.expires_at <= loan_ends_at.timestamp()
    assert set(principal.claims) - {"iss", "sub", "aud", "iat", "nbf", "exp", "jti"} == {
        "pub",
        "loan",
        "online_only",
        "roles",
    }
    assert not principal.claims["roles"]  # a streaming token asserts no role
    assert (await drm.http.post("/v1/loans/loan-4/streaming-token", headers=drm.patron("binh"))).status_code == 404
    await drm.handle("loan_returned", lending_events_pb2.LoanReturned(loan_id="loan-4"))
    assert (await drm.http.post("/v1/loans/loan-4/streaming-token", headers=drm.patron("ana"))).status_code == 409


async def test_a_lent_local_document_streams_from_its_iiif_root_and_gets_no_lcp_licence(drm: DrmUnderTest) -> None:
    """The reader's ``LocalDocumentPublished`` (once or twice) makes DRM know the publication as a scanned document:
    its loan's streaming token points at the IIIF manifest under the loan's root, online only, and no LCP."""
    published = local_document_events_pb2.LocalDocumentPublished(document_id="ld-7", library_id="daklak")
    published.published_at.FromDatetime(datetime.now(UTC))
    await drm.handle("local_document_published", published)
    await drm.handle("local_document_published", published)  # delivered again: the same record
    await lend(drm, "loan-7", "ana", "ld-7")
    answer = await drm.http.post("/v1/loans/loan-7/streaming-token", headers=drm.patron("ana"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["manifest_url"] == f"http://reader/v1/iiif/loan/{body['token']}/ld-7/manifest.json"
    assert (body["local_document"], body["online_only"]) == (True, True)
    assert (await drm.verifier.verify(body["token"])).claims["pub"] == "ld-7"
    await drm.http.put(
        "/v1/lcp/passphrase", json={"passphrase": "mèo con", "hint": "con vật"}, headers=drm.patron("ana")
    )
    refused = await drm.http.get("/v1/loans/loan-7/license", headers=drm.patron("ana"))
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"].endswith("/online-only"), refused.text


async def test_master_key_rotation_keeps_every_content_key(drm: DrmUnderTest, tmp_path: Path) -> None:
    _, key = await drm.keys.get_or_create("pub-5")
    new_file = tmp_path / "new-master.b64"
    new_file.write_bytes(base64.b64encode(os.urandom(32)))
    rotated = ContentKeys(drm.keys.collection, [MasterKey.from_file(str(new_file)), drm.keys.current])
    assert await rotated.rewrap() == 1
    assert await rotated.get("pub-5") == key
    only_new = ContentKeys(drm.keys.collection, [MasterKey.from_file(str(new_file))])
    assert await only_new.get("pub-5") == key  # the old master key can now be retired


async def test_online_only_loans_get_no_licence_but_a_marked_streaming_token(drm: DrmUnderTest) -> None:
    now = datetime.now(UTC)
    created = lending_events_pb2.LoanCreated(
        loan_id="loan-rare", patron_id="ana", publication_id="pub-rare", online_only=True
    )
    created.starts_at.FromDatetime(now)
    created.due_at.FromDatetime(now + timedelta(days=7))
    await drm.handle("loan_created", created)
    ana = drm.patron("ana")
    await drm.http.put("/v1/lcp/passphrase", json={"passphrase": "mèo con", "hint": "Tên con mèo?"}, headers=ana)
    refused = await drm.http.get("/v1/loans/loan-rare/license", headers=ana)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/online-only")
    token = (await drm.http.post("/v1/loans/loan-rare/streaming-token", headers=ana)).json()["token"]
    assert (await drm.verifier.verify(token)).claims["online_only"] is True


async def test_a_blocked_card_gets_no_licence_renewal_or_streaming_token(drm: DrmUnderTest) -> None:
    await publish(drm, "pub-8")
    await lend(drm, "loan-8", "ana", "pub-8")
    ana = drm.patron("ana")
    assert (await drm.http.post("/v1/loans/loan-8/streaming-token", headers=ana)).status_code == 200
    blocked_at, unblocked_at = datetime.now(UTC), datetime.now(UTC) + timedelta(seconds=1)
    blocked = lending_events_pb2.PatronBlocked(patron_id="ana", library_id="daklak")
    blocked.blocked_at.FromDatetime(blocked_at)
    await drm.handle("patron_blocked", blocked)
    refused = await drm.http.post("/v1/loans/loan-8/streaming-token", headers=ana)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/card-blocked")
    assert (await drm.http.get("/v1/loans/loan-8/license", headers=ana)).status_code == 403
    unblocked = lending_events_pb2.PatronUnblocked(patron_id="ana", library_id="daklak")
    unblocked.unblocked_at.FromDatetime(unblocked_at)
    await drm.handle("patron_unblocked", unblocked)
    await drm.handle("patron_blocked", blocked)  # the block arriving again, late, does not undo the unblock
    assert (await drm.http.post("/v1/loans/loan-8/streaming-token", headers=ana)).status_code == 200
