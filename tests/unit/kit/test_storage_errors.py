"""What an object store failure means to a caller: 503 with Retry-After for an outage, never a 500 or a hang."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from sachso.kit.s3 import storage_unavailable
from tests.unit.kit.test_database_errors import answer_to


def client_error(code: str, status: int) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "Op")


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
        ConnectTimeoutError(endpoint_url="http://10.0.0.1"),
        ReadTimeoutError(endpoint_url="http://10.0.0.1"),
        client_error("SlowDown", 503),
        client_error("InternalError", 500),
        client_error("NoSuchBucket", 404),  # not made yet: the pod makes it in the background once S3 answers
    ],
)
async def test_outages_answer_503_problem_details(error: Exception) -> None:
    assert storage_unavailable(error) is not None
    answer = await answer_to(error)
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/dependency-unavailable")
    assert int(answer.headers["Retry-After"]) >= 1


def test_other_storage_errors_are_not_called_outages() -> None:
    assert storage_unavailable(client_error("AccessDenied", 403)) is None
    assert storage_unavailable(client_error("NoSuchKey", 404)) is None
    assert storage_unavailable(ValueError("not a storage error")) is None
