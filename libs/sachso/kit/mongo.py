"""MongoDB client factory (PyMongo's async API)."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

from sachso.kit.settings import MongoSettings

Document = dict[str, Any]


def create_mongo_client(settings: MongoSettings) -> AsyncMongoClient[Document]:
    return AsyncMongoClient(
        settings.mongo_uri,
        retryWrites=settings.mongo_retry_writes,
        tz_aware=True,
        uuidRepresentation="standard",
        serverSelectionTimeoutMS=5_000,
        appname=settings.service_name,
    )
