"""Structural rules from the style guide, checked on the source tree."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("lending", "reader", "drm", "notify")
IO_MODULES = {
    "pymongo",
    "bson",
    "motor",
    "aiokafka",
    "aiobotocore",
    "botocore",
    "boto3",
    "grpc",
    "fastapi",
    "starlette",
    "httpx",
    "aiosmtplib",
    "uvicorn",
}
# Where the packages of this repository live: ``lending`` is services/lending, ``sachso.kit`` is libs/sachso/kit.
PACKAGE_ROOTS = {"sachso": ROOT / "libs" / "sachso"} | {service: ROOT / "services" / service for service in SERVICES}

# The layers that must do no I/O, per service: nothing in them imports a client or framework, directly or through
# any module of this repository they import (a kit module, another module of the service) — no whitelist.
PURE_LAYERS: dict[str, tuple[str, ...]] = {
    "lending": ("domain", "service_layer"),
    "reader": ("domain", "service_layer"),
    "drm": ("domain", "service_layer"),
    "notify": ("domain", "service_layer"),
}


def module_path(module: str) -> Path | None:
    """The source file of a module of this repository, or None for a third-party or standard module."""
    top, *rest = module.split(".")
    root = PACKAGE_ROOTS.get(top)
    if root is None:
        return None
    base = root.joinpath(*rest)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports (full dotted names; ``from a import b`` also names ``a.b``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def io_reached(module: str) -> dict[str, str]:
    """The I/O packages ``module`` reaches through its imports, each with the repository module importing it."""
    reached: dict[str, str] = {}
    seen: set[str] = set()
    pending = [module]
    while pending:
        current = pending.pop()
        path = module_path(current)
        if current in seen or path is None:
            continue
        seen.add(current)
        for imported in imported_modules(path):
            top = imported.split(".")[0]
            if top in IO_MODULES:
                reached.setdefault(top, current)
            elif module_path(imported) is not None:
                pending.append(imported)
    return reached


def layer_modules() -> list[object]:
    params: list[object] = []
    for service, layers in PURE_LAYERS.items():
        for layer in layers:
            for path in sorted((ROOT / "services" / service / layer).rglob("*.py")):
                relative = path.relative_to(ROOT / "services").with_suffix("")
                name = ".".join(part for part in relative.parts if part != "__init__")
                params.append(pytest.param(name, id=name))
    return params


@pytest.mark.parametrize("module", layer_modules())
def test_domain_and_service_layer_do_no_io(module: str) -> None:
    """Principle 1 (and issue 13): domain and service-layer code reaches no client or framework, transitively."""
    assert io_reached(module) == {}


def test_environment_is_read_only_by_settings() -> None:
    """Principle 7: ``os.environ`` is read nowhere but the settings classes (pydantic-settings)."""
    readers = [
        str(path.relative_to(ROOT))
        for folder in ("services", "libs/sachso/kit")
        for path in (ROOT / folder).rglob("*.py")
        if "os.environ" in path.read_text(encoding="utf-8") or "getenv(" in path.read_text(encoding="utf-8")
    ]
    assert readers == []


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_is_runnable_as_a_module(service: str) -> None:
    main = ROOT / "services" / service / "__main__.py"
    assert f"from {service}.bootstrap import main" in main.read_text(encoding="utf-8")
