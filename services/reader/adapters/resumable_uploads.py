"""Resumable uploads kept in S3 multipart uploads, their state in MongoDB (``local_document_uploads``).

S3 needs parts of at least 5 MiB (but the last); a tus client sends chunks of any size and may be cut off at
any byte. So full parts go to the multipart upload as soon as they fill, and the bytes after the last full part
(the *tail*, less than one part) are kept as a small object of their own, rewritten at the end of each request.
The offset a client resumes from is what is durable: the full parts plus the stored tail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from reader.service_layer.resumable_uploads import PART_BYTES, MultipartStore, UploadStates

Document = dict[str, Any]
__all__ = ["PART_BYTES", "MultipartObjects", "UploadStateRepository"]


class UploadStateRepository(UploadStates):
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.uploads = database["local_document_uploads"]

    async def ensure_indexes(self) -> None:
        await self.uploads.create_index("created_at", expireAfterSeconds=7 * 24 * 3600)  # abandoned uploads go

    async def add(self, state: Document) -> None:
        await self.uploads.insert_one(state)

    async def get(self, upload_id: str) -> Document | None:
        return await self.uploads.find_one({"_id": upload_id})

    async def take(self, upload_id: str, offset: int, now: datetime, lease_until: datetime) -> Document | None:
        """Hold the upload for one request, if it is at ``offset`` and no other request holds it."""
        return await self.uploads.find_one_and_update(
            {"_id": upload_id, "offset": offset, "lease_until": {"$lt": now}},
            {"$set": {"lease_until": lease_until}},
            return_document=ReturnDocument.AFTER,
        )

    async def add_part(self, upload_id: str, number: int, etag: str, parts_bytes: int) -> None:
        """A full part is stored: the offset is now the parts alone (the old tail is inside them)."""
        await self.uploads.update_one(
            {"_id": upload_id},
            {"$push": {"parts": {"PartNumber": number, "ETag": etag}},
             "$set": {"parts_bytes": parts_bytes, "offset": parts_bytes, "tail_bytes": 0}},
        )  # fmt: skip

    async def set_tail(self, upload_id: str, parts_bytes: int, tail_bytes: int, released: datetime) -> None:
        await self.uploads.update_one(
            {"_id": upload_id},
            {"$set": {"offset": parts_bytes + tail_bytes, "tail_bytes": tail_bytes, "lease_until": released}},
        )

    async def release(self, upload_id: str, released: datetime) -> None:
        await self.uploads.update_one({"_id": upload_id}, {"$set": {"lease_until": released}})

    async def mark_complete(self, upload_id: str) -> None:
        await self.uploads.update_one({"_id": upload_id}, {"$set": {"complete": True}})

    async def mark_used(self, upload_id: str, document_id: str) -> bool:
        result = await self.uploads.update_one(
            {"_id": upload_id, "document_id": None}, {"$set": {"document_id": document_id}}
        )
        return result.modified_count == 1

    async def remove(self, upload_id: str) -> None:
        await self.uploads.delete_one({"_id": upload_id})


class MultipartObjects(MultipartStore):
    """The S3 side: a multipart upload per resumable upload, and its tail object."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    async def start(self, key: str, media_type: str) -> str:
        upload = await self.client.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=media_type)
        return str(upload["UploadId"])

    async def put_part(self, key: str, s3_upload_id: str, number: int, data: bytes) -> str:
        part = await self.client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=s3_upload_id, PartNumber=number, Body=data
        )
        return str(part["ETag"])

    async def read_tail(self, key: str) -> bytes:
        response = await self.client.get_object(Bucket=self.bucket, Key=f"{key}.tail")
        async with response["Body"] as body:
            return bytes(await body.read())

    async def write_tail(self, key: str, data: bytes) -> None:
        await self.client.put_object(Bucket=self.bucket, Key=f"{key}.tail", Body=data)

    async def complete(self, key: str, s3_upload_id: str, parts: list[Document]) -> None:
        await self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=s3_upload_id, MultipartUpload={"Parts": parts}
        )
        await self.client.delete_object(Bucket=self.bucket, Key=f"{key}.tail")

    async def abort(self, key: str, s3_upload_id: str) -> None:
        await self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=s3_upload_id)
        await self.client.delete_object(Bucket=self.bucket, Key=f"{key}.tail")
