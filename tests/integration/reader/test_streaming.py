"""Streaming to reading systems over HTTP: tokens, manifests, RFC 9110 ranges, caching, fonts, PDF pages, search."""

from __future__ import annotations

import base64
import gzip
import os
import unicodedata
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, unquote

import grpc
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from drm.adapters.content_keys import ContentKeys as DrmContentKeys
from drm.adapters.content_keys import MasterKey
from drm.adapters.packages import protect_epub
from drm.entrypoints.grpc_api import DrmServicer
from drm.service_layer.protection import Protection
from reader.adapters.content_keys import ContentKeys as ReaderContentKeys
from reader.adapters.epub import read_epub
from reader.domain.manifest import epub_manifest
from reader.service_layer.ingest import SubmittedMetadata
from sachso.drm.v1 import drm_service_pb2_grpc as drm_grpc
from sachso.events.v1 import lending_events_pb2
from sachso.kit.auth import TokenVerifier
from sachso.kit.events import ReceivedEvent
from sachso.kit.grpc_server import GrpcServer
from tests.corpus import CORPUS
from tests.crafted import chapter, container, epub_bytes, package
from tests.integration.kafka_helpers import wait_until
from tests.integration.reader.conftest import ReaderUnderTest

pytestmark = pytest.mark.integration


async def published(reader: ReaderUnderTest, name: str, folder: str = "epub", title: str = "") -> str:
    result = await reader.ingest.ingest("nxb-tre", CORPUS / folder / name, SubmittedMetadata(title=title))
    return result.publication_id


async def test_manifest_and_resources_need_a_streaming_token_for_that_publication(reader: ReaderUnderTest) -> None:
    moby = await published(reader, "moby-dick.epub")
    trees = await published(reader, "trees.epub")
    token = reader.streaming_token(moby)
    manifest = await reader.http.get(f"/v1/read/{token}/manifest.json")
    assert manifest.status_code == 200
    assert manifest.headers["content-type"] == "application/webpub+json"
    body = manifest.json()
    assert body["metadata"]["title"] == "Moby-Dick"
    first = body["readingOrder"][0]["href"]
    chapter = await reader.http.get(f"/v1/read/{token}/{first}")
    assert chapter.status_code == 200
    with zipfile.ZipFile(CORPUS / "epub" / "moby-dick.epub") as archive:
        assert chapter.content == archive.read(first)

    patron_token = reader.accounts.issue("ana", audience="sachso")  # a sign-in token is not a streaming token
    assert (await reader.http.get(f"/v1/read/{patron_token}/manifest.json")).status_code == 401
    expired = reader.streaming_token(moby, ttl=-60)
    assert (await reader.http.get(f"/v1/read/{expired}/manifest.json")).status_code == 401
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert (await reader.http.get(f"/v1/read/{tampered}/manifest.json")).status_code == 401
    other = await reader.http.get(f"/v1/read/{reader.streaming_token(trees)}/{first}")
    assert other.status_code == 404  # the token opens its own publication only
    assert (await reader.http.get(f"/v1/read/{token}/META-INF/container.xml")).status_code == 404
    assert (await reader.http.get(f"/v1/read/{token}/../../etc/passwd")).status_code == 404


