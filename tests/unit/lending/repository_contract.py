"""One contract for lending's repositories, run against the in-memory fakes and the MongoDB implementations.

``tests/unit/lending/test_fake_repositories.py`` runs it on the fakes, ``tests/integration/lending/
test_mongo_repositories.py`` on MongoDB (the real local server); each provides the ``repositories`` fixture.

The service-layer unit tests trust the fakes; this suite is why they may: every behaviour a use case relies on —
the never-over-lent conditional update, one active loan and one open hold per patron and title, state-checked
hold transitions, nothing left behind by a unit of work that did not commit — is asserted on both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from lending.domain.holds import Hold, HoldState
from lending.domain.licensing import License, LicenseModel, LicenseTerms
from lending.domain.loans import ACTIVE, EXPIRED, RETURNED, LendableTitle, Loan
from lending.domain.network import Library, LibraryKind, Sharing
from lending.domain.patrons import CardStatus, Patron
from lending.service_layer.unit_of_work import AccessMarks, DuplicateEntry, LendingUnitOfWork, UnitOfWorkFactory
from sachso.events.v1 import lending_events_pb2
from sachso.kit.events import OutboundEvent

T = TypeVar("T")
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
DAKLAK = Library("daklak", "Thư viện tỉnh Đắk Lắk", LibraryKind.PROVINCE)


@dataclass
class Repositories:
    """A unit-of-work factory and what the contract needs to set up and observe outside it."""

    units: UnitOfWorkFactory
    add_patron: Callable[[Patron], Awaitable[None]]
    add_title: Callable[[LendableTitle], Awaitable[None]]
    published: Callable[[], Awaitable[int]]

    async def run(self, work: Callable[[LendingUnitOfWork], Awaitable[T]]) -> T:
        return await self.units().run(work)


def licence(licence_id: str = "lic", *, copies: int | None = 2, checkouts: int | None = None) -> License:
    model = LicenseModel.METERED if checkouts is not None else LicenseModel.ONE_COPY_ONE_USER
    terms = LicenseTerms(model, concurrency=copies, checkouts=checkouts)
    return License(licence_id, "kieu", "daklak", Sharing.SUBTREE, terms, NOW, checkouts_left=checkouts)


def loan(loan_id: str, patron_id: str = "ana", title_id: str = "kieu", due_in: int = 14) -> Loan:
    due = NOW + timedelta(days=due_in)
    return Loan(loan_id, patron_id, "daklak", title_id, f"pub-{title_id}", "lic", NOW, due, 0, ACTIVE)


def hold(hold_id: str, patron_id: str, minutes: int = 0) -> Hold:
    return Hold(hold_id, patron_id, "daklak", "kieu", NOW + timedelta(minutes=minutes))


class RepositoryContract:
    """The behaviours every implementation of lending's repositories has (a ``repositories`` fixture per runner)."""

    async def test_take_copy_never_over_lends(self, repositories: Repositories) -> None:
        await repositories.run(lambda uow: uow.licences.add(licence(copies=2)))

        async def take(uow: LendingUnitOfWork) -> bool:
            stale = await uow.licences.get("lic")
            assert stale is not None
            return await uow.licences.take_copy(licence(copies=2))  # the caller's view may be stale: stored counts rule

        assert [await repositories.run(take) for _ in range(3)] == [True, True, False]
        stored = await repositories.run(lambda uow: uow.licences.get("lic"))
        assert stored is not None
        assert stored.in_use == 2
        await repositories.run(lambda uow: uow.licences.give_back_copy("lic"))
        await repositories.run(lambda uow: uow.licences.give_back_copy("lic"))
        await repositories.run(lambda uow: uow.licences.give_back_copy("lic"))  # never below zero
        stored = await repositories.run(lambda uow: uow.licences.get("lic"))
        assert stored is not None
        assert stored.in_use == 0

    async def test_racing_checkouts_never_over_lend(self, repositories: Repositories) -> None:
        """Many units of work take copies at once (MongoDB: concurrent transactions that conflict and are re-run):
        exactly as many succeed as the stored terms allow — copies for a one-copy-one-user licence, checkouts for a
        metered one with more copies than checkouts."""
        await repositories.run(lambda uow: uow.licences.add(licence("copies", copies=2)))
        await repositories.run(lambda uow: uow.licences.add(licence("metered", copies=5, checkouts=3)))

        def take(terms: License) -> Callable[[LendingUnitOfWork], Awaitable[bool]]:
            return lambda uow: uow.licences.take_copy(terms)

        async def in_use(license_id: str) -> int:
            stored = await repositories.run(lambda uow: uow.licences.get(license_id))
            assert stored is not None
            return stored.in_use

        for terms, allowed in ((licence("copies", copies=2), 2), (licence("metered", copies=5, checkouts=3), 3)):
            taken = await asyncio.gather(*(repositories.run(take(terms)) for _ in range(6)))
            assert taken.count(True) == allowed
            assert await in_use(terms.id) == allowed
        metered = await repositories.run(lambda uow: uow.licences.get("metered"))
        assert metered is not None
        assert metered.checkouts_left == 0

    async def test_metered_checkouts_are_counted_and_refunded(self, repositories: Repositories) -> None:
        await repositories.run(lambda uow: uow.licences.add(licence(copies=5, checkouts=1)))
        metered = licence(copies=5, checkouts=1)
        assert await repositories.run(lambda uow: uow.licences.take_copy(metered))
        assert not await repositories.run(lambda uow: uow.licences.take_copy(metered))  # no checkout left
        assert not await repositories.run(lambda uow: uow.licences.consume_checkout("lic"))
        await repositories.run(lambda uow: uow.licences.refund_checkout("lic"))
        assert await repositories.run(lambda uow: uow.licences.consume_checkout("lic"))
        stored = await repositories.run(lambda uow: uow.licences.get("lic"))
        assert stored is not None
        assert (stored.in_use, stored.checkouts_left) == (1, 0)
        await repositories.run(lambda uow: uow.licences.add(licence("unlimited", copies=1)))
        assert not await repositories.run(lambda uow: uow.licences.consume_checkout("unlimited"))
        assert [lic.id for lic in await repositories.run(lambda uow: uow.licences.for_title("kieu"))] in (
            ["lic", "unlimited"],
            ["unlimited", "lic"],
        )

    async def test_one_active_loan_per_patron_and_title(self, repositories: Repositories) -> None:
        await repositories.run(lambda uow: uow.loans.add(loan("l1")))
        assert await repositories.run(lambda uow: uow.loans.has_active("ana", "kieu"))
        with pytest.raises(DuplicateEntry):
            await repositories.run(lambda uow: uow.loans.add(loan("l2")))
        assert await repositories.run(lambda uow: uow.loans.end("l1", RETURNED, NOW))
        assert not await repositories.run(lambda uow: uow.loans.end("l1", EXPIRED, NOW))  # ends once
        assert not await repositories.run(lambda uow: uow.loans.has_active("ana", "kieu"))
        await repositories.run(lambda uow: uow.loans.add(loan("l2")))  # borrowed again after the return
        ended = await repositories.run(lambda uow: uow.loans.get("l1"))
        assert ended is not None
        assert (ended.status, ended.ended_at) == (RETURNED, NOW)

    async def test_loans_of_a_patron_due_and_renewed(self, repositories: Repositories) -> None:
        await repositories.run(lambda uow: uow.loans.add(loan("late", title_id="a", due_in=20)))
        await repositories.run(lambda uow: uow.loans.add(loan("soon", title_id="b", due_in=3)))
        await repositories.run(lambda uow: uow.loans.add(loan("other", patron_id="binh", title_id="a", due_in=1)))
        await repositories.run(lambda uow: uow.loans.end("other", RETURNED, NOW))
        mine = await repositories.run(lambda uow: uow.loans.of_patron("ana", active_only=True))
        assert [item.id for item in mine] == ["soon", "late"]
        assert await repositories.run(lambda uow: uow.loans.earliest_due()) == NOW + timedelta(days=3)
        assert await repositories.run(lambda uow: uow.loans.due(NOW + timedelta(days=5), 10)) == ["soon"]
        assert await repositories.run(lambda uow: uow.loans.extend("soon", NOW + timedelta(days=10)))
        renewed = await repositories.run(lambda uow: uow.loans.get("soon"))
        assert renewed is not None
        assert (renewed.due_at, renewed.renewals) == (NOW + timedelta(days=10), 1)
        found = await repositories.run(lambda uow: uow.loans.active_for_publication("ana", "pub-a"))
        assert found is not None
        assert found.id == "late"
        assert await repositories.run(lambda uow: uow.loans.of_patron("binh", active_only=True)) == []
        assert len(await repositories.run(lambda uow: uow.loans.of_patron("binh", active_only=False))) == 1

    async def test_one_open_hold_per_patron_and_title_and_state_checked_changes(
        self, repositories: Repositories
    ) -> None:
        await repositories.run(lambda uow: uow.holds.add(hold("h1", "ana")))
        await repositories.run(lambda uow: uow.holds.add(hold("h2", "binh", minutes=1)))
        with pytest.raises(DuplicateEntry):
            await repositories.run(lambda uow: uow.holds.add(hold("h3", "ana", minutes=2)))
        assert await repositories.run(lambda uow: uow.holds.has_open("ana", "kieu"))
        assert not await repositories.run(lambda uow: uow.holds.fulfil("h1"))  # only a ready hold is fulfilled
        ready_until = NOW + timedelta(hours=72)
        assert await repositories.run(lambda uow: uow.holds.make_ready("h1", "lic", ready_until))
        assert not await repositories.run(lambda uow: uow.holds.make_ready("h1", "lic", ready_until))
        assert not await repositories.run(lambda uow: uow.holds.suspend("h1", NOW))  # only a waiting hold pauses
        assert await repositories.run(lambda uow: uow.holds.suspend("h2", NOW + timedelta(days=3)))
        assert [h.id for h in await repositories.run(lambda uow: uow.holds.ready_of("ana"))] == ["h1"]
        assert await repositories.run(lambda uow: uow.holds.earliest_ready_until()) == ready_until
        assert await repositories.run(lambda uow: uow.holds.ready_until_passed(ready_until, 10)) == ["h1"]
        assert await repositories.run(lambda uow: uow.holds.ready_until_passed(NOW, 10)) == []
        assert not await repositories.run(
            lambda uow: uow.holds.close("h1", HoldState.WAITING, HoldState.CANCELLED, NOW)
        )
        assert await repositories.run(lambda uow: uow.holds.close("h1", HoldState.READY, HoldState.EXPIRED, NOW))
        assert not await repositories.run(lambda uow: uow.holds.has_open("ana", "kieu"))
        await repositories.run(lambda uow: uow.holds.add(hold("h3", "ana", minutes=2)))  # may queue again
        await repositories.run(lambda uow: uow.holds.set_card_blocked("binh", True))
        holds = {h.id: h for h in await repositories.run(lambda uow: uow.holds.open_for_title("kieu"))}
        assert sorted(holds) == ["h2", "h3"]
        assert holds["h2"].card_blocked
        assert holds["h2"].suspended_until == NOW + timedelta(days=3)
        expired = await repositories.run(lambda uow: uow.holds.get("h1"))
        assert expired is not None
        assert (expired.state, expired.license_id) == (HoldState.EXPIRED, "lic")

    async def test_a_titles_circulation_is_read_together(self, repositories: Repositories) -> None:
        """The title, its licences and open holds, and the borrower's active loans: no other title's, no one
        else's, no closed hold and no ended loan."""
        await repositories.add_title(LendableTitle("kieu", "pub-kieu", readable=True))
        await repositories.add_title(LendableTitle("other", "pub-other", readable=True))
        other = License("lic-other", "other", "daklak", Sharing.SUBTREE, licence().terms, NOW)

        async def arrange(uow: LendingUnitOfWork) -> None:
            for added in (licence("lic"), licence("lic-2"), other):
                await uow.licences.add(added)
            for queued in (hold("h1", "binh"), hold("h2", "chi", minutes=1), hold("h3", "dung", minutes=2)):
                await uow.holds.add(queued)
            await uow.holds.close("h3", HoldState.WAITING, HoldState.CANCELLED, NOW)
            for lent in (loan("l1", title_id="other"), loan("l2", title_id="third"), loan("l3", patron_id="binh")):
                await uow.loans.add(lent)
            await uow.loans.end("l2", RETURNED, NOW)

        await repositories.run(arrange)

        seen = await repositories.run(lambda uow: uow.titles.circulation("kieu", "ana"))
        assert seen is not None
        assert (seen.title.id, seen.title.publication_id, seen.title.readable) == ("kieu", "pub-kieu", True)
        assert sorted(lic.id for lic in seen.licences) == ["lic", "lic-2"]
        assert sorted(h.id for h in seen.holds) == ["h1", "h2"]
        assert seen.borrowed == ["other"]
        assert await repositories.run(lambda uow: uow.titles.circulation("none", "ana")) is None

    async def test_card_status_changes_only_from_the_expected_status(self, repositories: Repositories) -> None:
        await repositories.add_patron(Patron("ana", "daklak", "Bạn đọc Ana", "ana@example.vn", "vi", CardStatus.ACTIVE))

        async def change(expected: CardStatus, status: CardStatus) -> Patron | None:
            return await repositories.run(lambda uow: uow.patrons.change_card_status("ana", expected, status))

        was = await change(CardStatus.ACTIVE, CardStatus.BLOCKED)
        assert was is not None
        assert was.status is CardStatus.ACTIVE
        assert await change(CardStatus.ACTIVE, CardStatus.BLOCKED) is None
        now = await repositories.run(lambda uow: uow.patrons.get("ana"))
        assert now is not None
        assert now.status is CardStatus.BLOCKED

    async def test_titles_and_idempotent_requests(self, repositories: Repositories) -> None:
        await repositories.add_title(LendableTitle("kieu", "pub-kieu", readable=True))
        title = await repositories.run(lambda uow: uow.titles.lendable("kieu"))
        assert title is not None
        assert (title.publication_id, title.readable, title.withdrawn) == ("pub-kieu", True, False)
        assert await repositories.run(lambda uow: uow.titles.lendable("none")) is None
        await repositories.run(lambda uow: uow.idempotency.record("k", "fp", "l1", NOW + timedelta(days=1)))
        assert await repositories.run(lambda uow: uow.idempotency.result("k")) == ("fp", "l1")
        with pytest.raises(DuplicateEntry):
            await repositories.run(lambda uow: uow.idempotency.record("k", "fp2", "l2", NOW + timedelta(days=1)))

    async def test_a_unit_of_work_that_fails_leaves_nothing_behind(self, repositories: Repositories) -> None:
        await repositories.run(lambda uow: uow.licences.add(licence(copies=1)))

        async def work(uow: LendingUnitOfWork) -> None:
            assert await uow.licences.take_copy(licence(copies=1))
            await uow.loans.add(loan("l1"))
            uow.emit(OutboundEvent("lending.events", "kieu", lending_events_pb2.LoanCreated(loan_id="l1")))
            raise RuntimeError("the use case changed its mind")

        with pytest.raises(RuntimeError):
            await repositories.run(work)
        stored = await repositories.run(lambda uow: uow.licences.get("lic"))
        assert stored is not None
        assert stored.in_use == 0
        assert await repositories.run(lambda uow: uow.loans.get("l1")) is None
        assert await repositories.published() == 0

        async def committed(uow: LendingUnitOfWork) -> None:
            await uow.loans.add(loan("l1"))
            uow.emit(OutboundEvent("lending.events", "kieu", lending_events_pb2.LoanCreated(loan_id="l1")))

        await repositories.run(committed)
        assert await repositories.published() == 1

    async def test_explicit_commit_and_rollback(self, repositories: Repositories) -> None:
        """``async with uow: ... await uow.commit()`` — the cosmicpython shape — on every implementation."""
        async with repositories.units() as uow:
            await uow.loans.add(loan("kept"))
            uow.emit(OutboundEvent("lending.events", "kieu", lending_events_pb2.LoanCreated(loan_id="kept")))
            await uow.commit()
        async with repositories.units() as uow:
            await uow.loans.add(loan("dropped", title_id="other"))
            uow.emit(OutboundEvent("lending.events", "other", lending_events_pb2.LoanCreated(loan_id="dropped")))
        assert await repositories.run(lambda uow: uow.loans.get("kept")) is not None
        assert await repositories.run(lambda uow: uow.loans.get("dropped")) is None
        assert await repositories.published() == 1

    async def test_catalogue_records(self, repositories: Repositories) -> None:
        """The catalogue's writes: saved (added once), found by publication and by a staff record's ISBN, changed,
        and seen by circulation as a lendable title; a unit of work that did not commit leaves no record."""
        kieu = {"title": "Truyện Kiều", "publication_id": "pub-1", "isbn": "9786041000011", "readable": True}
        record = {"title": "Bản ghi", "publication_id": "staff:r1", "isbn": "9786041000028", "readable": False}

        async def write(uow: LendingUnitOfWork) -> None:
            await uow.catalogue.save("t1", {**kieu, "library_ids": []}, NOW)
            await uow.catalogue.save("t2", record, NOW)
            await uow.catalogue.save("t1", {"title": "Truyện Kiều (bản mới)"}, NOW + timedelta(days=1))

        await repositories.run(write)

        async def read(uow: LendingUnitOfWork) -> tuple[object, ...]:
            found = await uow.catalogue.by_publication("pub-1")
            assert found is not None
            adoptable = await uow.catalogue.unreadable_with_isbn("9786041000028")
            assert adoptable is not None
            return (
                found["_id"], found["title"], found["added_at"].replace(tzinfo=UTC) == NOW, adoptable["_id"],
                await uow.catalogue.unreadable_with_isbn("9786041000011"), await uow.catalogue.publication_of("t1"),
                await uow.catalogue.publication_of("nope"), await uow.titles.lendable("t1") is not None,
            )  # fmt: skip

        assert await repositories.run(read) == ("t1", "Truyện Kiều (bản mới)", True, "t2", None, "pub-1", None, True)

        async def change(uow: LendingUnitOfWork) -> tuple[bool, bool]:
            await uow.catalogue.set_added_by("t2", "daklak")
            await uow.catalogue.add_owner("t1", "daklak", NOW)
            await uow.catalogue.add_owner("t1", "daklak", NOW)  # once
            await uow.catalogue.withdraw("pub-1", NOW)
            assert await uow.catalogue.access_marks("t1") == AccessMarks(open_access=False, local_document=False)
            assert await uow.catalogue.access_marks("no") == AccessMarks(open_access=False, local_document=False)
            return await uow.catalogue.set_online_only("t1", True, NOW), await uow.catalogue.set_online_only(
                "no", True, NOW
            )

        assert await repositories.run(change) == (True, False)

        async def changed(uow: LendingUnitOfWork) -> tuple[object, ...]:
            title, staff_record = (
                await uow.catalogue.by_publication("pub-1"),
                await uow.catalogue.by_publication("staff:r1"),
            )
            assert title is not None
            assert staff_record is not None
            return title["library_ids"], title["withdrawn"], title["online_only"], staff_record["added_by_library_id"]

        assert await repositories.run(changed) == (["daklak"], True, True, "daklak")
        async with repositories.units() as uow:
            await uow.catalogue.save("t3", {"title": "Không lưu", "publication_id": "pub-3"}, NOW)
        assert await repositories.run(lambda uow: uow.catalogue.publication_of("t3")) is None
