"""One contract for the reader's repositories, run against the in-memory fakes and the MongoDB implementations.

``tests/unit/reader/test_fake_repositories.py`` runs it on the fakes, ``tests/integration/reader/
test_mongo_repositories.py`` on MongoDB (the real local server); each provides the ``repositories`` fixture.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from reader.domain.reading import Annotation, Position
from reader.service_layer.repositories import DuplicateEntry, PublicationReads, RevocationReads
from reader.service_layer.unit_of_work import ReaderUnitOfWork, UnitOfWorkFactory
from sachso.events.v1 import reader_events_pb2
from sachso.kit.events import OutboundEvent

T = TypeVar("T")
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@dataclass
class Repositories:
    units: UnitOfWorkFactory
    publication_reads: PublicationReads
    revocation_reads: RevocationReads
    published: Callable[[], Awaitable[int]]

    async def run(self, work: Callable[[ReaderUnitOfWork], Awaitable[T]]) -> T:
        return await self.units().run(work)


def publication(publisher_id: str = "nxb-tre", sha256: str = "abc", isbn: str = "") -> dict[str, Any]:
    return {"publisher_id": publisher_id, "sha256": sha256, "isbn": isbn, "status": "active", "title": "Truyện Kiều"}


def position(minutes: int, device: str = "phone") -> Position:
    return Position("kieu", {"href": "c1.xhtml", "locations": {"progression": minutes / 100}}, device, device,
                    NOW + timedelta(minutes=minutes))  # fmt: skip


class RepositoryContract:
    async def test_one_publication_per_publisher_and_file(self, repositories: Repositories) -> None:
        await repositories.run(lambda uow: uow.publications.add("p1", publication(isbn="978604")))
        with pytest.raises(DuplicateEntry):
            await repositories.run(lambda uow: uow.publications.add("p2", publication()))
        with pytest.raises(DuplicateEntry):
            await repositories.run(lambda uow: uow.publications.add("p1", publication(sha256="other")))
        await repositories.run(lambda uow: uow.publications.add("p3", publication("nxb-kim-dong")))  # another's
        assert await repositories.run(lambda uow: uow.publications.exists("p1"))
        assert not await repositories.run(lambda uow: uow.publications.exists("p2"))
        same = await repositories.run(lambda uow: uow.publications.same_file("nxb-tre", "abc"))
        assert same is not None
        assert same["_id"] == "p1"
        assert await repositories.run(lambda uow: uow.publications.same_file("nxb-tre", "abc", other_than="p1")) is None
        isbn = await repositories.run(lambda uow: uow.publications.same_isbn("nxb-tre", "978604"))
        assert isbn is not None
        assert isbn["_id"] == "p1"
        assert await repositories.run(lambda uow: uow.publications.owned("nxb-kim-dong", "p1")) is None
        assert not await repositories.run(
            lambda uow: uow.publications.replace_owned("nxb-kim-dong", "p1", {"title": "x"})
        )
        assert await repositories.run(lambda uow: uow.publications.replace_owned("nxb-tre", "p1", {"title": "Kiều"}))
        await repositories.run(lambda uow: uow.publications.withdraw("p1", NOW))
        stored = await repositories.publication_reads.get("p1")  # read outside any unit of work
        assert stored is not None
        assert (stored["title"], stored["status"], stored["sha256"]) == ("Kiều", "withdrawn", "abc")
        assert await repositories.publication_reads.get("p2") is None

    async def test_the_later_position_stays(self, repositories: Repositories) -> None:
        assert (await repositories.run(lambda uow: uow.positions.keep_if_later("ana", position(5), NOW))).applied
        kept = await repositories.run(lambda uow: uow.positions.keep_if_later("ana", position(3, "old"), NOW))
        assert (kept.applied, kept.device_id, kept.modified) == (False, "phone", NOW + timedelta(minutes=5))
        later = timedelta(seconds=1)
        await repositories.run(lambda uow: uow.positions.keep_if_later("ana", position(9, "tablet"), NOW + later))
        stored = await repositories.run(lambda uow: uow.positions.get("ana", "kieu"))
        assert stored is not None
        assert (stored.device_id, stored.locator["locations"]["progression"]) == ("tablet", 0.09)
        assert await repositories.run(lambda uow: uow.positions.get("binh", "kieu")) is None
        since = await repositories.run(lambda uow: uow.positions.received_since("ana", NOW))
        assert [p.device_id for p in since] == ["tablet"]

    async def test_annotations_are_hers_newest_first(self, repositories: Repositories) -> None:
        for number, patron in enumerate(("ana", "ana", "binh")):
            note = Annotation(f"a{number}", patron, "kieu", "bookmark", {"href": "c1.xhtml"}, "", "",
                              NOW + timedelta(minutes=number))  # fmt: skip
            await repositories.run(lambda uow, note=note: uow.annotations.add(note))  # type: ignore[misc]
        assert [a.id for a in await repositories.run(lambda uow: uow.annotations.of("ana", "kieu"))] == ["a1", "a0"]
        assert not await repositories.run(lambda uow: uow.annotations.delete("ana", "a2"))  # not hers
        assert await repositories.run(lambda uow: uow.annotations.delete("ana", "a1"))
        assert not await repositories.run(lambda uow: uow.annotations.delete("ana", "a1"))

    async def test_ended_loans_and_blocks_are_seen_by_plain_reads(self, repositories: Repositories) -> None:
        assert not await repositories.revocation_reads.loan_ended("loan-1")
        await repositories.run(lambda uow: uow.revocations.end_loan("loan-1", NOW))
        await repositories.run(lambda uow: uow.revocations.end_loan("loan-1", NOW + timedelta(hours=1)))
        assert await repositories.revocation_reads.loan_ended("loan-1")
        assert await repositories.run(lambda uow: uow.revocations.block_changed_at("ana")) is None
        await repositories.run(lambda uow: uow.revocations.set_blocked("ana", True, NOW))
        assert await repositories.revocation_reads.patron_blocked("ana")
        assert await repositories.run(lambda uow: uow.revocations.block_changed_at("ana")) == NOW
        await repositories.run(lambda uow: uow.revocations.set_blocked("ana", False, NOW + timedelta(minutes=1)))
        assert not await repositories.revocation_reads.patron_blocked("ana")
        assert not await repositories.revocation_reads.patron_blocked("binh")

    async def test_a_unit_of_work_that_fails_leaves_nothing_behind(self, repositories: Repositories) -> None:
        async def work(uow: ReaderUnitOfWork) -> None:
            await uow.publications.add("p1", publication())
            uow.emit(OutboundEvent("reader.events", "p1", reader_events_pb2.PublicationIngested(publication_id="p1")))
            raise RuntimeError("the upload failed after all")

        with pytest.raises(RuntimeError):
            await repositories.run(work)
        assert await repositories.publication_reads.get("p1") is None
        assert await repositories.published() == 0

        async def committed(uow: ReaderUnitOfWork) -> None:
            await uow.publications.add("p1", publication())
            uow.emit(OutboundEvent("reader.events", "p1", reader_events_pb2.PublicationIngested(publication_id="p1")))

        await repositories.run(committed)
        assert await repositories.published() == 1
