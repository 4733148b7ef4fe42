"""Tesseract, the OCR engine, run as its own command: one page image in, hOCR (text with word boxes) out.

The command is the same one an operator would type (``tesseract page.jpg stdout -l vie hocr``); each call is
held to one thread (``OMP_THREAD_LIMIT=1``) so a worker pool scales by processes, one page per core.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from sachso.kit.errors import DependencyUnavailable


class TesseractFailed(Exception):
    """Tesseract could not read this page (a bad image): retried, then dead-lettered."""


def tesseract_command() -> str:
    found = shutil.which("tesseract")
    if found is None:
        raise DependencyUnavailable("the tesseract command is not installed (Debian: tesseract-ocr tesseract-ocr-vie)")
    return found


def hocr_command(image: Path, languages: str) -> list[str]:
    """The command line for one page (shared with the benchmark, which runs it raw)."""
    return [tesseract_command(), str(image), "stdout", "-l", languages, "--psm", "3", "hocr"]


class Tesseract:
    def __init__(self, *, timeout_seconds: float = 300.0) -> None:
        self.timeout_seconds = timeout_seconds

    async def hocr(self, image: Path, languages: str = "vie") -> bytes:
        process = await asyncio.create_subprocess_exec(
            *hocr_command(image, languages),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={"OMP_THREAD_LIMIT": "1"},
        )
        try:
            output, errors = await asyncio.wait_for(process.communicate(), self.timeout_seconds)
        except BaseException:
            process.kill()
            await process.wait()
            raise
        if process.returncode != 0:
            raise TesseractFailed(f"tesseract exited {process.returncode}: {errors.decode(errors='replace')[:500]}")
        return output

    async def languages(self) -> list[str]:
        process = await asyncio.create_subprocess_exec(
            tesseract_command(), "--list-langs", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        output, _ = await process.communicate()
        return [line.strip() for line in output.decode().splitlines()[1:] if line.strip()]