async def test_ranges_conditionals_and_compression(reader: ReaderUnderTest) -> None:
    moby = await published(reader, "moby-dick.epub")
    token = reader.streaming_token(moby)
    href = (await reader.http.get(f"/v1/read/{token}/manifest.json")).json()["readingOrder"][5]["href"]
    url = f"/v1/read/{token}/{href}"
    whole = (await reader.http.get(url, headers={"Accept-Encoding": "identity"})).content
    size = len(whole)

    single = await reader.http.get(url, headers={"Range": "bytes=10-19"})
    assert single.status_code == 206
    assert single.headers["content-range"] == f"bytes 10-19/{size}"
    assert single.content == whole[10:20]
    assert "content-encoding" not in single.headers  # ranges are never compressed
    suffix = await reader.http.get(url, headers={"Range": "bytes=-500"})
    assert suffix.content == whole[-500:]
    open_ended = await reader.http.get(url, headers={"Range": f"bytes={size - 7}-"})
    assert open_ended.content == whole[-7:]

    multi = await reader.http.get(url, headers={"Range": "bytes=0-4,100-109"})
    assert multi.status_code == 206
    assert multi.headers["content-type"].startswith("multipart/byteranges; boundary=")
    boundary = multi.headers["content-type"].split("boundary=")[1]
    parts = multi.content.split(f"--{boundary}".encode())
    assert parts[1].endswith(b"\r\n\r\n" + whole[0:5] + b"\r\n")
    assert f"Content-Range: bytes 100-109/{size}".encode() in parts[2]
    assert parts[2].endswith(whole[100:110] + b"\r\n")
    assert parts[3] == b"--\r\n"
    assert int(multi.headers["content-length"]) == len(multi.content)

    huge = "9" * 5000  # RFC 9110 puts no limit on the digits of a position: past the end, so clipped
    clipped = await reader.http.get(url, headers={"Range": f"bytes=10-{huge}"})
    assert clipped.status_code == 206
    assert clipped.content == whole[10:]
    beyond = await reader.http.get(url, headers={"Range": f"bytes={huge}-"})
    assert beyond.status_code == 416
    unsatisfiable = await reader.http.get(url, headers={"Range": f"bytes={size}-"})
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["content-range"] == f"bytes */{size}"
    ignored = await reader.http.get(url, headers={"Range": "bytes=oops", "Accept-Encoding": "identity"})
    assert ignored.status_code == 200
    assert ignored.content == whole

    etag = single.headers["etag"]
    assert (await reader.http.get(url, headers={"If-None-Match": etag})).status_code == 304
    stale = await reader.http.get(
        url, headers={"Range": "bytes=0-9", "If-Range": '"stale"', "Accept-Encoding": "identity"}
    )
    assert stale.status_code == 200
    fresh = await reader.http.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert fresh.status_code == 206

    compressed = await reader.http.get(url, headers={"Accept-Encoding": "gzip"})
    assert compressed.headers["content-encoding"] == "gzip"
    assert compressed.headers["vary"] == "Accept-Encoding"
    assert compressed.headers["etag"] != etag
    assert compressed.content == whole  # httpx decodes gzip
    raw = await reader.http.head(url, headers={"Accept-Encoding": "gzip"})
    assert int(raw.headers["content-length"]) == len(gzip.compress(whole, compresslevel=6, mtime=0))
    head = await reader.http.head(url, headers={"Accept-Encoding": "identity"})
    assert head.headers["content-length"] == str(size)
    assert head.content == b""


async def test_a_hot_book_is_fetched_from_s3_once(reader: ReaderUnderTest) -> None:
    alice = await published(reader, "readium-alice3.epub")
    token = reader.streaming_token(alice)
    manifest = (await reader.http.get(f"/v1/read/{token}/manifest.json")).json()
    for link in manifest["readingOrder"] + manifest["resources"]:
        assert (await reader.http.get(f"/v1/read/{token}/{link['href']}")).status_code == 200, link["href"]
    assert reader.cache.s3_fetches == 1


async def test_obfuscated_fonts_are_served_deobfuscated(reader: ReaderUnderTest) -> None:
    wasteland = await published(reader, "wasteland-otf-obf.epub")
    token = reader.streaming_token(wasteland)
    manifest = (await reader.http.get(f"/v1/read/{token}/manifest.json")).json()
    fonts = [link for link in manifest["resources"] if "encrypted" in link.get("properties", {})]
    assert fonts
    for font in fonts:
        assert font["properties"]["encrypted"]["algorithm"] == "http://www.idpf.org/2008/embedding"
        served = (await reader.http.get(f"/v1/read/{token}/{font['href']}")).content
        assert served[:4] == b"OTTO"  # an OpenType (CFF) font once deobfuscated
        with zipfile.ZipFile(CORPUS / "epub" / "wasteland-otf-obf.epub") as archive:
            assert archive.read(font["href"])[:4] != b"OTTO"


