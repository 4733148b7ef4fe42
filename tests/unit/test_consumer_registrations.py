"""Principle 4: every topic a service consumes has a handler, and every handler's event travels on a topic it reads.

The groups come from the code (deploy/local/consumer_groups.py finds every function that builds one), so a group
added to a service is checked here, in the chart tests and in the restore runbook without being listed anywhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from consumer_groups import service_consumers

from sachso.kit.consumer import HandlerRegistry
from sachso.kit.restore import parse_consumer
from sachso.kit.topics import DOMAIN_TOPICS

TOPICS = {topic.name: topic for topic in DOMAIN_TOPICS}
ROOT = Path(__file__).resolve().parents[2]
# service -> every consumer group its code builds (the reader: ``reader`` and the OCR workers' ``reader-ocr``)
CONSUMERS: dict[str, list[HandlerRegistry]] = service_consumers()
GROUPS = {registry.group: (service, registry) for service, registries in CONSUMERS.items() for registry in registries}


def test_the_groups_are_found_in_the_code() -> None:
    assert set(CONSUMERS) == {"lending", "reader", "drm", "notify"}
    assert {"lending", "reader", "reader-ocr", "drm", "notify"} <= set(GROUPS)
    assert len(GROUPS) == sum(len(registries) for registries in CONSUMERS.values()), "a group name is used twice"


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_every_consumed_topic_has_a_handler(group: str) -> None:
    service, registry = GROUPS[group]
    assert registry.topics, f"{service} registers consumer group {group} without topics"
    for topic in registry.topics:
        assert topic in TOPICS, f"{group} consumes {topic}, which is not a domain topic"
        assert registry.event_types & TOPICS[topic].event_types, f"{group} reads {topic} but handles none of it"
    carried = frozenset().union(*(TOPICS[topic].event_types for topic in registry.topics))
    assert registry.event_types <= carried, "a handler waits for an event no consumed topic carries"


@pytest.mark.parametrize("language", ["en", "vi"])
def test_the_restore_runbook_rewinds_every_group_on_the_topics_it_reads(language: str) -> None:
    """deploy/k8s/runbooks/*/restore.md names each group, its service and its topics for
    ``python -m sachso.kit.restore``."""
    runbook = ROOT / "deploy" / "k8s" / "runbooks" / language / "restore.md"
    arguments = re.findall(r"--consumer ([\w:.,=-]+)", runbook.read_text(encoding="utf-8"))
    named = [parse_consumer(argument) for argument in arguments]
    assert {(spec.group, spec.service, spec.topics) for spec in named} == {
        (group, service, registry.topics) for group, (service, registry) in GROUPS.items()
    }
    assert len(named) == len(GROUPS), "a group is named twice"
