"""MongoDB client factory (PyMongo's async API), and what a database failure means to a caller."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import ConnectionFailure, ExecutionTimeout, PyMongoError, WTimeoutError

from sachso.kit.errors import DependencyUnavailable
from sachso.kit.settings import MongoSettings

TRANSIENT_LABELS = ("TransientTransactionError", "UnknownTransactionCommitResult")
RETRY_AFTER_SECONDS = 2

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


def database_unavailable(error: BaseException) -> DependencyUnavailable | None:
    """The 503 a database failure means to the caller, or None when the error is not one of availability.

    Unreachable or unresponsive servers (``ServerSelectionTimeoutError``, ``NetworkTimeout``, ``AutoReconnect``),
    deadlines passed (``ExecutionTimeout``, any error PyMongo marks as a timeout under ``pymongo.timeout``), and
    transactions still conflicting or of unknown outcome when the deadline ended their retries.
    """
    if not isinstance(error, PyMongoError):
        return None
    if isinstance(error, ConnectionFailure | ExecutionTimeout | WTimeoutError) or error.timeout:
        reason = "the database did not answer in time"
    elif any(error.has_error_label(label) for label in TRANSIENT_LABELS):
        reason = "the database is busy with a conflicting change"
    else:
        return None
    return DependencyUnavailable(f"{reason}; try again shortly", retry_after=RETRY_AFTER_SECONDS)