async def test_positions_search_and_pdf_pages(reader: ReaderUnderTest) -> None:
    guide = await published(reader, "debian-installation-guide-vi.epub3.epub")
    token = reader.streaming_token(guide)
    positions = (await reader.http.get(f"/v1/read/{token}/~readium/positions")).json()
    assert positions["total"] == len(positions["positions"]) > 84
    assert positions["positions"][0]["locations"]["position"] == 1
    found = (await reader.http.get(f"/v1/read/{token}/~sachso/search", params={"q": "cai dat"})).json()
    assert found["total"] > 10
    assert found["locators"][0]["text"]["highlight"].lower() == "cài đặt"

    pdf = await published(reader, "R-intro.pdf", "pdf", title="An Introduction to R")
    pdf_token = reader.streaming_token(pdf)
    manifest = (await reader.http.get(f"/v1/read/{pdf_token}/manifest.json")).json()
    assert manifest["metadata"]["numberOfPages"] == 113
    assert manifest["toc"][0]["href"].startswith("publication.pdf#page=")
    page = await reader.http.get(f"/v1/read/{pdf_token}/~sachso/pages/1", params={"width": 1150})
    assert page.status_code == 200
    assert page.headers["content-type"] == "image/webp"
    assert page.content[:4] == b"RIFF"
    again = await reader.http.get(f"/v1/read/{pdf_token}/~sachso/pages/1", params={"width": 1200})
    assert again.headers["etag"] == page.headers["etag"]  # widths round up to a cached step
    assert (await reader.http.get(f"/v1/read/{pdf_token}/~sachso/pages/114")).status_code == 404
    ranged = await reader.http.get(f"/v1/read/{pdf_token}/publication.pdf", headers={"Range": "bytes=0-7"})
    assert ranged.content == b"%PDF-1.5" or ranged.content.startswith(b"%PDF-")
    hits = (await reader.http.get(f"/v1/read/{pdf_token}/~sachso/search", params={"q": "vectors"})).json()
    assert hits["locators"][0]["locations"]["fragments"][0].startswith("page=")


async def test_reading_positions_follow_the_reader_across_devices(reader: ReaderUnderTest) -> None:
    ana, binh = reader.patron("ana"), reader.patron("binh")
    now = datetime.now(UTC)

    def position(progression: float, device: str, when: datetime) -> dict[str, object]:
        return {
            "locator": {
                "href": "OPS/ch1.xhtml",
                "type": "application/xhtml+xml",
                "locations": {"progression": progression, "position": 3},
            },
            "device_id": device,
            "device_name": device,
            "modified": when.isoformat(),
        }

    phone = await reader.http.put("/v1/reading/positions/pub-1", json=position(0.5, "phone", now), headers=ana)
    assert phone.json()["applied"] is True
    stale = await reader.http.put(
        "/v1/reading/positions/pub-1", json=position(0.1, "old-tablet", now - timedelta(hours=1)), headers=ana
    )
    assert stale.json()["applied"] is False  # an older reading from an offline device does not win
    assert stale.json()["device_id"] == "phone"
    laptop = await reader.http.put(
        "/v1/reading/positions/pub-1", json=position(0.7, "laptop", now + timedelta(seconds=5)), headers=ana
    )
    assert laptop.json()["applied"] is True
    current = await reader.http.get("/v1/reading/positions/pub-1", headers=ana)
    assert current.json()["locator"]["locations"]["progression"] == 0.7
    changes = await reader.http.get(
        "/v1/reading/positions", params={"since": (now - timedelta(minutes=1)).isoformat()}, headers=ana
    )
    assert [p["device_id"] for p in changes.json()] == ["laptop"]
    assert (await reader.http.get("/v1/reading/positions/pub-1", headers=binh)).status_code == 404

    bookmark = {
        "kind": "bookmark",
        "locator": {"href": "OPS/ch1.xhtml", "locations": {"progression": 0.2}},
        "note": "Đoạn hay",
    }
    created = await reader.http.post("/v1/reading/annotations/pub-1", json=bookmark, headers=ana)
    assert created.status_code == 201
    assert (await reader.http.get("/v1/reading/annotations/pub-1", headers=binh)).json() == []
    annotation_id = created.json()["id"]
    assert (await reader.http.delete(f"/v1/reading/annotations/pub-1/{annotation_id}", headers=binh)).status_code == 404
    listed = (await reader.http.get("/v1/reading/annotations/pub-1", headers=ana)).json()
    assert listed[0]["note"] == "Đoạn hay"
    assert (await reader.http.delete(f"/v1/reading/annotations/pub-1/{annotation_id}", headers=ana)).status_code == 204


