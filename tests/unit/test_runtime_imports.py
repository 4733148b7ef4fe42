"""The images install requirements/base.lock only: code that runs in a service imports nothing else.

A stubs package imported at run time (``types_aiobotocore_s3``, a dev dependency) once made every image fail at
start; the image test (tests/images) catches such drift too, but only after a long build — this finds it in a
second. Imports under ``if TYPE_CHECKING:`` are for mypy and never run.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = {"sachso", "lending", "reader", "drm", "notify"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_distributions() -> set[str]:
    text = (ROOT / "requirements" / "base.lock").read_text(encoding="utf-8")
    return {_normalise(name) for name in re.findall(r"^([A-Za-z0-9_.-]+)==", text, flags=re.MULTILINE)}


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def runtime_imports(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports when it runs (lazy imports in functions included)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _type_checking_only(node):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return found


def test_service_code_imports_only_what_the_images_install() -> None:
    locked = locked_distributions()
    providers = importlib.metadata.packages_distributions()
    sources = [*(ROOT / "libs" / "sachso").rglob("*.py"), *(ROOT / "services").rglob("*.py")]
    missing: dict[str, set[str]] = {}
    for path in sources:
        for module in runtime_imports(path) - FIRST_PARTY - set(sys.stdlib_module_names):
            if not any(_normalise(dist) in locked for dist in providers.get(module, [])):
                missing.setdefault(module, set()).add(str(path.relative_to(ROOT)))
    assert not missing, f"imported at run time but not in requirements/base.lock: {missing}"
