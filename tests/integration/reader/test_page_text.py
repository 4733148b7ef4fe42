"""A PDF page's text layer is served as the page image's text alternative (issue 14)."""

from __future__ import annotations

import pytest

from tests.integration.reader.conftest import ReaderUnderTest
from tests.integration.reader.test_streaming import published

pytestmark = pytest.mark.integration


async def test_a_pdf_pages_text_layer_is_served_as_its_text_alternative(reader: ReaderUnderTest) -> None:
    pdf = await published(reader, "R-intro.pdf", "pdf", title="An Introduction to R")
    token = reader.streaming_token(pdf)
    text = await reader.http.get(f"/v1/read/{token}/~sachso/pages/1/text")
    assert text.status_code == 200
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert "Introduction to R" in text.text
    assert (await reader.http.get(f"/v1/read/{token}/~sachso/pages/114/text")).status_code == 404
    assert (await reader.http.get(f"/v1/read/{token}/~sachso/pages/0/text")).status_code == 404
    epub = reader.streaming_token(await published(reader, "trees.epub"))
    assert (await reader.http.get(f"/v1/read/{epub}/~sachso/pages/1/text")).status_code == 404


async def test_a_pages_text_needs_a_streaming_token_for_that_publication(reader: ReaderUnderTest) -> None:
    pdf = await published(reader, "R-intro.pdf", "pdf", title="An Introduction to R")
    patron_token = reader.accounts.issue("ana", audience="sachso")  # a sign-in token is not a streaming token
    assert (await reader.http.get(f"/v1/read/{patron_token}/~sachso/pages/1/text")).status_code == 401
    expired = reader.streaming_token(pdf, ttl=-60)
    assert (await reader.http.get(f"/v1/read/{expired}/~sachso/pages/1/text")).status_code == 401