async def test_streaming_stops_within_seconds_when_the_loan_ends(reader: ReaderUnderTest) -> None:
    trees = await published(reader, "trees.epub")
    token = reader.streaming_token(trees)  # for loan-1, valid five minutes
    assert (await reader.http.get(f"/v1/read/{token}/manifest.json")).status_code == 200
    handlers = reader.handlers
    returned = lending_events_pb2.LoanReturned(loan_id="loan-1")
    event = ReceivedEvent(
        id="e1",
        type=returned.DESCRIPTOR.full_name,
        source="/sachso/lending",
        subject=None,
        time=datetime.now(UTC),
        key=None,
        payload=returned,
        trace_headers={},
        topic="t",
        partition=0,
        offset=0,
    )
    async with reader.outbox.client.start_session() as session:
        await session.with_transaction(lambda s: handlers.loan_returned(event, s))

    async def refused() -> bool:
        return (await reader.http.get(f"/v1/read/{token}/manifest.json")).status_code == 401

    await wait_until(refused, within=5)
    answer = await reader.http.get(f"/v1/read/{token}/manifest.json")
    assert answer.json()["type"].endswith("/loan-ended")


async def test_online_only_documents_are_watermarked_pages_and_never_the_file(reader: ReaderUnderTest) -> None:
    pdf = await published(reader, "debian-project-history.en.pdf", "pdf", title="A Brief History of Debian")
    plain = reader.streaming_token(pdf)
    rare = reader.drm.issue(
        "ana", audience="sachso-streaming", ttl_seconds=300, pub=pdf, loan="loan-9", online_only=True
    )
    assert (
        await reader.http.get(f"/v1/read/{plain}/publication.pdf", headers={"Range": "bytes=0-3"})
    ).status_code == 206
    refused = await reader.http.get(f"/v1/read/{rare}/publication.pdf")
    assert refused.status_code == 403
    clean = await reader.http.get(f"/v1/read/{plain}/~sachso/pages/2", params={"width": 800})
    marked = await reader.http.get(f"/v1/read/{rare}/~sachso/pages/2", params={"width": 800})
    assert marked.status_code == 200
    assert marked.content != clean.content  # the patron's mark is drawn on the page
    assert marked.headers["etag"] != clean.headers["etag"]


# Ways of writing a path in a request URL (dot segments percent-encoded: clients would remove plain ones, a
# server on the wire gets them as they are). {} is the path; every variant must mean it, or nothing.
SPELLINGS = [
    "{}", "{}/", "%2f{}", ".%2f{}", "/{}", "//{}", "%2e/{}", "%2e%2e/{}", "x/%2e%2e/{}", "x%2f%2e%2e%2f{}",
    "{}%2f%2e", "{}%5c", "%5c{}", ".%5c{}", "x%5c%2e%2e%5c{}", "{}%2f", "%252f{}", "%2e%252f{}", "{}%00",
    "{}%20", "%2e%2e%2f{}", "%2fx%2f..%2f{}",
]  # fmt: skip


def spellings(path: str) -> list[str]:
    return [spelling.format(path) for spelling in SPELLINGS] + [path.upper(), path.replace("a", "%61", 1)]


