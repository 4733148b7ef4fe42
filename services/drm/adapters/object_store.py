"""DRM's object storage on S3 (aiobotocore): originals read, protected packages written and streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # stubs only: the images carry no dev packages
    from types_aiobotocore_s3 import S3Client

CHUNK = 256 * 1024


class S3ObjectStore:
    def __init__(self, client: S3Client) -> None:
        self.client = client

    async def read(self, bucket: str, key: str) -> bytes:
        response = await self.client.get_object(Bucket=bucket, Key=key)
        async with response["Body"] as body:
            return await body.read()

    async def write(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        await self.client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)

    async def open_stream(self, bucket: str, key: str) -> AsyncIterator[bytes]:
        response = await self.client.get_object(Bucket=bucket, Key=key)

        async def chunks() -> AsyncIterator[bytes]:
            async with response["Body"] as body:
                while chunk := await body.read(CHUNK):
                    yield chunk

        return chunks()
