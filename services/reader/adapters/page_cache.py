"""Encoded PDF page images kept once rendered: in memory (LRU by size) and on local disk (LRU by size).

Only images that are the same for every reader go to disk; a watermarked image (it names one patron's loan) is
kept in this process's memory only, under a key that includes its watermark, so it is never served to anyone
else and never outlives the process.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from pathlib import Path

import anyio
from cachetools import LRUCache

PageKey = tuple[str, int, int, str]  # (publication version, page, width, watermark digest or "")


class PageImageCache:
    def __init__(self, directory: Path | None, *, memory_bytes: int, disk_bytes: int) -> None:
        self._memory: LRUCache[PageKey, bytes] = LRUCache(maxsize=memory_bytes, getsizeof=len)
        self.directory = directory
        self.disk_bytes = disk_bytes
        self._disk: OrderedDict[PageKey, int] = OrderedDict()
        self._disk_total = 0
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            for path in sorted(directory.glob("*.img"), key=lambda found: found.stat().st_mtime):
                key = self._key_of(path)
                if key is None:
                    path.unlink(missing_ok=True)
                else:
                    self._disk[key] = path.stat().st_size
                    self._disk_total += self._disk[key]
            self._evict()

    def memory(self, key: PageKey) -> bytes | None:
        """The image from memory (microseconds), or None."""
        return self._memory.get(key)

    async def get(self, key: PageKey) -> bytes | None:
        image = self._memory.get(key)
        if image is None and key in self._disk:
            try:
                image = await anyio.Path(self._path(key)).read_bytes()
            except OSError:
                self._disk_total -= self._disk.pop(key, 0)
                return None
            self._disk.move_to_end(key)
            self._remember(key, image)
        return image

    async def put(self, key: PageKey, image: bytes) -> None:
        self._remember(key, image)
        if self.directory is None or key[3] or len(image) > self.disk_bytes // 4:
            return  # watermarked (one patron's): memory only
        temporary = self._path(key).with_suffix(".part")
        await anyio.Path(temporary).write_bytes(image)
        await anyio.Path(temporary).rename(self._path(key))
        self._disk_total += len(image) - self._disk.get(key, 0)
        self._disk[key] = len(image)
        self._disk.move_to_end(key)
        self._evict()

    def _remember(self, key: PageKey, image: bytes) -> None:
        if len(image) <= self._memory.maxsize // 4:
            self._memory[key] = image

    def _evict(self) -> None:
        while self._disk and self._disk_total > self.disk_bytes:
            key, size = self._disk.popitem(last=False)
            self._disk_total -= size
            with contextlib.suppress(OSError):
                self._path(key).unlink()

    def _path(self, key: PageKey) -> Path:
        assert self.directory is not None
        version, page, width, _ = key
        return self.directory / f"{version}-{page}-{width}.img"

    @staticmethod
    def _key_of(path: Path) -> PageKey | None:
        version, _, rest = path.stem.rpartition("-")
        version, _, page = version.rpartition("-")
        if not (version and page.isdigit() and rest.isdigit()):
            return None
        return version, int(page), int(rest), ""