async def test_no_spelling_of_the_file_of_an_online_only_document_serves_it(reader: ReaderUnderTest) -> None:
    pdf = await published(reader, "debian-project-history.en.pdf", "pdf", title="A Brief History of Debian")
    plain = reader.streaming_token(pdf)
    rare = reader.drm.issue(
        "ana", audience="sachso-streaming", ttl_seconds=300, pub=pdf, loan="loan-9", online_only=True
    )
    served, problems = 0, set()
    for spelling in spellings("publication.pdf"):
        for method in ("GET", "HEAD"):
            refused = await reader.http.request(method, f"/v1/read/{rare}/{spelling}")
            assert refused.status_code in (403, 404), (spelling, method, refused.status_code)
            assert not refused.content.startswith(b"%PDF"), spelling
            if method == "GET":
                assert refused.headers["content-type"] == "application/problem+json", spelling
            # the same spelling with a token that may have the file: it is either the file or nothing at all
            allowed = await reader.http.request(method, f"/v1/read/{plain}/{spelling}")
            assert allowed.status_code in (200, 404), (spelling, allowed.status_code)
            if allowed.status_code == 200:
                assert refused.status_code == 403, spelling
                served += 1
                if method == "GET":
                    problems.add(refused.json()["type"].rsplit("/", 1)[1])
                    assert allowed.content.startswith(b"%PDF")
    assert served >= 2 * 15  # most spellings do name the file, and each of them is refused
    assert problems == {"read-online-only"}


async def test_spellings_of_an_epub_resource_mean_that_resource_or_nothing(
    reader: ReaderUnderTest, tmp_path: Path
) -> None:
    name = "OPS/chương một.xhtml"
    decomposed = unicodedata.normalize("NFD", name)  # as macOS writes names into a zip
    opf = package(f'<item id="c" href="{quote(decomposed.removeprefix("OPS/"))}" media-type="application/xhtml+xml"/>',
                  '<itemref idref="c"/>')  # fmt: skip
    book = tmp_path / "book.epub"
    book.write_bytes(epub_bytes([(decomposed, chapter("Chương một"))], opf=opf, chapter_path=""))
    token = reader.streaming_token((await reader.ingest.ingest("nxb-tre", book, SubmittedMetadata())).publication_id)
    for path in (name, decomposed):
        assert (await reader.http.get(f"/v1/read/{token}/{quote(path)}")).content == chapter("Chương một"), path
        for spelling in spellings(quote(path)):
            answer = await reader.http.get(f"/v1/read/{token}/{spelling}")
            assert answer.status_code in (200, 404), spelling
            if answer.status_code == 200:
                assert answer.content == chapter("Chương một"), spelling
    for path in ("META-INF/container.xml", "mimetype", "OPS/package.opf"):
        for spelling in spellings(path):
            answer = await reader.http.get(f"/v1/read/{token}/{spelling}")
            if path == "OPS/package.opf" and answer.status_code == 200:
                continue  # the package document is a resource of the book like any other
            assert answer.status_code == 404, (spelling, answer.status_code)
            assert answer.headers["content-type"] == "application/problem+json"

    wasteland = reader.streaming_token(await published(reader, "wasteland-otf-obf.epub"))
    manifest = (await reader.http.get(f"/v1/read/{wasteland}/manifest.json")).json()
    font = next(link["href"] for link in manifest["resources"] if "encrypted" in link.get("properties", {}))
    for spelling in spellings(font):
        answer = await reader.http.get(f"/v1/read/{wasteland}/{spelling}")
        if answer.status_code == 200:  # an obfuscated font is deobfuscated however its path is written
            assert answer.content[:4] == b"OTTO", spelling


async def test_every_link_of_w3c_shaped_books_is_served(reader: ReaderUnderTest, tmp_path: Path) -> None:
    """Container-root-relative hrefs, a repeated spine item and two renditions: every link of the manifest (and
    of the positions list) answers with the archive's bytes."""
    opf = package(
        '<item id="c" href="/OPS/chapter.xhtml" media-type="application/xhtml+xml"/>'
        '<item id="d" href="second.xhtml" media-type="application/xhtml+xml"/>'
        '<item id="s" href="/Styles/book%20style.css" media-type="text/css"/>',
        '<itemref idref="c"/><itemref idref="d"/><itemref idref="c"/>',
    )
    other = package('<item id="x" href="other.xhtml" media-type="application/xhtml+xml"/>', '<itemref idref="x"/>')
    book = tmp_path / "w3c.epub"
    book.write_bytes(
        epub_bytes(
            [("OPS/second.xhtml", chapter("Hai")), ("Styles/book style.css", b"p{margin:0}"),
             ("OPS/other.opf", other), ("OPS/other.xhtml", chapter("Khác"))],
            opf=opf, container=container("OPS/package.opf", "OPS/other.opf"),
        )
    )  # fmt: skip
    token = reader.streaming_token((await reader.ingest.ingest("nxb-tre", book, SubmittedMetadata())).publication_id)
    manifest = (await reader.http.get(f"/v1/read/{token}/manifest.json")).json()
    hrefs = [link["href"] for link in manifest["readingOrder"]]
    assert hrefs == ["OPS/chapter.xhtml", "OPS/second.xhtml", "OPS/chapter.xhtml?occurrence=2"]
    with zipfile.ZipFile(book) as archive:
        for link in manifest["readingOrder"] + manifest["resources"]:
            served = await reader.http.get(f"/v1/read/{token}/{link['href']}")  # hrefs are URLs
            assert served.status_code == 200, link["href"]
            assert served.content == archive.read(unquote(link["href"].partition("?")[0]))
    positions = (await reader.http.get(f"/v1/read/{token}/~readium/positions")).json()
    assert [p["href"] for p in positions["positions"]] == hrefs


