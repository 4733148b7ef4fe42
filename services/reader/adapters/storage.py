"""Where publication files live: S3 for the originals, a bounded local cache in front of it.

A book is fetched from S3 once into a local directory (least recently used books are evicted beyond
``disk_bytes``); its resources are read from the local copy and the hottest ones kept in memory (an LRU bounded
by ``memory_bytes``). So a hot book never goes back to S3, and a resource is decompressed once.
"""

from __future__ import annotations

import asyncio
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import anyio
from cachetools import LRUCache

CHUNK = 8 * 1024 * 1024


class ObjectStore:
    """The reader's bucket: originals keyed by publication and content digest."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    async def put_file(self, key: str, path: Path, media_type: str) -> None:
        """Upload ``path``; multipart above one chunk, so a large file is never held in memory."""
        local = anyio.Path(path)
        size = (await local.stat()).st_size
        if size <= CHUNK:
            await self.client.put_object(
                Bucket=self.bucket, Key=key, Body=await local.read_bytes(), ContentType=media_type
            )
            return
        upload = await self.client.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=media_type)
        parts = []
        try:
            async with await anyio.open_file(path, "rb") as source:
                number = 1
                while chunk := await source.read(CHUNK):
                    part = await self.client.upload_part(
                        Bucket=self.bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number, Body=chunk
                    )
                    parts.append({"ETag": part["ETag"], "PartNumber": number})
                    number += 1
            await self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
            )
        except BaseException:
            await self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload["UploadId"])
            raise

    async def exists(self, key: str) -> bool:
        try:
            await self.client.head_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.ClientError:  # the client's own class: this module stays free of botocore
            return False
        return True

    async def put_bytes(self, key: str, data: bytes, media_type: str) -> None:
        await self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=media_type)

    async def get_bytes(self, key: str) -> bytes:
        response = await self.client.get_object(Bucket=self.bucket, Key=key)
        async with response["Body"] as body:
            return bytes(await body.read())

    async def download(self, key: str, target: Path) -> None:
        response = await self.client.get_object(Bucket=self.bucket, Key=key)
        partial = anyio.Path(target.with_suffix(".part"))
        async with response["Body"] as body, await anyio.open_file(partial, "wb") as sink:
            while chunk := await body.read(CHUNK):
                await sink.write(chunk)
        await partial.replace(target)


class BookCache:
    """Local copies of books (LRU by total size) and an in-memory LRU of their resources."""

    def __init__(self, store: ObjectStore, directory: Path, *, disk_bytes: int, memory_bytes: int) -> None:
        self.store = store
        self.directory = directory
        self.disk_bytes = disk_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._files: OrderedDict[str, int] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}
        self._memory: LRUCache[tuple[str, str], bytes] = LRUCache(maxsize=memory_bytes, getsizeof=len)
        self.s3_fetches = 0  # how often a book had to come from S3 (for tests and metrics)

    def _local(self, key: str) -> Path:
        return self.directory / key.replace("/", "__")

    async def file(self, key: str) -> Path:
        """The local copy of object ``key``, fetched once however many requests ask at the same time."""
        path = self._local(key)
        local = anyio.Path(path)
        if key in self._files and await local.exists():
            self._files.move_to_end(key)
            return path
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if not await local.exists():
                await self.store.download(key, path)
                self.s3_fetches += 1
            self._files[key] = (await local.stat()).st_size
            self._files.move_to_end(key)
            self._evict()
        return path

    def _evict(self) -> None:
        while sum(self._files.values()) > self.disk_bytes and len(self._files) > 1:
            key, _ = self._files.popitem(last=False)
            self._local(key).unlink(missing_ok=True)
            for cached in [k for k in self._memory if k[0] == key]:
                self._memory.pop(cached, None)

    async def entry(self, key: str, name: str, max_bytes: int) -> bytes | None:
        """Entry ``name`` of the zip ``key`` (decompressed), or None when the archive has no such entry."""
        cached = self._memory.get((key, name))
        if cached is not None:
            return cached
        path = await self.file(key)
        data = await asyncio.to_thread(_read_entry, path, name, max_bytes)
        if data is not None and len(data) <= self._memory.maxsize // 8:
            self._memory[(key, name)] = data
        return data


def _read_entry(path: Path, name: str, max_bytes: int) -> bytes | None:
    with zipfile.ZipFile(path) as archive:
        try:
            info = archive.getinfo(name)
        except KeyError:
            return None
        if info.file_size > max_bytes:
            raise ValueError(f"{name} is larger than {max_bytes} bytes")
        return archive.read(info)
