"""The streaming fast path answers exactly as the framework's resource route: same status, headers and bytes."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from reader.service_layer.ingest import SubmittedMetadata
from tests.corpus import CORPUS
from tests.integration.kafka_helpers import wait_until
from tests.integration.reader.conftest import ReaderUnderTest

pytestmark = pytest.mark.integration

ROUTE = "/v1/read/{token}/{href:path}"


def _answer(response: object) -> tuple[int, list[tuple[str, str]], bytes]:
    status, headers, content = response.status_code, response.headers, response.content  # type: ignore[attr-defined]
    # a multipart answer's boundary is random: the rest must match
    boundary = headers.get("content-type", "").partition("boundary=")[2]
    listed = sorted((name, value.replace(boundary, "B") if boundary else value) for name, value in headers.items())
    return status, listed, content.replace(boundary.encode(), b"B") if boundary else content


def _requests_counted(status: str, method: str = "GET") -> float:
    value = REGISTRY.get_sample_value(
        "sachso_http_requests_total", {"method": method, "route": ROUTE, "status": status}
    )
    return value or 0.0


async def test_every_kind_of_resource_request_gets_the_framework_s_answer(reader: ReaderUnderTest) -> None:
    result = await reader.ingest.ingest("nxb-tre", CORPUS / "epub" / "moby-dick.epub", SubmittedMetadata())
    token = reader.streaming_token(result.publication_id)
    manifest = (await reader.http.get(f"/v1/read/{token}/manifest.json")).json()
    chapter = manifest["readingOrder"][5]["href"]
    others = [link["href"] for link in manifest["resources"][:2]]
    etag = (await reader.http.get(f"/v1/read/{token}/{chapter}")).headers["etag"]
    variants: list[dict[str, str]] = [
        {},
        {"Accept-Encoding": "gzip"},
        {"Accept-Encoding": "identity"},
        {"Range": "bytes=0-99"},
        {"Range": "bytes=-50"},
        {"Range": "bytes=100-"},
        {"Range": "bytes=0-9,20-29"},  # several ranges: the framework answers
        {"Range": "bytes=999999999-"},  # none satisfiable: the framework answers
        {"Range": "pages=1"},  # another unit: ignored
        {"If-None-Match": etag},
        {"If-None-Match": f"W/{etag}", "Range": "bytes=0-9"},
        {"If-Range": etag, "Range": "bytes=0-9"},
        {"If-Range": '"stale"', "Range": "bytes=0-9"},
        {"Origin": "https://elsewhere.example"},
    ]
    paths = [chapter, *others, "missing.xhtml", "META-INF/container.xml", "../../etc/passwd", "~sachso/nothing"]
    before = _requests_counted("200")
    for path in paths:
        for method in ("GET", "HEAD"):
            for headers in variants:
                url = f"/v1/read/{token}/{path}"
                fast = await reader.http.request(method, url, headers=headers)
                framework = await reader.framework.request(method, url, headers=headers)
                assert _answer(fast) == _answer(framework), (method, path, headers)
    assert _requests_counted("200") > before  # the fast path's answers are counted under the route template


async def test_revocation_and_expiry_still_stop_the_fast_path(reader: ReaderUnderTest) -> None:
    result = await reader.ingest.ingest("nxb-tre", CORPUS / "epub" / "trees.epub", SubmittedMetadata())
    token = reader.streaming_token(result.publication_id)
    href = (await reader.http.get(f"/v1/read/{token}/manifest.json")).json()["readingOrder"][0]["href"]
    assert (await reader.http.get(f"/v1/read/{token}/{href}")).status_code == 200
    expired = reader.streaming_token(result.publication_id, ttl=-60)
    stale = await reader.http.get(f"/v1/read/{expired}/{href}")
    assert stale.status_code == 401
    assert stale.headers["content-type"] == "application/problem+json"
    await reader.end_loan("loan-1")

    async def refused() -> bool:
        return (await reader.http.get(f"/v1/read/{token}/{href}")).status_code == 401

    await wait_until(refused, within=5)  # the verified token is remembered; revocation is asked every time
    ended = await reader.http.get(f"/v1/read/{token}/{href}")
    assert ended.json()["type"].endswith("/loan-ended")


async def test_page_images_get_the_framework_s_answer(reader: ReaderUnderTest) -> None:
    book = CORPUS / "pdf" / "debian-project-history.en.pdf"
    result = await reader.ingest.ingest("nxb-tre", book, SubmittedMetadata(title="Debian"))
    plain = reader.streaming_token(result.publication_id)
    marked = reader.drm.issue(
        "ana", audience="sachso-streaming", ttl_seconds=300, pub=result.publication_id, loan="loan-7", online_only=True
    )
    first = await reader.http.get(f"/v1/read/{plain}/~sachso/pages/1")
    queries = ["", "?width=800", "?width=50", "?width=3001", "?width=0800", "?width=800&x=1", "?height=5", "?width="]
    pages = ["1", "2", "01", "+1", "999", "0", "1/", "x"]
    for token in (plain, marked):
        for page in pages:
            for query in queries:
                for headers in ({}, {"If-None-Match": first.headers["etag"]}, {"Range": "bytes=0-99"}):
                    url = f"/v1/read/{token}/~sachso/pages/{page}{query}"
                    fast = await reader.http.get(url, headers=headers)
                    framework = await reader.framework.get(url, headers=headers)
                    assert _answer(fast) == _answer(framework), (token == plain, page, query, headers)
