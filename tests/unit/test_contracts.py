"""The contract checks CI relies on really catch what they promise to catch."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sachso.events.v1 import lending_events_pb2
from sachso.kit.consumer import HandlerRegistry

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / ".venv" / "bin" / "buf"


def test_buf_breaking_refuses_a_renumbered_field(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "proto", tmp_path / "proto")
    events = tmp_path / "proto" / "sachso" / "events" / "v1" / "lending_events.proto"
    text = events.read_text(encoding="utf-8")
    events.write_text(text.replace("string card_number = 3;", "string card_number = 30;", 1), encoding="utf-8")
    result = subprocess.run(
        [BUF, "breaking", "proto", "--against", "proto/baseline.binpb"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "card_number" in result.stdout + result.stderr


def test_buf_breaking_accepts_the_current_contract() -> None:
    result = subprocess.run(
        [BUF, "breaking", "proto", "--against", "proto/baseline.binpb"], cwd=ROOT, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_a_consumer_group_cannot_register_two_handlers_for_one_event() -> None:
    async def handler(*_: object) -> None:
        return None

    registry = HandlerRegistry("notify", ["sachso.lending.events.v1"])
    registry.register(lending_events_pb2.PatronApproved, handler)
    with pytest.raises(ValueError, match="two handlers"):
        registry.register(lending_events_pb2.PatronApproved, handler)
