"""The official schemas kept in tests/schemas: complete, resolved offline, patterns run as ECMAScript."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft7Validator
from referencing.exceptions import Unresolvable

from tests.official_schemas import (
    LCP_LICENSE,
    LCP_STATUS,
    LOCATOR,
    OPDS_AUTHENTICATION,
    OPDS_FEED,
    PUBLICATION,
    OfficialValidator,
    errors,
    registry,
    validator,
)

MANIFEST: dict[str, Any] = {
    "@context": "https://readium.org/webpub-manifest/context.jsonld",
    "metadata": {"@type": "http://schema.org/Book", "title": "Truyện Kiều", "language": "vi",
                 "readingProgression": "ltr", "identifier": "urn:isbn:9786041000001"},
    "links": [{"rel": "self", "href": "manifest.json", "type": "application/webpub+json"}],
    "readingOrder": [{"href": "OPS/ch%C6%B0%C6%A1ng-1.xhtml", "type": "application/xhtml+xml"}],
    "resources": [{"href": "OPS/font.otf", "type": "font/otf",
                   "properties": {"encrypted": {"algorithm": "http://www.idpf.org/2008/embedding"}}}],
}  # fmt: skip


@pytest.mark.parametrize("schema_id", [PUBLICATION, OPDS_FEED, OPDS_AUTHENTICATION, LCP_LICENSE, LCP_STATUS, LOCATOR])
def test_every_kept_schema_is_a_valid_draft_7_schema_and_every_ref_resolves_offline(schema_id: str) -> None:
    contents = registry().contents(schema_id)
    Draft7Validator.check_schema(contents)
    resolver = registry().resolver(base_uri=schema_id)

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            return ([node["$ref"]] if isinstance(node.get("$ref"), str) else []) + [
                r for v in node.values() for r in refs(v)
            ]
        return [r for v in node for r in refs(v)] if isinstance(node, list) else []

    for ref in refs(contents):
        resolver.lookup(ref)  # raises Unresolvable when a schema is missing: nothing is ever fetched


def test_a_good_manifest_is_valid() -> None:
    assert errors(MANIFEST, PUBLICATION) == []


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"readingProgression": "auto"}, "'auto' is not one of ['rtl', 'ltr']"),
        ({"language": "vi_VN"}, "(ECMAScript)"),  # the BCP 47 pattern uses named groups: ECMAScript, not re
        ({"identifier": "code.google.com.epub-samples.trees"}, "is not a 'uri'"),
        ({"published": "2012"}, "is not valid under any of the given schemas"),
    ],
)
def test_what_the_current_schema_refuses(change: dict[str, str], complaint: str) -> None:
    manifest = {**MANIFEST, "metadata": {**MANIFEST["metadata"], **change}}
    (problem,) = errors(manifest, PUBLICATION)
    assert complaint in problem


def test_hrefs_must_be_urls_and_reading_order_links_unique() -> None:
    spaced = {**MANIFEST, "readingOrder": [{"href": "OPS/chương 1.xhtml", "type": "application/xhtml+xml"}]}
    assert any("uri-reference" in problem for problem in errors(spaced, PUBLICATION))
    twice = {**MANIFEST, "readingOrder": MANIFEST["readingOrder"] * 2}
    assert any("non-unique" in problem for problem in errors(twice, PUBLICATION))


def test_an_unknown_reference_is_never_fetched() -> None:
    schema = {"$id": "https://sachso.test/x.schema.json", "$ref": "https://example.org/elsewhere.schema.json"}
    with pytest.raises(Unresolvable):
        list(OfficialValidator(schema, registry=registry()).iter_errors({}))
    assert validator(PUBLICATION) is validator(PUBLICATION)  # built once per schema
