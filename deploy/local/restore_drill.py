"""The restore drill, on the local platform: back up, lose everything, restore, and prove the services agree.

    python deploy/local/restore_drill.py        # prints what it did and the checks; exit status 1 if one fails

It plays the hard case of deploy/k8s/runbooks/en/restore.md, with real servers and the four services:

1. a library is seeded; drm is stopped and a patron borrows (loan A): lending commits the loan and publishes
   LoanCreated, which drm has not consumed yet;
2. every service stops and each database is backed up at one moment ``T`` (what a point-in-time restore of the
   replica set gives; here a logical copy of the four databases while nothing writes);
3. the services run on: drm consumes loan A after ``T`` (its licence exists only after the backup), and a second
   patron borrows (loan B, written after ``T``);
4. disaster: the services stop and the four databases are dropped;
5. restore: the databases come back as they were at ``T``, then ``python -m sachso.kit.restore`` rewinds every
   consumer group and fences the events written after ``T``; the services start again.

Then: lending has loan A and not B; drm has a licence for A (its event was consumed again: nothing lost) and none
for B (fenced: the write that made it is gone, so it takes no effect); every event was handled at most once per
group; every active loan has a licence and every licence a loan.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bson
import httpx
from pymongo import AsyncMongoClient

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from consumer_groups import service_consumers  # noqa: E402
from local_platform import SERVICES, Platform, read_env_file, temporary_platform  # noqa: E402
from seed import PROVINCE, BookSeed, Seeded, Seeder  # noqa: E402

from sachso.kit.restore import Consumer, GroupReport, RestoreSettings, restore_consumers  # noqa: E402

Document = dict[str, Any]
BOOK = BookSeed("pdf/debian-project-history.en.pdf", {"owner_library_id": PROVINCE, "model": "simultaneous-use",
                                                     "concurrency": None})  # fmt: skip
MARGIN = timedelta(minutes=10)


def consumer_groups() -> list[Consumer]:
    """Every consumer group and its topics, as the services' code builds them (consumer_groups.py finds them)."""
    return [
        Consumer(service, registry.topics, "" if registry.group == service else registry.group)
        for service, registries in service_consumers().items()
        for registry in registries
    ]


def restore_settings(platform: Platform) -> dict[str, RestoreSettings]:
    """Each service's database and Kafka settings, from the environment it was started with."""
    settings = {}
    for service in SERVICES:
        prefix = f"{service.upper()}_"
        values = {
            key.removeprefix(prefix).lower(): value
            for key, value in read_env_file(platform.env_file(service)).items()
            if key.removeprefix(prefix).lower() in RestoreSettings.model_fields
        }
        settings[service] = RestoreSettings.model_validate(values)
    return settings


@dataclass
class Drill:
    platform: Platform
    mongo: AsyncMongoClient[Document]
    backup: dict[str, dict[str, list[Document]]] = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)

    def database(self, service: str) -> Any:
        return self.mongo[f"{self.platform.namespace}_{service}"]

    def say(self, step: str) -> None:
        self.steps.append(step)
        print(f"drill: {step}", flush=True)

    def check(self, name: str, passed: bool) -> None:
        self.checks[name] = passed
        print(f"drill: {'ok  ' if passed else 'FAIL'} {name}", flush=True)

    async def back_up(self) -> None:
        for service in SERVICES:
            database = self.database(service)
            self.backup[service] = {
                name: [document async for document in database[name].find()]
                for name in await database.list_collection_names()
            }

    async def lose_everything(self) -> None:
        for service in SERVICES:
            await self.mongo.drop_database(f"{self.platform.namespace}_{service}")

    async def restore(self) -> None:
        for service, collections in self.backup.items():
            database = self.database(service)
            for name, documents in collections.items():
                if documents:  # BSON round trip: what a dump and a restore carry
                    await database[name].insert_many([bson.decode(bson.encode(document)) for document in documents])


async def eventually(what: str, condition: Callable[[], Awaitable[bool]], within: float = 120.0) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {within:.0f} s")
        await asyncio.sleep(0.5)


