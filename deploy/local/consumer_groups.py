"""Every Kafka consumer group each service's code can run, found in the code rather than listed by hand.

A consumer group is built by a module-level function annotated ``-> HandlerRegistry`` (``reader_consumers``,
``ocr_consumers``, …) under ``services/<service>/``. This module finds every such function, refuses a
``HandlerRegistry(...)`` built anywhere else (a group that would escape the search), and calls each with stand-in
handlers (each handlers class built with None for what it holds: building a registry only stores the handlers,
it never calls them). The chart tests, the consumer tests, the restore runbook's test and the restore drill all
take the groups from here, so a new group cannot be left out of any of them.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import typing
from pathlib import Path
from typing import Any

from sachso.kit.consumer import HandlerRegistry

ROOT = Path(__file__).resolve().parents[2]
SERVICES_DIR = ROOT / "services"
REGISTRY = HandlerRegistry.__name__


def _stand_in(annotation: Any) -> Any:
    """An argument for a registry factory: the handlers class built with None for what it holds (never run)."""
    if inspect.isclass(annotation) and not getattr(annotation, "_is_protocol", False):
        held = [
            parameter
            for parameter in inspect.signature(annotation).parameters.values()
            if parameter.default is parameter.empty and parameter.kind is not parameter.KEYWORD_ONLY
        ]
        return annotation(*(None for _ in held))
    return None


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(SERVICES_DIR).with_suffix("").parts)


def registry_factories(service: str) -> list[str]:
    """``module:function`` of every function under services/<service>/ that builds a consumer group."""
    factories = []
    for path in sorted((SERVICES_DIR / service).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        builders = [
            node
            for node in tree.body
            if isinstance(node, ast.FunctionDef)
            and node.returns is not None
            and ast.unparse(node.returns).strip("'\"") == REGISTRY
        ]
        factories += [f"{_module_name(path)}:{node.name}" for node in builders]
        inside = {id(call) for node in builders for call in ast.walk(node)}
        for call in ast.walk(tree):
            builds = isinstance(call, ast.Call) and ast.unparse(call.func).split(".")[-1] == REGISTRY
            if builds and id(call) not in inside:
                raise LookupError(
                    f"{path.relative_to(ROOT)}:{getattr(call, 'lineno', '?')} builds a {REGISTRY} outside a "
                    f"module-level function annotated '-> {REGISTRY}': it would escape the chart and restore checks"
                )
    return factories


def services() -> list[str]:
    """The services: the packages under services/."""
    return sorted(path.parent.name for path in SERVICES_DIR.glob("*/__init__.py"))


def service_consumers() -> dict[str, list[HandlerRegistry]]:
    """Each service's consumer groups (registries built with stand-in handlers), ordered by group name."""
    found: dict[str, list[HandlerRegistry]] = {}
    for service in services():
        registries = []
        for factory in registry_factories(service):
            module_name, _, function_name = factory.partition(":")
            build = getattr(importlib.import_module(module_name), function_name)
            hints = typing.get_type_hints(build)
            required = [
                parameter
                for parameter in inspect.signature(build).parameters.values()
                if parameter.default is parameter.empty
            ]
            positional = [_stand_in(hints.get(p.name)) for p in required if p.kind is not p.KEYWORD_ONLY]
            keywords = {p.name: _stand_in(hints.get(p.name)) for p in required if p.kind is p.KEYWORD_ONLY}
            registry = build(*positional, **keywords)
            assert isinstance(registry, HandlerRegistry), factory
            registries.append(registry)
        found[service] = sorted(registries, key=lambda registry: registry.group)
    return found
