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
    "sachso",
}
# Pure modules of the shared package that a domain may use (no I/O, no clients).
PURE_KIT_MODULES = {"sachso.kit.text", "sachso.kit.errors"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif (
            isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module not in PURE_KIT_MODULES
        ):
            modules.add(node.module.split(".")[0])
    return modules


@pytest.mark.parametrize("service", SERVICES)
def test_domain_code_does_no_io(service: str) -> None:
    """Principle 1: nothing under a service's domain package imports a client or framework."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_modules(path) & IO_MODULES)
        for path in (ROOT / "services" / service / "domain").rglob("*.py")
    }
    assert {path: modules for path, modules in offenders.items() if modules} == {}


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
