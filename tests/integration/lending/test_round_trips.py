"""How many database commands a checkout and a return that passes the copy to the next hold cost, on the real
database (PyMongo command monitoring: a count, not a time). ``services/lending/service_layer/checkout.py`` says
what each is for; these keep them from growing unnoticed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from lending.adapters.repositories import MongoTurnaways, mongo_units_of_work
from lending.adapters.store import LendingStore
from lending.domain.licensing import License, LicenseModel, LicenseTerms
from lending.domain.network import Sharing
from lending.domain.policy import LendingPolicy
from lending.errors import NoCopyAvailable
from lending.service_layer import hold_requests, loan_changes
from lending.service_layer.checkout import OneAtATime, checkout
from sachso.events.v1 import lending_events_pb2 as events
from sachso.kit.outbox import Outbox
from tests.unit.lending.repository_contract import DAKLAK

pytestmark = pytest.mark.integration
Document = dict[str, Any]


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None: ...

    def failed(self, event: monitoring.CommandFailedEvent) -> None: ...


@pytest.fixture
async def lending(stack_env: dict[str, str], namespace: str) -> AsyncIterator[tuple[LendingStore, Outbox, Commands]]:
    commands = Commands()
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        stack_env["SACHSO_MONGO_URI"], retryWrites=False, tz_aware=True, event_listeners=[commands]
    )
    database: AsyncDatabase[Document] = client[namespace]
    store = LendingStore(database)
    await store.ensure_indexes()
    await store.add_library(DAKLAK, "DL", LendingPolicy())
    outbox = Outbox(client, database, source="/sachso/lending")
    await store.titles.insert_one({"_id": "t1", "publication_id": "pub-1", "readable": True})
    licence = License("lic-1", "t1", DAKLAK.id, Sharing.SUBTREE, LicenseTerms(LicenseModel.ONE_COPY_ONE_USER, 1),
                      datetime.now(UTC))  # fmt: skip
    await store.add_license(licence)
    await store.patrons.insert_many(
        [{"_id": p, "library_id": DAKLAK.id, "display_name": p, "email": f"{p}@x.vn", "preferred_language": "vi",
          "status": "active"} for p in ("an", "binh", "chi")]
    )  # fmt: skip
    await store.network()  # the network and policies snapshot, as a running service has it
    yield store, outbox, commands
    await client.drop_database(namespace)
    await client.close()


async def test_round_trips_of_checkout_refusal_return_to_the_next_hold_and_its_checkout(
    lending: tuple[LendingStore, Outbox, Commands],
) -> None:
    store, outbox, commands = lending
    units, turnaways, takers = mongo_units_of_work(store, outbox), MongoTurnaways(store), OneAtATime()

    async def spent(patron: str, work: Any) -> tuple[Any, list[str]]:
        await store.card_status(patron)  # the request's card check (CardAccess), counted with it
        before = len(commands.names)
        try:
            result = await work()
        except NoCopyAvailable as refusal:
            result = refusal
        return result, ["card-check", *commands.names[before:]]

    borrowed, lent = await spent(
        "an", lambda: checkout(units, turnaways, "an", "t1", None, None, datetime.now(UTC), takers)
    )
    # the borrower is the card check's read; in the transaction the title's circulation (title, licences, holds,
    # her loans) in one read, a copy taken, the loan and its event written
    assert lent == ["card-check", "aggregate", "update", "insert", "insert", "commitTransaction"]
    refused, turned_away = await spent(
        "binh", lambda: checkout(units, turnaways, "binh", "t1", None, None, datetime.now(UTC), takers)
    )
    assert isinstance(refused, NoCopyAvailable)
    # the title's first refusal comes from its transaction, which ends without writing; the turn-away
    assert turned_away == ["card-check", "aggregate", "abortTransaction", "insert"]
    refused, turned_away = await spent(
        "binh", lambda: checkout(units, turnaways, "binh", "t1", None, None, datetime.now(UTC), takers)
    )
    assert isinstance(refused, NoCopyAvailable)
    # a title that refused lately is read first, outside any transaction: no copy free; the turn-away
    assert turned_away == ["card-check", "aggregate", "insert"]
    await units().run(lambda uow: hold_requests.place_hold(uow, "chi", "t1", False, datetime.now(UTC)))

    async def give_back() -> Any:
        async def work(uow: Any) -> Any:
            loan = await loan_changes.owned_active_loan(uow, borrowed.loan.id, "an")
            return await loan_changes.return_loan(uow, loan, events.RETURN_CHANNEL_PATRON, datetime.now(UTC))

        return await units().run(work)

    _, returned = await spent("an", give_back)
    assert returned == ["card-check", "find", "update", "find", "find", "update", "insert", "commitTransaction"]
    assert await store.holds.count_documents({"patron_id": "chi", "state": "ready"}) == 1
    # binh is still refused from reads alone; chi's ready hold, seen in the same read, sends her to the transaction
    # for her reserved copy
    refused, turned_away = await spent(
        "binh", lambda: checkout(units, turnaways, "binh", "t1", None, None, datetime.now(UTC), takers)
    )
    assert isinstance(refused, NoCopyAvailable)
    assert turned_away == ["card-check", "aggregate", "insert"]
    reserved, fulfilled = await spent(
        "chi", lambda: checkout(units, turnaways, "chi", "t1", None, None, datetime.now(UTC), takers)
    )
    assert reserved.loan.license_id == "lic-1"
    assert fulfilled == ["card-check", "aggregate", "aggregate", "update", "insert", "insert", "commitTransaction"]
    print(f"\ncheckout {len(lent)}, refusal {len(turned_away)}, return -> next hold {len(returned)}, "
          f"checkout of a reserved copy {len(fulfilled)} round trips")  # fmt: skip
