"""S3 client factory (aiobotocore) for S3-compatible object stores, and what an S3 failure means to a caller."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as StoreConnectionError

if TYPE_CHECKING:  # stubs only: the images carry no dev packages
    from types_aiobotocore_s3 import S3Client

from sachso.kit.errors import DependencyUnavailable
from sachso.kit.settings import S3Settings

RETRY_AFTER_SECONDS = 5
# Unreachable (refused, resolved nowhere, connect timeout) or unresponsive (read timeout, connection dropped).
UNREACHABLE: tuple[type[Exception], ...] = (StoreConnectionError, HTTPClientError)
# Answers of a store that is there but cannot serve now (or whose bucket is not made yet: the pod set it up in the
# background, see sachso.kit.bootstrap, and an operator's missing bucket shows in sachso_dependency_up).
UNAVAILABLE_CODES = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "NoSuchBucket"})


def create_s3_client(settings: S3Settings) -> AbstractAsyncContextManager[S3Client]:
    """An async context manager yielding a client; path-style addressing works with every S3 server."""
    return get_session().create_client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id,
        aws_secret_access_key=settings.s3_secret_access_key.get_secret_value(),
        config=AioConfig(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=30,
        ),
    )


async def ensure_bucket(client: S3Client, bucket: str) -> None:
    """Create ``bucket`` if it does not exist (production buckets are usually made by the operator)."""
    try:
        await client.head_bucket(Bucket=bucket)
    except client.exceptions.ClientError:
        await client.create_bucket(Bucket=bucket)


def storage_unavailable(error: BaseException) -> DependencyUnavailable | None:
    """The 503 an object store failure means to the caller, or None when the error is not one of availability.

    Unreachable or unresponsive stores (botocore's connection and read-timeout errors, after the client's own
    retries), answers of 5xx or of throttling, and a bucket that does not exist (yet).
    """
    if isinstance(error, UNREACHABLE):
        reason = "the object store did not answer"
    elif isinstance(error, ClientError) and (
        error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500
        or error.response.get("Error", {}).get("Code") in UNAVAILABLE_CODES
    ):
        reason = f"the object store cannot serve now ({error.response.get('Error', {}).get('Code', 'unknown')})"
    else:
        return None
    return DependencyUnavailable(f"{reason}; try again shortly", retry_after=RETRY_AFTER_SECONDS)
