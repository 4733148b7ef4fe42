"""Readiness checks for the external systems a service depends on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pymongo import AsyncMongoClient
from types_aiobotocore_s3 import S3Client

ReadinessCheck = Callable[[], Awaitable[None]]


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
