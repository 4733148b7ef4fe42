"""The restore drill (deploy/local/restore_drill.py) on the local servers: back up, lose the databases, restore,
rewind the consumer groups — nothing lost, nothing applied twice, every loan with its licence."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from local_platform import Platform
from restore_drill import run_drill

pytestmark = pytest.mark.integration


@pytest.fixture
def platform(stack_env: dict[str, str], tmp_path: Path) -> Iterator[Platform]:
    platform = Platform(tmp_path / "platform", stack_env, namespace=f"drill{uuid.uuid4().hex[:6]}")
    platform.start()
    yield platform
    platform.stop()


async def test_a_restore_loses_no_event_and_applies_none_twice(platform: Platform) -> None:
    drill = await run_drill(platform)
    assert drill.checks
    failed = [name for name, passed in drill.checks.items() if not passed]
    assert not failed, f"restore drill failed: {failed}\n" + "\n".join(drill.steps)
