"""The streaming fast path reads only the request headers its answer depends on (the rest: integration tests)."""

from __future__ import annotations

from reader.entrypoints.streaming_fast_path import _request_headers


def test_the_headers_the_answer_depends_on_are_read_and_no_others() -> None:
    raw = [
        (b"host", b"reader"),
        (b"range", b"bytes=0-9"),
        (b"if-range", b'"a"'),
        (b"if-none-match", b'"b"'),
        (b"accept-encoding", b"gzip"),
        (b"user-agent", b"test"),
    ]
    assert _request_headers(raw) == ({"range": "bytes=0-9", "if-range": '"a"', "if-none-match": '"b"'}, "gzip")


def test_none_of_them_is_a_plain_get() -> None:
    assert _request_headers([(b"host", b"reader")]) == ({}, "")


def test_a_repeated_header_counts_by_its_last_value_as_the_framework_s_dict_of_headers_does() -> None:
    raw = [(b"range", b"bytes=0-1"), (b"accept-encoding", b"gzip"), (b"range", b"bytes=5-9"), (b"accept-encoding", b"")]
    assert _request_headers(raw) == ({"range": "bytes=5-9"}, "")


def test_a_cross_origin_request_is_handed_on() -> None:
    assert _request_headers([(b"range", b"bytes=0-9"), (b"origin", b"https://elsewhere.example")]) is None
