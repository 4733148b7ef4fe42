"""S3 settings for the local stack's object store; buckets made by a test are emptied and removed by it."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from sachso.kit.settings import S3Settings


def s3_settings(stack_env: dict[str, str], bucket: str) -> S3Settings:
    """Settings for ``bucket`` on the local stack's object store."""
    return S3Settings(
        service_name="itest",
        s3_endpoint_url=stack_env["SACHSO_S3_ENDPOINT_URL"],
        s3_access_key_id=stack_env["SACHSO_S3_ACCESS_KEY_ID"],
        s3_secret_access_key=SecretStr(stack_env["SACHSO_S3_SECRET_ACCESS_KEY"]),
        s3_bucket=bucket,
    )


async def remove_bucket(s3: Any, bucket: str) -> None:
    paginator = s3.get_paginator("list_objects_v2")
    async for page in paginator.paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            await s3.delete_object(Bucket=bucket, Key=item["Key"])
    await s3.delete_bucket(Bucket=bucket)
