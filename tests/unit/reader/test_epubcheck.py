"""Without Java, ingest says so with a problem (503 epubcheck-unavailable), not a traceback (issue 20)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reader.adapters import epubcheck
from reader.adapters.epubcheck import EpubCheck, EpubCheckUnavailable
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
