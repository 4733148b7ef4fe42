"""Principle 4: every topic a service consumes has a handler, and every handler's event travels on a topic it reads."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from drm.entrypoints.consumers import DrmHandlers, drm_consumers
from lending.entrypoints.consumers import LendingHandlers, lending_consumers
from notify.entrypoints.consumers import notify_consumers
from notify.service_layer.handlers import NotifyHandlers
from reader.entrypoints.consumers import ReaderHandlers, reader_consumers
from sachso.kit.consumer import HandlerRegistry
from sachso.kit.topics import DOMAIN_TOPICS

TOPICS = {topic.name: topic for topic in DOMAIN_TOPICS}
ROOT = Path(__file__).resolve().parents[2]

REGISTRIES: dict[str, Callable[[], HandlerRegistry]] = {
    "notify": lambda: notify_consumers(NotifyHandlers(cast(Any, None)), cast(Any, None)),
    "drm": lambda: drm_consumers(DrmHandlers(cast(Any, None), cast(Any, None), cast(Any, None))),
    "reader": lambda: reader_consumers(ReaderHandlers(cast(Any, None))),
    "lending": lambda: lending_consumers(LendingHandlers(cast(Any, None), cast(Any, None), cast(Any, None))),
}


@pytest.mark.parametrize("service", sorted(REGISTRIES))
def test_every_consumed_topic_has_a_handler(service: str) -> None:
    registry: HandlerRegistry = REGISTRIES[service]()
    assert registry.topics, f"{service} registers a consumer group without topics"
    for topic in registry.topics:
        assert topic in TOPICS, f"{service} consumes {topic}, which is not a domain topic"
        assert registry.event_types & TOPICS[topic].event_types, f"{service} reads {topic} but handles none of it"
    carried = frozenset().union(*(TOPICS[topic].event_types for topic in registry.topics))
    assert registry.event_types <= carried, "a handler waits for an event no consumed topic carries"


@pytest.mark.parametrize("language", ["en", "vi"])
def test_the_restore_runbook_rewinds_every_group_on_the_topics_it_reads(language: str) -> None:
    """deploy/k8s/runbooks/*/restore.md names each group's topics for ``python -m sachso.kit.restore``."""
    runbook = ROOT / "deploy" / "k8s" / "runbooks" / language / "restore.md"
    named = dict(re.findall(r"--consumer (\w+)=([\w.,]+)", runbook.read_text(encoding="utf-8")))
    expected = {}
    for build in REGISTRIES.values():
        registry: HandlerRegistry = build()
        expected[registry.group] = ",".join(registry.topics)
    assert named == expected
