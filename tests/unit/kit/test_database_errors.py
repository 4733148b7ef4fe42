"""What a database failure means to a caller: 503 with Retry-After for availability, never a 500 or a hang."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter
from pymongo.errors import (
    AutoReconnect,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from sachso.kit.http import create_http_app
from sachso.kit.mongo import database_unavailable


def transient_conflict() -> OperationFailure:
    error = OperationFailure("WriteConflict", code=112)
    error._add_error_label("TransientTransactionError")
    return error


@pytest.mark.parametrize(
    "error",
    [
        ServerSelectionTimeoutError("no primary"),
        NetworkTimeout("timed out"),
        AutoReconnect("connection reset"),
        ExecutionTimeout("operation exceeded time limit", code=50),
        transient_conflict(),
    ],
)
async def test_availability_failures_answer_503_with_retry_after(error: PyMongoError) -> None:
    unavailable = database_unavailable(error)
    assert unavailable is not None
    assert unavailable.status == 503
    answer = await answer_to(error)
    assert answer.status_code == 503
    assert answer.json()["type"].endswith("/dependency-unavailable")
    assert int(answer.headers["Retry-After"]) >= 1


async def answer_to(error: Exception) -> httpx.Response:
    """What the HTTP edge answers for a route that raises ``error``."""
    app = create_http_app(title="t", version="1", readiness={})
    router = APIRouter()

    @router.get("/fails")
    async def fails() -> None:
        raise error

    app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        return await http.get("/fails")


def test_other_database_errors_are_not_called_outages() -> None:
    assert database_unavailable(DuplicateKeyError("E11000", code=11000)) is None
    assert database_unavailable(OperationFailure("bad query", code=2)) is None
    assert database_unavailable(ValueError("not a database error")) is None
