"""Without Java, ingest says so with a problem (503 epubcheck-unavailable), not a traceback (issue 20)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reader.adapters import epubcheck
from reader.adapters.epubcheck import EpubCheck, EpubCheckTimedOut, EpubCheckUnavailable
from sachso.kit.errors import DependencyUnavailable


async def test_no_java_is_a_503_problem_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # neither javac nor java can be found
    monkeypatch.setattr(epubcheck, "PRECOMPILED", tmp_path / "not-built")
    book = tmp_path / "book.epub"
    book.write_bytes(b"PK")
    with pytest.raises(EpubCheckUnavailable, match="javac") as raised:
        await EpubCheck(tmp_path / "work").check(book)
    assert isinstance(raised.value, DependencyUnavailable)
    assert raised.value.to_problem()["status"] == 503
    assert raised.value.to_problem()["type"].endswith("/epubcheck-unavailable")


async def test_a_worker_built_into_the_image_needs_only_java(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = tmp_path / "image-java"
    built.mkdir()
    (built / "EpubCheckWorker.class").write_bytes(b"\xca\xfe\xba\xbe")
    monkeypatch.setattr(epubcheck, "PRECOMPILED", built)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # javac would be needed only to compile it here
    with pytest.raises(EpubCheckUnavailable, match="no Java runtime"):
        await EpubCheck(tmp_path / "work").check(tmp_path / "book.epub")


async def test_a_check_that_takes_too_long_is_a_503_with_retry_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stuck EPUBCheck must not answer 500: ingest says 503 epubcheck-unavailable with ``Retry-After`` (the seed
    and publishers send the book again), and the stuck worker is stopped so the next book gets a fresh one."""
    built = tmp_path / "image-java"
    built.mkdir()
    (built / "EpubCheckWorker.class").write_bytes(b"\xca\xfe\xba\xbe")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    java = bin_dir / "java"
    java.write_text("#!/bin/sh\nexec sleep 600\n")  # a JVM that never answers
    java.chmod(0o755)
    monkeypatch.setattr(epubcheck, "PRECOMPILED", built)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    book = tmp_path / "book.epub"
    book.write_bytes(b"PK")
    checker = EpubCheck(tmp_path / "work", timeout_seconds=0.2)
    with pytest.raises(EpubCheckTimedOut) as raised:
        await checker.check(book)
    problem = raised.value.to_problem()
    assert (problem["status"], problem["type"].rsplit("/", 1)[-1]) == (503, "epubcheck-unavailable")
    assert raised.value.http_headers() == {"Retry-After": "30"}
    assert checker._process is not None
    assert checker._process.returncode is not None  # the stuck worker is gone