async def borrow(platform: Platform, seeded: Seeded, patron: int) -> str:
    _, card, pin, _ = seeded.patrons[patron]
    lending = platform.endpoints()["lending"].http_url
    async with httpx.AsyncClient(base_url=lending, timeout=60) as http:
        token = (await http.post("/v1/auth/token", json={"card_number": card, "pin": pin})).json()["access_token"]
        title_id = seeded.titles[BOOK.file]
        loan = await http.post("/v1/loans", json={"title_id": title_id, "period": "P7D"},
                               headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        loan.raise_for_status()
        return str(loan.json()["id"])


async def run_drill(platform: Platform) -> Drill:
    mongo: AsyncMongoClient[Document] = AsyncMongoClient(
        platform.stack_env["SACHSO_MONGO_URI"], retryWrites=False, tz_aware=True
    )
    drill = Drill(platform, mongo)
    lending, drm = drill.database("lending"), drill.database("drm")
    try:
        seeded = await Seeder(platform.seed_target(), (BOOK,)).run()
        drill.say("seeded: a library, four patrons, one book")

        platform.stop(services=["drm"])
        loan_a = await borrow(platform, seeded, 0)

        async def published(loan_id: str) -> bool:
            sent = await lending["outbox"].find_one({"type": "sachso.events.v1.LoanCreated", "sent_at": {"$ne": None}})
            return sent is not None and await lending["loans"].find_one({"_id": loan_id}) is not None

        await eventually("loan A published", lambda: published(loan_a))
        drill.say(f"loan A ({loan_a}) committed and published while drm was stopped")

        platform.stop()
        restored_to = datetime.now(UTC)
        await drill.back_up()
        drill.say(f"every service stopped; the four databases backed up at T = {restored_to.isoformat()}")

        platform.start()

        async def licensed(loan_id: str) -> bool:
            return await drm["licences"].find_one({"loan_id": loan_id}) is not None

        await eventually("drm licenses loan A after T", lambda: licensed(loan_a))
        loan_b = await borrow(platform, seeded, 1)
        await eventually("drm licenses loan B", lambda: licensed(loan_b))
        drill.say(f"after T: drm consumed loan A; loan B ({loan_b}) was made and licensed")

        platform.stop()
        await drill.lose_everything()
        drill.say("disaster: services stopped, the four databases dropped")

        await drill.restore()
        unpublished = sum(
            [await drill.database(name)["outbox"].count_documents({"sent_at": None}) for name in SERVICES]
        )
        reports: list[GroupReport] = await restore_consumers(
            consumer_groups(), restore_settings(platform), at=restored_to, margin=MARGIN
        )
        for report in reports:
            drill.say(
                f"restore: group {report.group} reads {report.replayed} records again, fenced {len(report.fenced)}"
            )
        platform.start()
        drill.say("databases restored to T, consumer groups rewound, services started")

        await eventually("the restored outboxes published what they held", lambda: _caught_up(drill))
        with contextlib.suppress(TimeoutError):  # if it never comes, the check below says so
            await eventually("drm licenses loan A again", lambda: licensed(loan_a), within=60)
        drill.check("lending has loan A, made before T", await lending["loans"].find_one({"_id": loan_a}) is not None)
        drill.check("lending has no loan B, made after T", await lending["loans"].find_one({"_id": loan_b}) is None)
        drill.check("drm has the licence of loan A (consumed after T: not lost)", await licensed(loan_a))
        drill.check("drm has no licence for loan B (fenced: no effect of a lost write)", not await licensed(loan_b))
        drill.check(
            "drm fenced loan B's event",
            any(report.group == "drm" and report.fenced for report in reports),
        )
        once = await drm["licences"].count_documents({"loan_id": loan_a}) == 1
        drill.check("loan A has exactly one licence (not applied twice)", once)
        active = {document["_id"] async for document in lending["loans"].find({"status": "active"})}
        licences = {document["loan_id"] async for document in drm["licences"].find()}
        drill.check("every active loan has a licence and every licence a loan", active == licences)
        drill.say(f"the restored outboxes held {unpublished} unpublished events; published again, consumed once")
        return drill
    finally:
        await mongo.close()


async def _caught_up(drill: Drill) -> bool:
    for service in ("lending", "reader", "drm"):
        if await drill.database(service)["outbox"].count_documents({"sent_at": None}):
            return False
    return True


def main() -> int:
    with temporary_platform("drill") as platform:
        drill = asyncio.run(run_drill(platform))
    failed = [name for name, passed in drill.checks.items() if not passed]
    print(f"restore drill: {len(drill.checks) - len(failed)} of {len(drill.checks)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
