"""`make up` on a loaded machine: idempotent steps are tried again until a deadline that grows with the work, and
a step that still fails stops everything `up` started and says which step it was (issue 12, item 15)."""

from __future__ import annotations

import ast
import time
from pathlib import Path
from typing import Any

import httpx
import local_platform
import pytest
import seed
import stack

HERE = Path(local_platform.__file__).resolve().parent


def test_seed_and_local_platform_do_not_import_each_other() -> None:
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(ast.parse((HERE / "seed.py").read_text(encoding="utf-8")))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert "local_platform" not in imported


async def test_an_upload_that_times_out_is_sent_again_until_answered() -> None:
    answers: list[Any] = [httpx.ReadTimeout("slow JVM start"), httpx.Response(503, text="starting"), 201]
    seconds_given: list[float] = []

    async def attempt(seconds_left: float) -> httpx.Response:
        seconds_given.append(seconds_left)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer if isinstance(answer, httpx.Response) else httpx.Response(answer, json={"id": "pub"})

    response = await seed._until_answered(attempt, deadline=time.monotonic() + 30, what="uploading a book")
    assert response.status_code == 201
    assert len(seconds_given) == 3
    assert all(0 < seconds <= 30 for seconds in seconds_given)  # each attempt may use what is left, no more


async def test_a_step_still_failing_at_its_deadline_says_why() -> None:
    async def attempt(seconds_left: float) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with pytest.raises(seed.SeedError, match=r"uploading trees.epub: still failing at the deadline \(ConnectError"):
        await seed._until_answered(attempt, deadline=time.monotonic() + 0.5, what="uploading trees.epub")


async def test_a_busy_answer_is_retried_after_the_time_it_asks_for() -> None:
    """EPUBCheck taking too long answers 503 with ``Retry-After``: the seed waits that long, or gives up at once
    when the deadline comes first."""
    busy = httpx.Response(503, headers={"Retry-After": "30"}, json={"type": "epubcheck-unavailable"})

    async def attempt(seconds_left: float) -> httpx.Response:
        return busy

    started = time.monotonic()
    with pytest.raises(seed.SeedError, match="still failing at the deadline"):
        await seed._until_answered(attempt, deadline=time.monotonic() + 20, what="uploading kieu.epub")
    assert time.monotonic() - started < 10  # did not sleep a backoff shorter than asked, nor past the deadline
    assert seed._retry_after(busy) == 30
    assert seed._retry_after(httpx.Response(503)) == 0


async def test_a_refusal_is_not_retried() -> None:
    calls = 0

    async def attempt(seconds_left: float) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(422, json={"detail": "not an EPUB"})

    response = await seed._until_answered(attempt, deadline=time.monotonic() + 30, what="uploading")
    assert (response.status_code, calls) == (422, 1)


class Recorder:
    """Stands in for the servers, the services and the web app; records what was started and stopped."""

    def __init__(self, *, stack_running: bool) -> None:
        self.stack_running = stack_running
        self.events: list[str] = []


def fake_up(monkeypatch: pytest.MonkeyPatch, recorder: Recorder, tmp_path: Path, failing: str) -> None:
    class FakeStack:
        def __init__(self, state_dir: Path) -> None:
            self.state_dir = state_dir

        def status(self) -> dict[str, bool]:
            return {"kafka": recorder.stack_running}

        def start(self) -> None:
            recorder.events.append("stack started")
            (tmp_path / "stack").mkdir(exist_ok=True)
            (tmp_path / "stack" / "stack.env").write_text("SACHSO_MONGO_URI=mongodb://x\n")

        def stop(self) -> None:
            recorder.events.append("stack stopped")

    class FakePlatform:
        def __init__(self, state_dir: Path, stack_env: dict[str, str], **_: Any) -> None:
            self.state_dir = state_dir

        def start(self) -> dict[str, Any]:
            recorder.events.append("services started")
            if failing == "services":
                raise RuntimeError("reader not ready after 90 s")
            return {}

        def stop(self) -> None:
            recorder.events.append("services stopped")

        def seed_target(self) -> None:
            return None

    def fake_seed(target: None) -> None:
        recorder.events.append("seeding")
        raise seed.SeedError("uploading trees.epub: still failing at the deadline (ReadTimeout: )")

    monkeypatch.setattr(local_platform, "LocalStack", FakeStack)
    monkeypatch.setattr(local_platform, "Platform", FakePlatform)
    monkeypatch.setattr(local_platform, "seed", fake_seed)
    monkeypatch.setattr(local_platform, "stop_web", lambda state_dir: recorder.events.append("web stopped"))


@pytest.mark.parametrize("stack_running", [False, True])
def test_a_failed_seed_stops_what_up_started_and_names_the_step(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], stack_running: bool
) -> None:
    recorder = Recorder(stack_running=stack_running)
    fake_up(monkeypatch, recorder, tmp_path, failing="seed")
    assert local_platform.up(tmp_path) == 1
    after_failure = recorder.events[recorder.events.index("seeding") + 1 :]
    assert "services stopped" in after_failure
    assert ("stack stopped" in after_failure) is not stack_running  # servers running before are left running
    err = capsys.readouterr().err
    assert "make up failed while seeding the library" in err
    assert "SeedError: uploading trees.epub: still failing at the deadline" in err
    assert "Everything it started was stopped" in err


def test_services_that_do_not_become_ready_are_stopped_with_the_servers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = Recorder(stack_running=False)
    fake_up(monkeypatch, recorder, tmp_path, failing="services")
    assert local_platform.up(tmp_path) == 1
    assert recorder.events[-3:] == ["web stopped", "services stopped", "stack stopped"]
    assert "while starting the four services" in capsys.readouterr().err


def test_the_ports_chosen_together_are_all_different() -> None:
    """The restore drill once started the reader with its HTTP and gRPC on one port: two probes bound one after
    another were given the same just-released port. Ports chosen together are held until all are chosen."""
    for _ in range(20):
        ports = stack.free_ports(50)
        assert len(set(ports)) == 50
