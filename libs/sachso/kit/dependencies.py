"""What a failure of a dependency — the database or the object store — means to a caller: one answer for the
HTTP and the gRPC edge."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError
from pymongo.errors import PyMongoError

from sachso.kit.errors import DependencyUnavailable
from sachso.kit.mongo import database_unavailable
from sachso.kit.s3 import storage_unavailable

# The errors the edges hand to :func:`dependency_unavailable`.
DEPENDENCY_ERRORS: tuple[type[Exception], ...] = (PyMongoError, BotoCoreError, ClientError)


def dependency_unavailable(error: BaseException) -> DependencyUnavailable | None:
    """The 503 a database or object store failure means to the caller, or None when it is not an outage."""
    return database_unavailable(error) or storage_unavailable(error)
