"""RFC 9110 ranges and conditionals, case by case (the spec's own examples where it gives them)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reader.domain.ranges import (
    MAX_POSITION_DIGITS,
    ByteRange,
    Full,
    NotModified,
    Partial,
    Unsatisfiable,
    parse_ranges,
    plan,
)

ETAG = '"abc"'
DATE = "Wed, 25 Nov 2026 10:00:00 GMT"


def ask(length: int, **headers: str) -> object:
    return plan(length, ETAG, DATE, {key.replace("_", "-"): value for key, value in headers.items()})


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-499", [(0, 499)]),  # RFC 9110 14.1.2 examples, on a 10,000-byte representation
        ("bytes=500-999", [(500, 999)]),
        ("bytes=-500", [(9500, 9999)]),
        ("bytes=9500-", [(9500, 9999)]),
        ("bytes=0-0,-1", [(0, 0), (9999, 9999)]),
        ("bytes= 500-600 , 601-999", [(500, 600), (601, 999)]),
        ("bytes=9000-20000", [(9000, 9999)]),  # last position clipped
        ("bytes=-20000", [(0, 9999)]),  # suffix longer than the representation
        ("bytes=20000-,0-9", [(0, 9)]),  # the unsatisfiable range is dropped
        ("BYTES=0-9", [(0, 9)]),  # the unit is case-insensitive
    ],
)
def test_range_specs(header: str, expected: list[tuple[int, int]]) -> None:
    ranges = parse_ranges(header, 10_000)
    assert ranges is not None
    assert [(r.first, r.last) for r in ranges] == expected


@pytest.mark.parametrize(
    "header", ["items=0-9", "bytes=", "bytes=abc", "bytes=9-0", "bytes=-", "bytes=" + ",".join(["0-1"] * 65)]
)
def test_malformed_or_foreign_ranges_are_ignored(header: str) -> None:
    assert parse_ranges(header, 100) is None
    assert isinstance(ask(100, range=header), Full)


def test_unsatisfiable_ranges() -> None:
    assert isinstance(ask(100, range="bytes=100-"), Unsatisfiable)
    assert isinstance(ask(100, range="bytes=-0"), Unsatisfiable)
    assert isinstance(ask(0, range="bytes=-5"), Unsatisfiable)  # nothing to send from an empty representation
    assert isinstance(ask(0, range="bytes=0-"), Unsatisfiable)


def test_overlapping_and_adjacent_ranges_are_coalesced() -> None:
    result = ask(1000, range="bytes=500-600,0-99,100-199,550-700")
    assert result == Partial((ByteRange(0, 199), ByteRange(500, 700)))


def test_if_none_match_and_if_range() -> None:
    assert isinstance(ask(10, if_none_match='"abc"'), NotModified)
    assert isinstance(ask(10, if_none_match='W/"abc"'), NotModified)  # weak comparison
    assert isinstance(ask(10, if_none_match='"x", *'), NotModified)
    assert isinstance(ask(10, if_none_match='"x"'), Full)
    assert isinstance(ask(10, if_none_match='"abc"', range="bytes=0-1"), NotModified)  # checked before Range
    assert isinstance(ask(10, range="bytes=0-1", if_range='"abc"'), Partial)
    assert isinstance(ask(10, range="bytes=0-1", if_range=DATE), Partial)
    assert isinstance(ask(10, range="bytes=0-1", if_range='"old"'), Full)  # changed since: the whole thing
    assert isinstance(ask(10, range="bytes=0-1", if_range='W/"abc"'), Full)  # If-Range needs a strong validator


@given(length=st.integers(min_value=0, max_value=5000), first=st.integers(0, 6000), size=st.integers(0, 6000))
def test_every_planned_range_lies_inside_the_representation(length: int, first: int, size: int) -> None:
    result = ask(length, range=f"bytes={first}-{first + size},-{size}")
    if isinstance(result, Partial):
        for r in result.ranges:
            assert 0 <= r.first <= r.last < length
        assert all(a.last + 1 < b.first for a, b in zip(result.ranges, result.ranges[1:], strict=False))
    else:
        assert isinstance(result, Unsatisfiable)
        assert first >= length
        assert size == 0 or length == 0


HUGE = "9" * 5000


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"bytes=0-{HUGE}", Partial((ByteRange(0, 99),))),  # a last position past any end is clipped
        (f"bytes={HUGE}-", Unsatisfiable()),
        (f"bytes={HUGE}-{HUGE}", Unsatisfiable()),
        (f"bytes=-{HUGE}", Partial((ByteRange(0, 99),))),  # a suffix longer than everything is everything
        (f"bytes={'0' * 5000}5-9", Partial((ByteRange(5, 9),))),  # leading zeros are only zeros
        (f"bytes={HUGE}-{HUGE[:-1]}", Full()),  # last before first: invalid, ignored
        ("bytes=٣-٥", Full()),  # Arabic-Indic digits are not DIGIT (RFC 5234)
        ("bytes=\u00a00-1", Full()),  # nor is a no-break space white space in a header
    ],
)
def test_positions_of_any_length(header: str, expected: object) -> None:
    assert ask(100, range=header) == expected


@given(
    st.one_of(
        st.text(max_size=80),
        st.from_regex(r"\A[bB][yY][tT][eE][sS] ?= ?([0-9]{0,40} ?- ?[0-9]{0,40} ?,? ?){1,5}\Z"),
        st.builds(
            lambda a, b: f"bytes={a}-{b}", st.text("0123456789", max_size=6000), st.text("0123456789", max_size=6000)
        ),
    ),
    st.integers(0, 10**12),
    st.sampled_from([None, '"abc"', 'W/"abc"', DATE, "garbage"]),
)
def test_any_range_header_gets_an_answer_inside_the_representation(
    header: str, length: int, if_range: str | None
) -> None:
    headers = {"range": header} | ({"if-range": if_range} if if_range is not None else {})
    result = plan(length, ETAG, DATE, headers)
    assert isinstance(result, Full | Partial | Unsatisfiable)
    if isinstance(result, Partial):
        assert 0 < len(result.ranges) <= 64
        for r in result.ranges:
            assert 0 <= r.first <= r.last < length


POSITIONS = st.text("0123456789", max_size=MAX_POSITION_DIGITS + 2)


@given(first=POSITIONS, last=POSITIONS, length=st.integers(0, 10**19))
def test_the_one_range_form_is_decided_as_the_general_parse_decides_it(first: str, last: str, length: int) -> None:
    # "bytes=a-b" is matched at once; with white space after "=" the same range takes the general parse
    assert parse_ranges(f"bytes={first}-{last}", length) == parse_ranges(f"bytes= {first}-{last}", length)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-4095", Partial((ByteRange(0, 4095),))),
        ("bytes=4000-", Partial((ByteRange(4000, 9999),))),
        ("bytes=-10", Partial((ByteRange(9990, 9999),))),
        ("bytes=10000-", Unsatisfiable()),
        ("bytes=-0", Unsatisfiable()),
        ("bytes=10-9", Full()),  # last before first: ignored
        ("bytes=-", Full()),
        (f"bytes=0-{'9' * MAX_POSITION_DIGITS}", Partial((ByteRange(0, 9999),))),
        (f"bytes=0-{'9' * (MAX_POSITION_DIGITS + 1)}", Partial((ByteRange(0, 9999),))),  # the general parse
    ],
)
def test_one_range(header: str, expected: object) -> None:
    assert ask(10_000, range=header) == expected