async def test_lcp_protected_books_are_decrypted_on_the_fly_with_drms_key(
    reader: ReaderUnderTest, tmp_path: Path, database: AsyncDatabase[dict[str, Any]]
) -> None:
    """A protected EPUB in the reader: every encrypted resource is served in clear, ranges inside deflated ones.

    Publisher ingest refuses protected files (test_ingest), so the book is placed as an operator would place one
    delivered already protected, its content key stored in DRM."""
    original = CORPUS / "epub" / "wasteland-otf-obf.epub"
    content_key = os.urandom(32)
    protected = protect_epub(original, tmp_path / "protected.epub", content_key)
    package, sizes = read_epub(protected.path)
    await reader.ingest.store.put_file("pub-protected/protected.epub", protected.path, "application/epub+zip")
    await reader.publications.insert_one({
        "_id": "pub-protected", "publisher_id": "nxb-tre", "format": "application/epub+zip", "status": "active",
        "key": "pub-protected/protected.epub", "version": "protected", "manifest": epub_manifest(package),
        "sizes": sorted([name, size] for name, size in sizes.items()),
        "metadata": {"identifier": package.metadata.identifier},
    })  # fmt: skip
    master = tmp_path / "master.b64"
    master.write_bytes(base64.b64encode(os.urandom(32)))
    keys = DrmContentKeys(database["content_keys"], [MasterKey.from_file(str(master))])
    await keys.store("pub-protected", content_key)
    drm = GrpcServer(
        host="127.0.0.1",
        port=0,
        service_names=["sachso.drm.v1.DrmService"],
        register=lambda server: drm_grpc.add_DrmServiceServicer_to_server(
            DrmServicer(cast(Any, None), Protection(cast(Any, None), keys, cast(Any, None), "")), server
        ),
        verifier=TokenVerifier(
            ["http://reader/.well-known/jwks.json"],
            issuers=[reader.accounts.issuer],
            audience="sachso",
            http=reader.http,
        ),
    )
    await drm.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{drm.port}") as channel:
            reader.streaming.content_key = ReaderContentKeys(channel, reader.accounts).get  # reader's service identity
            token = reader.streaming_token("pub-protected")
            manifest = (await reader.http.get(f"/v1/read/{token}/manifest.json")).json()  # encryption extension
            assert manifest["readingOrder"][0]["properties"]["encrypted"]["scheme"] == "http://readium.org/2014/01/lcp"
            with zipfile.ZipFile(original) as clear:
                for href in protected.encrypted:
                    served = await reader.http.get(f"/v1/read/{token}/{href}", headers={"Accept-Encoding": "identity"})
                    assert served.content == clear.read(href), href
                content = "EPUB/wasteland-content.xhtml"  # deflated before encryption
                ranged = await reader.http.get(f"/v1/read/{token}/{content}", headers={"Range": "bytes=1000-1099"})
                assert ranged.status_code == 206
                assert ranged.content == clear.read(content)[1000:1100]
            reader.streaming.content_key = None
            locked = await reader.http.get(f"/v1/read/{token}/{content}")
            assert locked.status_code == 409
            assert locked.json()["type"].endswith("/resource-locked")
    finally:
        await drm.stop(0)
