"""Validate what we emit against the official JSON Schemas kept in ``tests/schemas`` (see its README), offline.

One registry holds every schema by its ``$id``, so a ``$ref`` across specifications (OPDS feeds → RWPM links)
resolves locally and nothing is ever fetched. The schemas' patterns are ECMAScript regular expressions (named
groups as ``(?<name>…)``), so ``pattern`` and the ``regex`` format run on an ECMAScript engine (regress), not on
Python's ``re``; formats (``uri``, ``uri-reference``, ``date-time``, ``uri-template``…) are checked.

    assert_valid(manifest, PUBLICATION)
    assert_valid(feed, OPDS_FEED)
    assert_valid_positions(positions_list)

Test clients validate every document they receive by its media type with one event hook
(``httpx.AsyncClient(..., event_hooks=VALIDATE_RESPONSES)``), so every feed, manifest, licence and status
document any test produces is checked, not only those a test remembers to check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import regress
from jsonschema import Draft7Validator, FormatChecker, ValidationError, validators
from jsonschema.protocols import Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

SCHEMAS = Path(__file__).parent / "schemas"
PUBLICATION = "https://readium.org/webpub-manifest/schema/publication.schema.json"
OPDS_FEED = "https://drafts.opds.io/schema/feed.schema.json"
OPDS_PUBLICATION = "https://drafts.opds.io/schema/publication.schema.json"
OPDS_AUTHENTICATION = "https://drafts.opds.io/schema/authentication.schema.json"
LCP_LICENSE = "https://readium.org/lcp-specs/schema/license.schema.json"
LCP_STATUS = "https://readium.org/lcp-specs/schema/status.schema.json"
LOCATOR = "https://readium.org/architecture/schema/locator.schema.json"

DRAFT_07 = "http://json-schema.org/draft-07/schema#"
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


def _contents(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        # readium/architecture's locator schema has a trailing comma (not JSON); that is all we repair
        return json.loads(_TRAILING_COMMA.sub(r"\1", text))


@cache
def registry() -> Registry[Any]:
    """Every kept schema, by its ``$id``; no retrieval function, so an unknown ``$ref`` fails instead of
    reaching the network."""
    resources = []
    for path in sorted(SCHEMAS.rglob("*.schema.json")):
        contents = _contents(path)
        # Every kept schema is draft-07. Its $schema is set aside (the registry knows the draft): jsonschema picks
        # a validator class by $schema at each $ref, and ours (ECMAScript patterns) must stay the one in use.
        assert contents.pop("$schema", DRAFT_07) == DRAFT_07, path
        resources.append((contents["$id"], Resource.from_contents(contents, default_specification=DRAFT7)))
    return Registry().with_resources(resources)


@cache
def _regex(pattern: str) -> regress.Regex:
    return regress.Regex(pattern)


def _ecmascript_pattern(validator: Validator, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[Any]:
    if validator.is_type(instance, "string") and _regex(pattern).find(instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r} (ECMAScript)")


_FORMATS = FormatChecker()


@_FORMATS.checks("regex", raises=regress.RegressError)
def _is_ecmascript_regex(instance: object) -> bool:
    if isinstance(instance, str):
        _regex(instance)
    return True


OfficialValidator = validators.extend(Draft7Validator, {"pattern": _ecmascript_pattern})  # type: ignore[no-untyped-call]


@cache
def validator(schema_id: str) -> Validator:
    schema = registry().contents(schema_id)
    checker: Validator = OfficialValidator(schema, registry=registry(), format_checker=_FORMATS)
    return checker


def errors(document: Any, schema_id: str) -> list[str]:
    """Every way ``document`` breaks the schema, as readable lines (empty when it is valid)."""
    found = sorted(validator(schema_id).iter_errors(document), key=lambda error: list(error.absolute_path))
    return [f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}" for error in found]


def assert_valid(document: Any, schema_id: str, what: str = "") -> None:
    problems = errors(document, schema_id)
    assert not problems, f"{what or schema_id} is not valid:\n" + "\n".join(problems[:20])


def assert_valid_positions(document: Any, what: str = "positions list") -> None:
    """A Readium positions list (architecture/models/locators/positions): ``total`` and Locator Objects, which
    the official locator schema checks one by one (there is no schema of the list itself)."""
    assert isinstance(document, dict), what
    assert set(document) == {"total", "positions"}, f"{what}: {sorted(document)}"
    assert isinstance(document["total"], int), what
    assert document["total"] == len(document["positions"]), what
    for index, locator in enumerate(document["positions"]):
        assert_valid(locator, LOCATOR, f"{what}, position {index + 1}")


def _opds(document: Any) -> str:
    return OPDS_FEED if {"publications", "navigation", "groups"} & set(document) else OPDS_PUBLICATION


# media type of a successful answer -> the schema its body must satisfy
_BY_MEDIA_TYPE: dict[str, Any] = {
    "application/webpub+json": lambda _: PUBLICATION,
    "application/opds+json": _opds,
    "application/opds-publication+json": lambda _: OPDS_PUBLICATION,
    "application/opds-authentication+json": lambda _: OPDS_AUTHENTICATION,
    "application/vnd.readium.lcp.license.v1.0+json": lambda _: LCP_LICENSE,
    "application/vnd.readium.license.status.v1.0+json": lambda _: LCP_STATUS,
}
POSITIONS = "application/vnd.readium.position-list+json"
validated: list[str] = []  # media types of the documents checked in this process (tests assert it grows)


def validate_response(response: httpx.Response) -> None:
    """Check a received document against its official schema, chosen by its media type (others pass)."""
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    if response.request.method == "HEAD" or not response.content:
        return
    if media_type == POSITIONS:
        assert_valid_positions(response.json(), f"{response.request.url.path}")
    elif media_type in _BY_MEDIA_TYPE:
        document = response.json()
        assert_valid(document, _BY_MEDIA_TYPE[media_type](document), f"{media_type} from {response.request.url.path}")
    else:
        return
    validated.append(media_type)


async def _validate_response_hook(response: httpx.Response) -> None:
    await response.aread()
    validate_response(response)


VALIDATE_RESPONSES: dict[str, list[Any]] = {"response": [_validate_response_hook]}
