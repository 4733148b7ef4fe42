"""Package metadata written as the current RWPM wants it (identifier a URI, RFC 3339 dates, BCP 47 tags)."""

from __future__ import annotations

import pytest

from reader.domain.manifest import identifiers, languages, modified, published

UUID = "84dd978d-7d9f-473a-a27d-ff9635c2202a"


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        (f"urn:uuid:{UUID.upper()}", {"identifier": f"urn:uuid:{UUID}"}),
        (UUID, {"identifier": f"urn:uuid:{UUID}"}),
        ("978-604-1-00000-1", {"identifier": "urn:isbn:9786041000001"}),
        ("urn:isbn:0-306-40615-2", {"identifier": "urn:isbn:0306406152"}),
        ("https://example.vn/book/1", {"identifier": "https://example.vn/book/1"}),
        ("code.google.com.epub-samples.trees", {"altIdentifier": [{"value": "code.google.com.epub-samples.trees"}]}),
        ("", {}),
    ],
)  # fmt: skip
def test_identifiers(identifier: str, expected: dict[str, object]) -> None:
    assert identifiers(identifier) == expected


@pytest.mark.parametrize(
    ("value", "date", "date_time"),
    [
        ("2012", "2012-01-01", "2012-01-01T00:00:00Z"),
        ("2012-03", "2012-03-01", "2012-03-01T00:00:00Z"),
        ("2012-03-04", "2012-03-04", "2012-03-04T00:00:00Z"),
        ("2012-03-04T05:06:07Z", "2012-03-04T05:06:07Z", "2012-03-04T05:06:07Z"),
        ("2012-03-04T05:06:07+07:00", "2012-03-04T05:06:07+07:00", "2012-03-04T05:06:07+07:00"),
        ("2012-03-04T05:06", "2012-03-04T05:06:00Z", "2012-03-04T05:06:00Z"),
        ("2012-13-01", None, None),
        ("mùa xuân 1975", None, None),
        ("", None, None),
    ],
)
def test_dates(value: str, date: str | None, date_time: str | None) -> None:
    assert published(value) == date
    assert modified(value) == date_time


def test_language_tags() -> None:
    assert languages(("vi", "en_US", " ja-JP ", "tiếng Việt", "")) == ["vi", "en-US", "ja-JP"]
