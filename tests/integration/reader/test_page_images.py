"""PDF page images rendered once per page and width, the next page rendered ahead, watermarks never shared."""

from __future__ import annotations

import pytest

from reader.service_layer.ingest import SubmittedMetadata
from tests.corpus import CORPUS
from tests.integration.kafka_helpers import wait_until
from tests.integration.reader.conftest import ReaderUnderTest

pytestmark = pytest.mark.integration


async def test_a_page_is_rendered_once_and_the_next_one_ahead(reader: ReaderUnderTest) -> None:
    result = await reader.ingest.ingest("nxb-tre", CORPUS / "pdf" / "R-intro.pdf", SubmittedMetadata(title="R"))
    token = reader.streaming_token(result.publication_id)
    version = (await reader.streaming.publication(result.publication_id))["version"]
    first = await reader.http.get(f"/v1/read/{token}/~sachso/pages/4", params={"width": 700})
    assert first.status_code == 200
    assert first.content.startswith(b"RIFF")
    assert first.content[8:12] == b"WEBP"

    async def next_page_ready() -> bool:
        return reader.streaming._pages.memory((version, 5, 700, "")) is not None

    await wait_until(next_page_ready, within=30)  # rendered while the reader was on page 4
    again = await reader.http.get(f"/v1/read/{token}/~sachso/pages/4", params={"width": 650})  # same 700 px step
    assert again.content == first.content
    assert again.headers["etag"] == first.headers["etag"]
    ahead = await reader.http.get(f"/v1/read/{token}/~sachso/pages/5", params={"width": 700})
    assert ahead.content == reader.streaming._pages.memory((version, 5, 700, ""))
    assert (await reader.http.get(f"/v1/read/{token}/~sachso/pages/4", params={"width": 1000})).content != first.content


async def test_each_patron_gets_only_their_own_watermark(reader: ReaderUnderTest) -> None:
    result = await reader.ingest.ingest(
        "nxb-tre", CORPUS / "pdf" / "debian-project-history.en.pdf", SubmittedMetadata()
    )

    def online_only(patron: str, loan: str) -> str:
        return reader.drm.issue(
            patron, audience="sachso-streaming", ttl_seconds=300, pub=result.publication_id, loan=loan, online_only=True
        )

    ana, binh = online_only("ana", "loan-ana-1"), online_only("binh", "loan-binh-1")
    ana_page = await reader.http.get(f"/v1/read/{ana}/~sachso/pages/2", params={"width": 800})
    binh_page = await reader.http.get(f"/v1/read/{binh}/~sachso/pages/2", params={"width": 800})
    plain_page = await reader.http.get(
        f"/v1/read/{reader.streaming_token(result.publication_id)}/~sachso/pages/2", params={"width": 800}
    )
    assert len({ana_page.content, binh_page.content, plain_page.content}) == 3
    assert len({ana_page.headers["etag"], binh_page.headers["etag"], plain_page.headers["etag"]}) == 3
    again = await reader.http.get(f"/v1/read/{ana}/~sachso/pages/2", params={"width": 800})
    assert again.content == ana_page.content  # kept for ana, under ana's mark
