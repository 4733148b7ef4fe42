"""Serving publications to reading systems: manifest, positions, resources, PDF page images, search."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import mimetypes
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cachetools import LRUCache
from lxml import etree
from lxml import html as lxml_html
from PIL import Image

from reader.adapters.page_cache import PageImageCache, PageKey
from reader.adapters.pdf import PdfEngine, page_texts
from reader.adapters.storage import BookCache
from reader.domain import fonts, lcp_content
from reader.domain.manifest import positions
from reader.domain.resource_paths import archive_index, canonical_path, container_path_of, servable
from reader.domain.text_search import Passage, search
from reader.errors import PublicationNotFound, ReadOnlineOnly, ResourceLocked, ResourceNotFound
from reader.service_layer.ingest import PDF_HREF
from reader.service_layer.repositories import PublicationReads
from sachso.kit.expiring import ExpiringCache

Document = dict[str, Any]
ContentKey = Callable[[str], Awaitable[bytes | None]]
MAX_RESOURCE_BYTES = 64 * 1024 * 1024
PAGE_WIDTH_STEP = 100
COVER_WIDTH = 360  # the catalogue shows covers up to 180 CSS pixels wide: sharp on 2x screens
TEXT_TYPES = ("text/", "application/xhtml+xml", "application/xml", "image/svg+xml", "application/javascript",
              "application/json", "application/x-dtbncx+xml", "application/smil+xml")  # fmt: skip


@dataclass(frozen=True)
class Resource:
    """Bytes in memory, or a local file for whole-file formats (PDF), with what HTTP needs to serve them."""

    media_type: str
    length: int
    etag: str
    data: bytes | None = None
    path: Path | None = None

    @property
    def compressible(self) -> bool:
        return self.media_type.startswith(TEXT_TYPES)


class Streaming:
    def __init__(
        self,
        publications: PublicationReads,
        cache: BookCache,
        pdf: PdfEngine,
        *,
        page_cache_bytes: int = 64 * 1024 * 1024,
        page_cache_dir: Path | None = None,
        page_cache_disk_bytes: int = 512 * 1024 * 1024,
        resolved_cache_bytes: int = 64 * 1024 * 1024,
        content_key: ContentKey | None = None,
    ) -> None:
        self.content_key = content_key
        self.publications = publications
        self.cache = cache
        self.pdf = pdf
        self._pages = PageImageCache(page_cache_dir, memory_bytes=page_cache_bytes, disk_bytes=page_cache_disk_bytes)
        self._rendering: dict[PageKey, asyncio.Future[bytes]] = {}
        self._ahead: set[asyncio.Future[None]] = set()
        self._texts: LRUCache[str, list[Passage]] = LRUCache(maxsize=16)
        # a page turn asks for a dozen resources of one book: its document is read once every few seconds
        self._documents: ExpiringCache[str, Document] = ExpiringCache(maxsize=1024, ttl=5.0)
        self._indexes: LRUCache[str, _BookIndex] = LRUCache(maxsize=1024)
        # what a request path of a publication's version resolved to (a page turn asks for the same stylesheets,
        # fonts and images again): the decisions below are taken once per path, not once per request
        self._resolved: LRUCache[tuple[str, str, str, bool], Resource] = LRUCache(
            maxsize=resolved_cache_bytes, getsizeof=lambda resource: resource.length + 512
        )

    async def publication(self, publication_id: str) -> Document:
        document = self._documents.get(publication_id)
        if document is None:
            document = await self.publications.get(publication_id)  # a plain read: no transaction on this path
            if document is None:
                raise PublicationNotFound(f"no publication {publication_id}")
            self._documents[publication_id] = document
        return document

    async def manifest(self, publication_id: str) -> tuple[dict[str, Any], str]:
        document = await self.publication(publication_id)
        return document["manifest"], f'"m-{document["version"]}"'

    async def positions(self, publication_id: str) -> tuple[dict[str, Any], str]:
        document = await self.publication(publication_id)
        listed = positions(document["manifest"], {name: size for name, size in document["sizes"]})
        return {"total": len(listed), "positions": listed}, f'"p-{document["version"]}"'

    async def resource(self, publication_id: str, requested: str, *, online_only: bool = False) -> Resource:
        """The resource ``requested`` names; every decision is taken on its canonical path, and only on it."""
        document = await self.publication(publication_id)
        resolved_key = (publication_id, document["version"], requested, online_only)
        resolved = self._resolved.get(resolved_key)
        if resolved is not None:
            return resolved
        href = canonical_path(requested)
        if href is None or not servable(href):
            raise ResourceNotFound(f"{requested!r} is not a resource of this publication")
        etag = f'"{document["version"]}-{hashlib.sha1(href.encode(), usedforsecurity=False).hexdigest()[:12]}"'
        if document["format"] == "application/pdf":
            if href != PDF_HREF:
                raise ResourceNotFound(f"this PDF has no resource {href}")
            if online_only:
                raise ReadOnlineOnly("this document is read online only: its pages are served as watermarked images")
            path = await self.cache.file(document["key"])
            return Resource("application/pdf", path.stat().st_size, etag, path=path)
        index = self._index(document)
        entry = index.entries.get(href)
        data = None if entry is None else await self.cache.entry(document["key"], entry, MAX_RESOURCE_BYTES)
        if data is None:
            raise ResourceNotFound(f"this publication has no resource {href}")
        link = index.links.get(href)
        media_type = (link or {}).get("type") or mimetypes.guess_type(href)[0] or "application/octet-stream"
        encrypted = (link or {}).get("properties", {}).get("encrypted", {})
        algorithm = encrypted.get("algorithm")
        if algorithm in fonts.ALGORITHMS:
            data = fonts.deobfuscate(data, algorithm, document["metadata"].get("identifier", ""))
        elif algorithm == lcp_content.AES256_CBC:
            # asked every time: DRM may stop holding the key
            data = await self._decrypted(publication_id, href, data, encrypted.get("compression") == "deflate")
            return Resource(media_type, len(data), etag, data=data)
        resource = Resource(media_type, len(data), etag, data=data)
        self._resolved[resolved_key] = resource
        return resource

    def _index(self, document: Document) -> _BookIndex:
        index = self._indexes.get(document["key"])
        if index is None:
            index = _BookIndex.of(document)
            self._indexes[document["key"]] = index
        return index

    async def _decrypted(self, publication_id: str, href: str, data: bytes, deflated: bool) -> bytes:
        """An LCP-encrypted resource opened with the publication's content key from DRM (then ranges apply)."""
        key = await self.content_key(publication_id) if self.content_key else None
        if key is None:
            raise ResourceLocked(f"{href} is LCP-encrypted and DRM holds no key for this publication")
        try:
            return await asyncio.to_thread(lcp_content.decrypt_resource, key, data, deflated)
        except lcp_content.UndecryptableResource as error:
            raise ResourceLocked(f"{href}: {error}") from None

    async def page_image(
        self, publication_id: str, page: int, width: int, watermark: str | None = None
    ) -> tuple[bytes, str]:
        """A PDF page rendered about ``width`` pixels wide (rounded up to a cached step), watermarked if asked.

        Rendered once per (version, page, width, watermark) and kept (:class:`PageImageCache`); the next page is
        rendered ahead meanwhile, as a reader turns pages in order. A watermark names one patron's loan: it is part
        of the key, so no one is ever served another patron's mark.
        """
        document = await self.publication(publication_id)
        if document["format"] != "application/pdf":
            raise ResourceNotFound("page images exist for PDF publications")
        pages = document["manifest"]["metadata"]["numberOfPages"]
        if not 1 <= page <= pages:
            raise ResourceNotFound(f"page {page} is not between 1 and {pages}")
        width = min(-(-width // PAGE_WIDTH_STEP) * PAGE_WIDTH_STEP, 3000)
        mark = hashlib.sha1((watermark or "").encode(), usedforsecurity=False).hexdigest()[:8] if watermark else ""
        key = (document["version"], page, width, mark)
        image = self._pages.memory(key) or await self._rendered(document, key, watermark)
        if page < pages:
            self._render_ahead(document, (document["version"], page + 1, width, mark), watermark)
        return image, f'"{document["version"]}-p{page}-w{width}{"-" + mark if mark else ""}"'

    async def _rendered(self, document: Document, key: PageKey, watermark: str | None) -> bytes:
        """From the cache, or rendered once however many requests ask for it at the same time."""
        running = self._rendering.get(key)
        if running is not None:
            return await asyncio.shield(running)
        image = await self._pages.get(key)
        if image is not None:
            return image
        task = asyncio.ensure_future(self._render(document, key, watermark))
        self._rendering[key] = task
        task.add_done_callback(lambda _: self._rendering.pop(key, None))
        return await asyncio.shield(task)

    async def _render(self, document: Document, key: PageKey, watermark: str | None) -> bytes:
        _, page, width, _ = key
        path = await self.cache.file(document["key"])
        image = await self.pdf.render(path, page, width, "WEBP", watermark)
        await self._pages.put(key, image)
        return image

    def _render_ahead(self, document: Document, key: PageKey, watermark: str | None) -> None:
        if key in self._rendering or self._pages.memory(key) is not None:
            return

        async def ahead() -> None:
            with contextlib.suppress(Exception):  # only a head start: the page's own request reports failures
                await self._rendered(document, key, watermark)

        task = asyncio.ensure_future(ahead())
        self._ahead.add(task)
        task.add_done_callback(self._ahead.discard)

    async def cover(self, publication_id: str) -> Resource:
        """The publication's cover as a small image for the catalogue: the EPUB's cover image (its manifest link
        with rel "cover"), or a PDF's first page, COVER_WIDTH pixels wide at most.

        Made once per version and kept with the rendered pages (memory, then the page cache's disk): the book is
        fetched from the object store only for the first request a pod answers, if its file cache lacks it."""
        document = await self.publication(publication_id)
        if document.get("status") == "withdrawn":
            raise PublicationNotFound(f"publication {publication_id} was withdrawn")
        key = (document["version"], 0, COVER_WIDTH, "")  # page 0: no PDF page has that number
        image = await self._pages.get(key)  # memory, then disk
        if image is None:
            image = await self._cover_image(publication_id, document)
            await self._pages.put(key, image)  # empty: no cover, also kept (the catalogue draws one)
        if not image:
            raise ResourceNotFound(f"publication {publication_id} has no cover image")
        return Resource("image/webp", len(image), f'"{document["version"]}-cover"', data=image)

    async def _cover_image(self, publication_id: str, document: Document) -> bytes:
        """The cover as WebP, or empty when the book has none worth showing."""
        if document["format"] == "application/pdf":
            path = await self.cache.file(document["key"])
            page = await self.pdf.render(path, 1, COVER_WIDTH, "WEBP", None)
            # a first page of a few small words (a text-only PDF's title page) shows as a white card: none
            return b"" if await asyncio.to_thread(_nearly_blank, page) else page
        href = next((link["href"] for link in document["manifest"].get("resources", []) if _is_cover(link)), None)
        if href is None:
            return b""
        original = await self.resource(publication_id, href)
        assert original.data is not None  # EPUB resources are served from memory
        try:
            return await asyncio.to_thread(_thumbnail, original.data)
        except (OSError, ValueError, Image.DecompressionBombError):
            return b""  # an unreadable picture: the catalogue draws the cover

    async def search(self, publication_id: str, query: str) -> list[dict[str, Any]]:
        passages = await self._cached_passages(await self.publication(publication_id))
        return await asyncio.to_thread(search, passages, query)

    async def page_text(self, publication_id: str, page: int) -> str:
        """The text layer of a PDF page (empty for a scan without one): the page image's text alternative."""
        document = await self.publication(publication_id)
        if document["format"] != "application/pdf":
            raise ResourceNotFound("page texts exist for PDF publications")
        passages = await self._cached_passages(document)
        if not 1 <= page <= len(passages):
            raise ResourceNotFound(f"page {page} is not between 1 and {len(passages)}")
        return passages[page - 1].text

    async def _cached_passages(self, document: Document) -> list[Passage]:
        passages = self._texts.get(document["version"])
        if passages is None:
            passages = await self._passages(document)
            self._texts[document["version"]] = passages
        return passages

    async def _passages(self, document: Document) -> list[Passage]:
        if document["format"] == "application/pdf":
            path = await self.cache.file(document["key"])
            texts = await self.pdf.run(page_texts, path)
            return [Passage(PDF_HREF, "application/pdf", text, f"page={n}") for n, text in enumerate(texts, 1)]
        passages = []
        for link in document["manifest"]["readingOrder"]:
            if "?" in link["href"]:
                continue  # a place the spine repeats: its text is found at the first place
            data = await self.cache.entry(document["key"], container_path_of(link["href"]), MAX_RESOURCE_BYTES)
            if data:
                passages.append(Passage(link["href"], link["type"], await asyncio.to_thread(_plain_text, data)))
        return passages


def _is_cover(link: dict[str, Any]) -> bool:
    rel = link.get("rel")
    return ("cover" in rel if isinstance(rel, list) else rel == "cover") and str(link.get("type", "")).startswith(
        "image/"
    )


def _nearly_blank(data: bytes) -> bool:
    """True when under 1 % of the image is ink (darker than mid-grey): a page of a few small words."""
    with Image.open(io.BytesIO(data)) as image:
        histogram = image.convert("L").histogram()
    return sum(histogram[:160]) < 0.01 * sum(histogram)


def _thumbnail(data: bytes) -> bytes:
    """A cover image at most COVER_WIDTH wide, as WebP (a publisher's cover is often megapixels)."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (COVER_WIDTH, COVER_WIDTH * 2))  # JPEG: decode at a reduced scale
        picture = image.convert("RGB")
        picture.thumbnail((COVER_WIDTH, COVER_WIDTH * 2))
        buffer = io.BytesIO()
        picture.save(buffer, format="WEBP", quality=80)
        return buffer.getvalue()


def _plain_text(data: bytes) -> str:
    try:
        tree = lxml_html.fromstring(data)
    except (ValueError, etree.ParserError):
        return ""
    for element in tree.xpath("//script|//style"):
        element.drop_tree()
    return " ".join(tree.text_content().split())


@dataclass(frozen=True)
class _BookIndex:
    """A book's archive entries and manifest links, each by its canonical path."""

    entries: dict[str, str]
    links: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, document: Document) -> _BookIndex:
        links: dict[str, dict[str, Any]] = {}
        for collection in ("readingOrder", "resources"):
            for link in document["manifest"].get(collection, []):
                canonical = canonical_path(container_path_of(link["href"]))
                if canonical is not None:
                    links.setdefault(canonical, link)
        return cls(archive_index(name for name, _ in document["sizes"]), links)
