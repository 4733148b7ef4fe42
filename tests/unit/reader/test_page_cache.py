"""Rendered PDF page images: kept in memory and on disk within their bounds; a patron's watermark never on disk."""

from __future__ import annotations

from pathlib import Path

from reader.adapters.page_cache import PageImageCache


def _files(folder: Path, pattern: str = "*") -> dict[str, int]:
    return {path.name: path.stat().st_size for path in folder.glob(pattern)}


async def test_plain_pages_survive_on_disk_and_watermarked_ones_only_in_memory(tmp_path: Path) -> None:
    cache = PageImageCache(tmp_path, memory_bytes=1024 * 1024, disk_bytes=1024 * 1024)
    await cache.put(("v1", 3, 1200, ""), b"plain page")
    await cache.put(("v1", 3, 1200, "ab12cd34"), b"page marked for ana")
    assert await cache.get(("v1", 3, 1200, "ab12cd34")) == b"page marked for ana"
    assert list(_files(tmp_path)) == ["v1-3-1200.img"]

    restarted = PageImageCache(tmp_path, memory_bytes=1024 * 1024, disk_bytes=1024 * 1024)
    assert restarted.memory(("v1", 3, 1200, "")) is None
    assert await restarted.get(("v1", 3, 1200, "")) == b"plain page"
    assert restarted.memory(("v1", 3, 1200, "")) == b"plain page"  # read once from disk, then from memory
    assert await restarted.get(("v1", 3, 1200, "ab12cd34")) is None  # another patron's mark never comes back


async def test_the_disk_holds_at_most_its_bound_dropping_the_least_recently_used(tmp_path: Path) -> None:
    cache = PageImageCache(tmp_path, memory_bytes=64, disk_bytes=2000)
    for page in range(1, 7):
        await cache.put(("v1", page, 800, ""), bytes(450))
    assert sum(_files(tmp_path).values()) <= 2000
    assert await cache.get(("v1", 1, 800, "")) is None
    assert await cache.get(("v1", 6, 800, "")) == bytes(450)
    assert not _files(tmp_path, "*.part")
