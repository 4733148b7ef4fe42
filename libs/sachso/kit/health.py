"""Checks of the external systems a service depends on.

Readiness (``/readyz``, which Kubernetes uses to route traffic to a pod) asks only what the pod itself needs to
serve: its database. Kafka and S3 are *dependencies*: a broker outage must not empty every Service's endpoints
(the outbox exists so that writes succeed while Kafka is down), and an S3 outage is the same for every pod, so
taking pods out of rotation helps nobody. A :class:`DependencyProbe` checks them in the background, reports them
in ``/readyz``'s body and as ``sachso_dependency_up``, which the alerts watch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import Gauge
from pymongo import AsyncMongoClient

if TYPE_CHECKING:  # stubs only: the images carry no dev packages
    from types_aiobotocore_s3 import S3Client

ReadinessCheck = Callable[[], Awaitable[None]]
CHECK_TIMEOUT_SECONDS = 2.0

DEPENDENCY_UP = Gauge("sachso_dependency_up", "1 if the dependency answered its last check, else 0", ["dependency"])
READINESS_UP = Gauge(
    "sachso_readiness_check_up", "1 if the readiness check passed when last asked (kubelet: every few s)", ["check"]
)
DEPENDENCY_CHECKED = Gauge(
    "sachso_dependency_checked_timestamp_seconds", "When the dependency was last checked", ["dependency"]
)


async def run_check(check: ReadinessCheck) -> str:
    """``ok`` or why the check failed (within a couple of seconds)."""
    try:
        await asyncio.wait_for(check(), timeout=CHECK_TIMEOUT_SECONDS)
    except Exception as error:
        return f"failing: {type(error).__name__}: {error}"[:300]
    return "ok"


def record_readiness(results: Mapping[str, str]) -> None:
    """Keep the outcome of /readyz's checks as a metric: an unready pod leaves its Service, so the requests it
    would fail never reach it and only this (and the ingress's 503s) tells why."""
    for name, outcome in results.items():
        READINESS_UP.labels(check=name).set(1 if outcome == "ok" else 0)


class DependencyProbe:
    """Checks ``checks`` every ``interval`` seconds; the latest results feed ``/readyz`` and the metrics."""

    def __init__(self, checks: Mapping[str, ReadinessCheck], *, interval: float = 5.0) -> None:
        self.checks = dict(checks)
        self.interval = interval
        self.results: dict[str, str] = dict.fromkeys(self.checks, "not checked yet")

    async def probe_once(self) -> dict[str, str]:
        names = list(self.checks)
        outcomes = await asyncio.gather(*(run_check(self.checks[name]) for name in names))
        for name, outcome in zip(names, outcomes, strict=True):
            self.results[name] = outcome
            DEPENDENCY_UP.labels(dependency=name).set(1 if outcome == "ok" else 0)
            DEPENDENCY_CHECKED.labels(dependency=name).set(time.time())
        return dict(self.results)

    def snapshot(self) -> dict[str, str]:
        return dict(self.results)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.probe_once()
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
            except TimeoutError:
                continue


def mongo_check(client: AsyncMongoClient[Any]) -> ReadinessCheck:
    async def check() -> None:
        await client.admin.command("ping")

    return check


def kafka_check(producer: Any) -> ReadinessCheck:
    """The broker answers a metadata request (aiokafka's client of a started producer)."""

    async def check() -> None:
        if not await producer.client.fetch_all_metadata():
            raise ConnectionError("no metadata from the Kafka cluster")

    return check


def s3_check(client: S3Client, bucket: str) -> ReadinessCheck:
    async def check() -> None:
        await client.head_bucket(Bucket=bucket)

    return check
