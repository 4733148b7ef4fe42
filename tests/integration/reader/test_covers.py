"""The catalogue's covers: the EPUB's cover image or a PDF's first page, small, cached, one ETag per version."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from reader.service_layer.ingest import SubmittedMetadata
from reader.service_layer.streaming import COVER_WIDTH
from tests.corpus import CORPUS
from tests.integration.reader.conftest import ReaderUnderTest

pytestmark = pytest.mark.integration


def picture(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


async def test_an_epub_cover_is_its_cover_image_made_small_and_cached(reader: ReaderUnderTest) -> None:
    result = await reader.ingest.ingest("nxb-tre", CORPUS / "epub" / "childrens-literature.epub", SubmittedMetadata())
    cover = await reader.http.get(f"/v1/covers/{result.publication_id}")  # no token: visitors see covers
    assert cover.status_code == 200, cover.text
    assert cover.headers["content-type"] == "image/webp"
    assert cover.headers["cache-control"] == "public, max-age=3600"
    image = picture(cover.content)
    assert image.format == "WEBP"
    assert 100 < image.width <= COVER_WIDTH
    assert image.height > image.width  # a book's cover, portrait
    again = await reader.http.get(
        f"/v1/covers/{result.publication_id}", headers={"If-None-Match": cover.headers["etag"]}
    )
    assert again.status_code == 304
    head = await reader.http.head(f"/v1/covers/{result.publication_id}")
    assert head.status_code == 200
    assert head.headers["etag"] == cover.headers["etag"]

    # made once and kept on disk: later requests fetch nothing from the object store, even after memory is gone
    fetches = reader.cache.s3_fetches
    reader.streaming._resolved.clear()
    reader.streaming._pages._memory.clear()
    assert (await reader.http.get(f"/v1/covers/{result.publication_id}")).content == cover.content
    assert reader.cache.s3_fetches == fetches

    other = await reader.ingest.ingest("nxb-tre", CORPUS / "epub" / "trees.epub", SubmittedMetadata())
    trees = await reader.http.get(f"/v1/covers/{other.publication_id}")
    assert trees.status_code == 200
    assert trees.headers["etag"] != cover.headers["etag"]  # one ETag per publication (version)
    assert picture(trees.content).width <= COVER_WIDTH


async def test_a_pdf_cover_is_its_first_page(reader: ReaderUnderTest) -> None:
    result = await reader.ingest.ingest("nxb-tre", CORPUS / "pdf" / "R-intro.pdf", SubmittedMetadata(title="R"))
    cover = await reader.http.get(f"/v1/covers/{result.publication_id}")
    assert cover.status_code == 200, cover.text
    assert picture(cover.content).width == COVER_WIDTH


async def test_a_pdf_whose_first_page_is_a_few_small_words_has_no_cover(reader: ReaderUnderTest) -> None:
    # the first page of this text-only PDF is its title in small type: as a cover it would be a white card, so the
    # catalogue draws one instead — and the verdict is kept like a cover: asked again, nothing is fetched or drawn
    result = await reader.ingest.ingest(
        "nxb-tre", CORPUS / "pdf" / "debian-project-history.en.pdf", SubmittedMetadata(title="Debian")
    )
    missing = await reader.http.get(f"/v1/covers/{result.publication_id}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    fetches = reader.cache.s3_fetches
    reader.streaming._resolved.clear()
    reader.streaming._pages._memory.clear()
    assert (await reader.http.get(f"/v1/covers/{result.publication_id}")).status_code == 404
    assert reader.cache.s3_fetches == fetches


async def test_no_cover_and_no_publication_are_problems_not_errors(reader: ReaderUnderTest) -> None:
    result = await reader.ingest.ingest(
        "nxb-tre", CORPUS / "epub" / "debian-installation-guide-vi.epub3.epub", SubmittedMetadata()
    )
    missing = await reader.http.get(f"/v1/covers/{result.publication_id}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    unknown = await reader.http.get("/v1/covers/no-such-publication")
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("/publication-not-found")
