"""The unit of work's contract: events leave with the commit, anything else rolls back; typed consumer handlers."""

from __future__ import annotations

import pytest

from sachso.events.v1 import lending_events_pb2, reader_events_pb2
from sachso.kit.consumer import HandlerRegistry
from sachso.kit.errors import NotFound
from sachso.kit.events import OutboundEvent, ReceivedEvent
from sachso.kit.unit_of_work import UnitOfWork


class RecordingUnitOfWork(UnitOfWork):
    """The smallest implementation: a list of what happened."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] = []
        self.published: list[OutboundEvent] = []

    async def _begin(self) -> None:
        self.log.append("begin")

    async def _commit(self, events: list[OutboundEvent]) -> None:
        self.log.append("commit")
        self.published.extend(events)

    async def _rollback(self) -> None:
        self.log.append("rollback")


def _event(loan_id: str) -> OutboundEvent:
    return OutboundEvent(topic="lending.events", key="t", payload=lending_events_pb2.LoanCreated(loan_id=loan_id))


async def test_events_are_published_with_the_commit() -> None:
    uow = RecordingUnitOfWork()
    async with uow:
        uow.emit(_event("l1"))
        assert uow.published == []
        await uow.commit()
    assert uow.log == ["begin", "commit"]
    assert [event.payload.loan_id for event in uow.published] == ["l1"]  # type: ignore[attr-defined]


async def test_leaving_without_commit_rolls_back_and_drops_the_events() -> None:
    uow = RecordingUnitOfWork()
    async with uow:
        uow.emit(_event("l1"))
    assert uow.log == ["begin", "rollback"]
    assert uow.published == []


async def test_run_commits_the_work_or_rolls_it_back_on_error() -> None:
    uow = RecordingUnitOfWork()

    async def work(uow: RecordingUnitOfWork) -> str:
        uow.emit(_event("l2"))
        return "done"

    assert await uow.run(work) == "done"

    async def refused(uow: RecordingUnitOfWork) -> None:
        uow.emit(_event("l3"))
        raise NotFound("no such loan")

    with pytest.raises(NotFound):
        await uow.run(refused)
    assert uow.log == ["begin", "commit", "begin", "rollback"]
    assert [event.payload.loan_id for event in uow.published] == ["l2"]  # type: ignore[attr-defined]


def test_emit_outside_a_unit_of_work_is_a_bug() -> None:
    with pytest.raises(RuntimeError):
        RecordingUnitOfWork().emit(_event("l1"))


def _received(payload: object) -> ReceivedEvent:
    return ReceivedEvent(
        id="e1",
        type="sachso.events.v1.PublicationWithdrawn",
        source="reader",
        subject=None,
        time=None,
        key=None,
        payload=payload,  # type: ignore[arg-type]
        trace_headers={},
        topic="reader.events",
        partition=0,
        offset=0,
    )


async def test_a_registered_handler_receives_its_payload_type() -> None:
    seen: list[str] = []

    async def withdrawn(event: ReceivedEvent[reader_events_pb2.PublicationWithdrawn], session: object) -> None:
        seen.append(event.payload.publication_id)  # typed: no isinstance needed

    registry = HandlerRegistry("test", ["reader.events"])
    registry.register(reader_events_pb2.PublicationWithdrawn, withdrawn)
    handler = registry.handler_for("sachso.events.v1.PublicationWithdrawn")
    assert handler is not None
    await handler(_received(reader_events_pb2.PublicationWithdrawn(publication_id="p1")), None)  # type: ignore[arg-type]
    assert seen == ["p1"]
    with pytest.raises(TypeError):
        await handler(_received(reader_events_pb2.PublicationIngested(publication_id="p2")), None)  # type: ignore[arg-type]
