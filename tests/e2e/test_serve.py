"""web/scripts/serve.mjs, the app's own small server: paths it must refuse, the app's routes, its headers."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

SERVE = Path(__file__).resolve().parents[2] / "web" / "scripts" / "serve.mjs"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    if shutil.which("node") is None:
        pytest.skip("needs node")
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>app</title>", encoding="utf-8")
    (dist / "assets" / "app.js").write_text("console.log(1)", encoding="utf-8")
    sibling = tmp_path / "dist-secret"  # a folder whose name starts with "dist"
    sibling.mkdir()
    (sibling / "key.txt").write_text("secret", encoding="utf-8")
    services = tmp_path / "services.json"
    services.write_text(json.dumps({"lending": {"http_port": 9}}), encoding="utf-8")
    process = subprocess.Popen(
        ["node", str(SERVE), "--dist", str(dist), "--services", str(services), "--port", "0"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("listening on "), line
        yield line.removeprefix("listening on ")
    finally:
        process.terminate()
        process.wait(timeout=10)


def raw_get(base: str, path: str) -> httpx.Response:
    """A GET with the path sent exactly as written (no client-side normalisation)."""
    with httpx.Client(base_url=base, timeout=10) as client:
        request = client.build_request("GET", "/")
        request.url = request.url.copy_with(raw_path=path.encode())
        return client.send(request)


def test_a_malformed_escape_is_a_bad_request_and_the_server_keeps_serving(served: str) -> None:
    assert raw_get(served, "/%E0%A4%A").status_code == 400
    assert raw_get(served, "/assets/app.js").status_code == 200


@pytest.mark.parametrize(
    "path", ["/../dist-secret/key.txt", "/%2e%2e/dist-secret/key.txt", "/..%2fdist-secret%2fkey.txt"]
)
def test_a_sibling_folder_named_like_dist_is_never_served(served: str, path: str) -> None:
    response = raw_get(served, path)
    assert "secret" not in response.text
    assert response.status_code in (400, 404) or "<title>app</title>" in response.text


def test_the_apps_own_paths_answer_with_the_app_and_its_security_headers(served: str) -> None:
    for path in ("/holds", "/settings/notifications", "/title/abc"):
        response = raw_get(served, path)
        assert response.status_code == 200, path
        assert "<title>app</title>" in response.text
        policy = response.headers["content-security-policy"]
        assert "script-src http://" in policy
        assert "/assets/ blob:" in policy
        assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
        assert "worker-src 'self'" in policy  # the app's own service worker, and no other
    assert raw_get(served, "/missing.js").status_code == 404
