"""Book content is the publisher's: what the reader service serves cannot act as the reading app (issue 12 item 7).
The browser side (the app's policy, inherited by the navigator's blob: frames) is tests/e2e/test_book_scripts.py."""

from __future__ import annotations

import pytest

from tests.integration.reader.conftest import ReaderUnderTest
from tests.integration.reader.test_streaming import published

pytestmark = pytest.mark.integration


async def test_every_publication_resource_is_sandboxed_with_a_strict_policy(reader: ReaderUnderTest) -> None:
    moby = await published(reader, "moby-dick.epub")
    token = reader.streaming_token(moby)
    manifest = await reader.http.get(f"/v1/read/{token}/manifest.json")
    first = manifest.json()["readingOrder"][0]["href"]
    answers = [
        manifest,
        await reader.http.get(f"/v1/read/{token}/{first}"),
        await reader.http.get(f"/v1/read/{token}/{first}", headers={"Range": "bytes=0-99"}),
        await reader.http.get(f"/v1/read/{token}/{first}", headers={"Accept-Encoding": "gzip"}),
    ]
    for answer in answers:
        assert answer.status_code in (200, 206), answer.text
        policy = answer.headers["content-security-policy"]
        directives = {part.strip().split(" ")[0]: part.strip() for part in policy.split(";")}
        assert directives["default-src"] == "default-src 'none'"  # no script source at all
        assert "sandbox" in directives  # opened as a document: an opaque origin, scripts off
        assert "script-src" not in directives
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"  # the token in the URL goes nowhere else


async def test_a_pages_text_is_sandboxed_too(reader: ReaderUnderTest) -> None:
    pdf = await published(reader, "R-intro.pdf", "pdf", title="An Introduction to R")
    text = await reader.http.get(f"/v1/read/{reader.streaming_token(pdf)}/~sachso/pages/1/text")
    assert "sandbox" in text.headers["content-security-policy"]
    assert text.headers["x-content-type-options"] == "nosniff"
