"""The whole platform, seeded, with the built web app served from one origin, for tests in a real browser.

Started once per session: its own local servers (``SACHSO_TEST_STACK_DIR``, as the integration tests), the four
services, the seed (``deploy/local/seed.py``), ``npm ci`` + ``npm run build`` of ``web/`` when it is out of date, and
``web/scripts/serve.mjs`` proxying the APIs. Chromium is Debian's (/usr/bin/chromium), driven by npm
playwright-core: no browser is ever downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from local_platform import Platform, read_env_file
from seed import Seeded, seed
from stack import LocalStack

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
ARTIFACTS = ROOT / "test-artifacts"
STATE_DIR = Path(os.environ.get("SACHSO_TEST_STACK_DIR", ROOT / ".local" / "test-stack")) / "e2e"
CHROMIUM = Path(os.environ.get("SACHSO_CHROMIUM", "/usr/bin/chromium"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: drives the web app in headless Chromium against the whole platform")


def _newest(folder: Path) -> float:
    return max((path.stat().st_mtime for path in folder.rglob("*") if path.is_file()), default=0.0)


def build_web() -> None:
    """``npm ci`` when the lock file changed, ``npm run build`` when a source did."""
    installed = WEB / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < (WEB / "package-lock.json").stat().st_mtime:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=WEB, check=True)
    built = WEB / "dist" / "index.html"
    sources = max(_newest(WEB / "src"), _newest(WEB / "public"), (WEB / "index.html").stat().st_mtime)
    if not built.exists() or built.stat().st_mtime < sources:
        subprocess.run(["npm", "run", "build", "--silent"], cwd=WEB, check=True, stdout=subprocess.DEVNULL)


@dataclass(frozen=True)
class WebApp:
    base: str
    platform: Platform
    seeded: Seeded


@pytest.fixture(scope="session")
def web_app() -> Iterator[WebApp]:
    if not CHROMIUM.exists() or shutil.which("node") is None:
        pytest.skip("needs Debian chromium and node")
    build_web()
    ARTIFACTS.mkdir(exist_ok=True)
    stack = LocalStack(STATE_DIR / "stack")
    stack.stop()
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    stack.start()
    platform = Platform(
        STATE_DIR / "platform",
        read_env_file(STATE_DIR / "stack" / "stack.env"),
        namespace=f"e2e{uuid.uuid4().hex[:6]}",
        # Chromium's push service is out of reach here: a browser subscription in the tests points at a local
        # receiver that decrypts what notify sends (tests/e2e/test_offline.py), which notify accepts only in tests.
        overrides={"notify": {"ENVIRONMENT": "test", "PUSH_ALLOW_LOCAL_TEST_RECEIVER": "true"}},
    )
    server: subprocess.Popen[str] | None = None
    try:
        platform.start()
        seeded = seed(platform.seed_target())
        server = subprocess.Popen(
            ["node", str(WEB / "scripts" / "serve.mjs"), "--services", str(STATE_DIR / "platform" / "services.json"),
             "--port", "0"],
            stdout=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        assert server.stdout is not None
        first = server.stdout.readline().strip()
        assert first.startswith("listening on "), first
        yield WebApp(first.removeprefix("listening on "), platform, seeded)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        platform.stop()
        stack.stop()


def run_scenario(
    name: str,
    settings: dict[str, Any],
    answer: dict[str, Any] | None = None,
    timeout: float = 120,
    script: str = "browser.mjs",
) -> dict[str, Any]:
    """Run one scenario of ``script`` (browser.mjs, offline.mjs); ``answer[what](arg)`` answers its ASK lines."""
    process = subprocess.Popen(
        ["node", str(Path(__file__).with_name(script)), name],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(json.dumps({"artifacts": str(ARTIFACTS), "chromium": str(CHROMIUM), **settings}) + "\n")
    process.stdin.flush()
    result: dict[str, Any] | None = None
    try:
        for line in process.stdout:
            if line.startswith("ASK "):
                _, what, arg = line.strip().split(" ", 2)
                process.stdin.write(f"{(answer or {})[what](arg)}\n")
                process.stdin.flush()
            elif line.startswith("RESULT "):
                result = json.loads(line.removeprefix("RESULT "))
        process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
    errors = process.stderr.read() if process.stderr else ""
    (ARTIFACTS / f"{name}.log").write_text(errors)  # what the page said, kept beside the screenshots
    assert process.returncode == 0, f"scenario {name} failed:\n{errors}"
    assert result is not None, f"scenario {name} gave no result:\n{errors}"
    return result
