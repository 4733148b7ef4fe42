"""Loans and holds against the real MongoDB-protocol server: the licence is never over-lent, the queue is fair."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from lending.adapters.repositories import MongoTurnaways, mongo_units_of_work
from lending.domain.licensing import LicenseModel, LicenseTerms
from lending.domain.network import Sharing
from lending.domain.policy import LendingPolicy
from lending.errors import (
    AlreadyBorrowed,
    HoldNotNeeded,
    LoanLimitReached,
    LoanPeriodNotAllowed,
    NoCopyAvailable,
    RenewalRefused,
)
from lending.service_layer.catalogue import TitleMetadata
from lending.service_layer.circulation import Circulation
from lending.service_layer.due_watcher import DueWatcher
from tests.integration.kafka_helpers import wait_until
from tests.integration.lending.conftest import Lending

pytestmark = pytest.mark.integration


async def borrow(lending: Lending, patron: str, title_id: str) -> str:
    try:
        await lending.circulation.checkout(patron, title_id)
    except NoCopyAvailable:
        return "refused"
    return "lent"


async def test_a_thousand_concurrent_checkouts_of_ten_copies_make_exactly_ten_loans(lending: Lending) -> None:
    title_id = await lending.title_with_copies(copies=10)
    patrons = [f"p{index:04d}" for index in range(1000)]
    await lending.store.patrons.insert_many(
        [
            {
                "_id": patron,
                "library_id": "daklak",
                "display_name": patron,
                "email": f"{patron}@example.vn",
                "status": "active",
            }
            for patron in patrons
        ]
    )

    outcomes = await asyncio.gather(*(borrow(lending, patron, title_id) for patron in patrons))

    assert outcomes.count("lent") == 10
    assert outcomes.count("refused") == 990
    assert await lending.store.loans.count_documents({"title_id": title_id, "status": "active"}) == 10
    (license_,) = await lending.store.licenses_for(title_id)
    assert license_.in_use == 10
    assert len(await lending.events("LoanCreated")) == 10


async def test_her_ready_hold_keeps_its_copy_while_a_crowd_is_refused_without_a_transaction(lending: Lending) -> None:
    title_id = await lending.title_with_copies(copies=1)
    reader, binh = await lending.active_patron("reader"), await lending.active_patron("binh")
    loan = await lending.circulation.checkout(reader, title_id)
    await lending.circulation.place_hold(binh, title_id)
    await lending.circulation.return_loan(loan.id, reader)  # the copy passes to binh's hold, ready
    crowd = [f"c{index:03d}" for index in range(200)]
    await lending.store.patrons.insert_many(
        [{"_id": p, "library_id": "daklak", "display_name": p, "email": f"{p}@example.vn", "status": "active"}
         for p in crowd]
    )  # fmt: skip

    outcomes = dict(
        zip([*crowd, binh], await asyncio.gather(*(borrow(lending, p, title_id) for p in [*crowd, binh])), strict=True)
    )
    assert outcomes.pop(binh) == "lent"
    assert set(outcomes.values()) == {"refused"}
    (license_,) = await lending.store.licenses_for(title_id)
    assert license_.in_use == 1
    assert await lending.store.loans.count_documents({"title_id": title_id, "status": "active"}) == 1
    assert await lending.store.turnaways.count_documents({"title_id": title_id}) == 200


async def test_checkout_renew_and_return_with_their_refusals(lending: Lending) -> None:
    title_id = await lending.title_with_copies(copies=1)
    ana = await lending.active_patron("ana")
    binh = await lending.active_patron("binh")
    with pytest.raises(LoanPeriodNotAllowed):
        await lending.circulation.checkout(ana, title_id, timedelta(days=10))
    loan = await lending.circulation.checkout(ana, title_id, timedelta(days=7))
    assert loan.due_at - loan.starts_at == timedelta(days=7)
    with pytest.raises(AlreadyBorrowed):
        await lending.circulation.checkout(ana, title_id)
    with pytest.raises(NoCopyAvailable):
        await lending.circulation.checkout(binh, title_id)

    renewed = await lending.circulation.renew(loan.id, ana)
    assert renewed.renewals == 1
    assert renewed.due_at > loan.due_at
    await lending.circulation.place_hold(binh, title_id)
    with pytest.raises(RenewalRefused, match="waiting"):
        await lending.circulation.renew(loan.id, ana)

    returned = await lending.circulation.return_loan(loan.id, ana)
    assert returned.status == "returned"
    (ready,) = await lending.events("HoldReady")
    assert ready["key"] == title_id
    (license_,) = await lending.store.licenses_for(title_id)
    assert license_.in_use == 1  # the copy passed straight to binh's ready hold
    with pytest.raises(NoCopyAvailable):  # nobody jumps the queue
        await lending.circulation.checkout(ana, title_id)
    second = await lending.circulation.checkout(binh, title_id)
    assert second.license_id == license_.id
    assert await lending.store.holds.count_documents({"patron_id": binh, "state": "fulfilled"}) == 1


async def test_loan_limit_and_hold_only_when_needed(lending: Lending) -> None:
    ana = await lending.active_patron("ana")
    titles = [await lending.title_with_copies(title=f"Sách {index}", copies=2) for index in range(6)]
    for title_id in titles[:5]:
        await lending.circulation.checkout(ana, title_id)
    with pytest.raises(LoanLimitReached, match="5 loans"):
        await lending.circulation.checkout(ana, titles[5])
    binh = await lending.active_patron("binh")
    with pytest.raises(HoldNotNeeded):
        await lending.circulation.place_hold(binh, titles[0])


async def test_the_queue_is_first_come_first_served_and_skips_suspended_holds(lending: Lending) -> None:
    title_id = await lending.title_with_copies(copies=1)
    owner = await lending.active_patron("owner")
    loan = await lending.circulation.checkout(owner, title_id)
    waiting = [await lending.active_patron(name) for name in ("an", "bao", "chi")]
    views = [await lending.circulation.place_hold(patron, title_id) for patron in waiting]
    assert [view.position for view in views] == [1, 2, 3]
    assert views[0].estimated_wait == LendingPolicy().default_period
    suspended = await lending.circulation.suspend_hold(views[0].hold.id, "an", datetime.now(UTC) + timedelta(days=3))
    assert suspended.position == 1  # she keeps her place

    await lending.circulation.return_loan(loan.id, owner)

    (ready,) = [view for patron in waiting for view in await lending.circulation.holds_of(patron) if view.position == 0]
    assert ready.hold.patron_id == "bao"  # an is suspended, so bao is served; an keeps first place
    an_view, *_ = await lending.circulation.holds_of("an")
    assert an_view.position == 1


async def test_sharing_rules_decide_who_may_borrow(lending: Lending) -> None:
    title_id = await lending.title_with_copies(copies=1, owner="buonmathuot")
    school_patron = await lending.active_patron("hs", library_id="thpt-bmt")
    other_district = await lending.active_patron("ek", library_id="eakar")
    with pytest.raises(NoCopyAvailable):
        await lending.circulation.checkout(other_district, title_id)  # never sideways
    loan = await lending.circulation.checkout(school_patron, title_id)  # shared down its own subtree
    assert loan.library_id == "thpt-bmt"
    own_only = await lending.catalogue.add_title(TitleMetadata(title="Riêng"), publication_id="pub-rieng")
    await lending.catalogue.add_license(
        own_only, "buonmathuot", LicenseTerms(LicenseModel.ONE_COPY_ONE_USER, concurrency=1), Sharing.OWN
    )
    with pytest.raises(NoCopyAvailable):
        await lending.circulation.checkout(school_patron, own_only)


async def test_metered_licence_runs_out_of_checkouts(lending: Lending) -> None:
    title_id = await lending.title_with_copies(copies=1)
    (perpetual,) = await lending.store.licenses_for(title_id)
    await lending.store.licenses.delete_one({"_id": perpetual.id})
    await lending.catalogue.add_license(
        title_id, "daklak", LicenseTerms(LicenseModel.METERED, concurrency=1, checkouts=2)
    )
    reader = await lending.active_patron("reader")
    for _ in range(2):
        loan = await lending.circulation.checkout(reader, title_id)
        await lending.circulation.return_loan(loan.id, reader)
    with pytest.raises(NoCopyAvailable):
        await lending.circulation.checkout(reader, title_id)


async def test_a_due_loan_expires_within_seconds_and_the_next_hold_becomes_ready(lending: Lending) -> None:
    await lending.store.set_policy("daklak", LendingPolicy(loan_periods=(timedelta(seconds=2), timedelta(days=14))))
    title_id = await lending.title_with_copies(copies=1)
    ana = await lending.active_patron("ana")
    binh = await lending.active_patron("binh")
    loan = await lending.circulation.checkout(ana, title_id, timedelta(seconds=2))
    await lending.circulation.place_hold(binh, title_id, auto_checkout=True)

    stop = asyncio.Event()
    # a fresh Circulation, as after a restart: everything it needs is in MongoDB
    watcher = DueWatcher(
        Circulation(mongo_units_of_work(lending.store, lending.outbox), MongoTurnaways(lending.store)), max_sleep=0.2
    )
    task = asyncio.create_task(watcher.run(stop))
    try:

        async def expired() -> bool:
            document = await lending.store.loans.find_one({"_id": loan.id})
            return document is not None and document["status"] == "expired"

        await wait_until(expired, within=30)
        (auto_loan,) = await lending.circulation.loans_of(binh)  # auto-checkout borrowed it for her
        assert auto_loan.title_id == title_id
    finally:
        stop.set()
        await task
    assert len(await lending.events("LoanExpired")) == 1
    assert len(await lending.events("HoldReady")) == 1
