"""One canonical spelling of a resource path: every variant of a path means that path, or nothing."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reader.domain.packaging import Limits, ZipEntry, zip_problems
from reader.domain.resource_paths import (
    archive_index,
    canonical_path,
    container_path_of,
    resolve_reference,
    servable,
    url_of,
)

# What the HTTP layer hands over once it has percent-decoded the request path (e.g. %2f -> /, %5c -> \).
SPELLINGS_OF_THE_PDF = [
    "publication.pdf",
    "publication.pdf/",
    "/publication.pdf",  # %2fpublication.pdf
    "./publication.pdf",  # .%2fpublication.pdf
    "//publication.pdf",
    "///publication.pdf//",
    "a/../publication.pdf",
    "a/b/../../publication.pdf",
    "./././publication.pdf",
    "publication.pdf/.",
    "publication.pdf\\",  # publication.pdf%5c
    "\\publication.pdf",
    ".\\publication.pdf",
    "a\\..\\publication.pdf",
]


@pytest.mark.parametrize("spelling", SPELLINGS_OF_THE_PDF)
def test_every_spelling_of_a_path_is_that_path(spelling: str) -> None:
    assert canonical_path(spelling) == "publication.pdf"


@pytest.mark.parametrize(
    "spelling",
    [
        "%2fpublication.pdf",  # a second level of encoding (%252f) stays a name, never a separator
        "PUBLICATION.PDF",
        "publication.pdf.",
        "ｐublication.pdf",  # fullwidth letter: a different name (NFC, not NFKC)
        "publication.pdf%00",
    ],
)
def test_other_names_stay_other_names(spelling: str) -> None:
    assert canonical_path(spelling) != "publication.pdf"


@pytest.mark.parametrize("spelling", ["", "/", ".", "./", "..", "../publication.pdf", "a/../../x", "x\x00", "x\n"])
def test_paths_that_name_nothing(spelling: str) -> None:
    assert canonical_path(spelling) is None


def test_unicode_forms_are_one_name() -> None:
    composed = "OPS/chương một.xhtml"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    assert canonical_path(decomposed) == canonical_path(composed) == composed
    assert archive_index([decomposed, "OPS/", "mimetype"]) == {composed: decomposed, "mimetype": "mimetype"}


@pytest.mark.parametrize(
    "path", ["META-INF/container.xml", "META-INF/license.lcpl", "meta-inf/encryption.xml", "mimetype", "MimeType"]
)
def test_the_containers_own_files_are_never_served(path: str) -> None:
    canonical = canonical_path(path)
    assert canonical is not None
    assert not servable(canonical)


def test_names_differing_in_unicode_form_are_one_entry_too_many() -> None:
    name = "OPS/chương.xhtml"
    entries = [ZipEntry(name, 10, 10), ZipEntry(unicodedata.normalize("NFD", name), 10, 10)]
    assert any("appears twice" in problem for problem in zip_problems(entries, Limits()))


SEGMENT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="/\\"), min_size=1, max_size=8
).filter(lambda segment: segment not in (".", ".."))


@st.composite
def spellings(draw: st.DrawFn) -> tuple[str, str]:
    """A canonical path and one way of spelling it: doubled, leading and trailing separators, backslashes,
    ``.`` segments, detours through ``x/..``, a decomposed Unicode form."""
    segments = [unicodedata.normalize("NFC", s) for s in draw(st.lists(SEGMENT, min_size=1, max_size=5))]
    canonical = "/".join(segments)
    parts: list[str] = []
    for segment in segments:
        for _ in range(draw(st.integers(0, 2))):
            parts.append(draw(st.sampled_from([".", "", "x/..", "x\\.."])))
        parts.append(unicodedata.normalize("NFD", segment) if draw(st.booleans()) else segment)
    separator = draw(st.sampled_from(["/", "\\", "//", "/./"]))
    spelled = draw(st.sampled_from(["", "/", "./", "\\"])) + separator.join(parts)
    return canonical, spelled + draw(st.sampled_from(["", "/", "/.", "\\"]))


@given(spellings())
def test_any_spelling_of_a_path_is_that_path(case: tuple[str, str]) -> None:
    canonical, spelled = case
    assert canonical_path(spelled) == canonical


@given(st.text(max_size=40))
def test_a_canonical_path_is_final(text: str) -> None:
    canonical = canonical_path(text)
    if canonical is not None:
        assert canonical_path(canonical) == canonical
        assert not canonical.startswith("/")
        assert "\\" not in canonical
        assert ".." not in canonical.split("/")
        assert canonical == unicodedata.normalize("NFC", canonical)


@pytest.mark.parametrize(
    ("base", "href", "expected"),
    [
        ("OPS", "chapter.xhtml", "OPS/chapter.xhtml"),
        ("OPS", "/OPS/chapter.xhtml", "OPS/chapter.xhtml"),  # container-root-relative
        ("OPS/text", "../images/a%20b.png", "OPS/images/a b.png"),
        ("OPS", "chapter.xhtml#p%C3%A0", "OPS/chapter.xhtml#p%C3%A0"),  # the fragment is kept as written
        ("OPS", "ch%23apter.xhtml", "OPS/ch#apter.xhtml"),  # an escaped # is part of the name
        ("OPS", "https://example.org/a.mp3", "https://example.org/a.mp3"),  # a remote resource
        ("OPS", "chương.xhtml", unicodedata.normalize("NFD", "OPS/chương.xhtml")),  # the archive's spelling
        ("", "/", ""),
    ],
)
def test_references_resolve_to_container_paths(base: str, href: str, expected: str) -> None:
    entries = archive_index([unicodedata.normalize("NFD", "OPS/chương.xhtml"), "OPS/chapter.xhtml"])
    assert resolve_reference(base, href, entries) == expected


@pytest.mark.parametrize(
    ("path", "url"),
    [
        ("OPS/chapter.xhtml", "OPS/chapter.xhtml"),
        ("OPS/book style.css", "OPS/book%20style.css"),
        ("OPS/chương.xhtml#mục-1", "OPS/ch%C6%B0%C6%A1ng.xhtml#m%E1%BB%A5c-1"),
        ("OPS/100%?#.xhtml", "OPS/100%25%3F#.xhtml"),  # '#' starts the fragment; '%' and '?' are escaped
        ("chapter:1.xhtml", "chapter%3A1.xhtml"),  # never read as a scheme
        ("https://example.org/a b.mp3", "https://example.org/a b.mp3"),  # a remote resource's URL is its own
    ],
)
def test_container_paths_are_written_as_urls_and_read_back(path: str, url: str) -> None:
    assert url_of(path) == url
    if not path.startswith("https:"):
        assert container_path_of(url) == path.partition("#")[0]
        assert container_path_of(url + "?occurrence=2") == path.partition("#")[0]
