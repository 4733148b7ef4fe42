"""S3 client factory (aiobotocore) for S3-compatible object stores."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

if TYPE_CHECKING:  # stubs only: the images carry no dev packages
    from types_aiobotocore_s3 import S3Client

from sachso.kit.settings import S3Settings


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
