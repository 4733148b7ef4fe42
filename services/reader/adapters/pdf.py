"""PDF documents with pdfium (pypdfium2): metadata, outline, page images and page text.

pdfium is not thread-safe, so every call runs on one dedicated worker thread (:class:`PdfEngine`); the event
loop never blocks on it.
"""

from __future__ import annotations

import asyncio
import io
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, ImageDraw, ImageFont

from reader.domain.publication import Contributor, Metadata, NavEntry, PdfDocument, clean_text
from reader.errors import DrmProtectedFile, UnreadableFile
from sachso.kit.text import fold

T = TypeVar("T")
MAX_RENDER_WIDTH = 3000
WATERMARK_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _outline(document: pdfium.PdfDocument) -> tuple[NavEntry, ...]:
    """The bookmarks as a tree (pdfium yields them flat, with their depth)."""
    root: list[tuple[int, str, str, list[object]]] = []
    stack: list[tuple[int, list[tuple[int, str, str, list[object]]]]] = [(-1, root)]
    for bookmark in document.get_toc(max_depth=8):
        destination = bookmark.get_dest()
        index = destination.get_index() if destination is not None else None
        href = f"#page={index + 1}" if index is not None else ""
        while stack[-1][0] >= bookmark.level:
            stack.pop()
        children: list[tuple[int, str, str, list[object]]] = []
        stack[-1][1].append((bookmark.level, bookmark.get_title(), href, children))  # type: ignore[arg-type]
        stack.append((bookmark.level, children))

    def build(nodes: list[tuple[int, str, str, list[object]]]) -> tuple[NavEntry, ...]:
        return tuple(NavEntry(clean_text(title), href, build(kids)) for _, title, href, kids in nodes)  # type: ignore[arg-type]

    return build(root)


def read_pdf(path: Path) -> PdfDocument:
    try:
        document = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as error:
        if error.err_code in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
            raise DrmProtectedFile(
                "the PDF is encrypted (a password or a DRM security handler such as Adobe's): send it unprotected"
            ) from None
        raise UnreadableFile(f"not a readable PDF: {error}") from None
    try:
        info = document.get_metadata_dict(skip_empty=True)
        author = clean_text(info.get("Author", ""))
        metadata = Metadata(
            title=clean_text(info.get("Title", "")),
            contributors=(Contributor(author),) if author else (),
            subjects=tuple(clean_text(word) for word in info.get("Keywords", "").split(",") if clean_text(word)),
            description=clean_text(info.get("Subject", "")),
        )
        return PdfDocument(
            metadata=metadata, page_count=len(document), outline=_outline(document), size=path.stat().st_size
        )
    finally:
        document.close()


def render_page(
    path: Path, page_number: int, width: int, image_format: str = "WEBP", watermark: str | None = None
) -> bytes:
    """Page ``page_number`` (1-based) rendered ``width`` pixels wide; ``watermark`` is drawn across it, visibly."""
    document = pdfium.PdfDocument(str(path))
    try:
        return render_document_page(document, page_number, width, image_format, watermark)
    finally:
        document.close()


def render_document_page(
    document: pdfium.PdfDocument, page_number: int, width: int, image_format: str = "WEBP", watermark: str | None = None
) -> bytes:
    """:func:`render_page` on a document already open."""
    page = document[page_number - 1]
    page_width, _ = page.get_size()
    bitmap = page.render(scale=min(width, MAX_RENDER_WIDTH) / page_width)
    image = bitmap.to_pil()
    if watermark:
        image = watermarked(image, watermark)
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, quality=82)
    return buffer.getvalue()


def watermarked(image: Image.Image, text: str) -> Image.Image:
    """The text in grey, repeated diagonally over the whole page: a copy shows whose loan it came from."""
    base = image.convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    size = max(14, base.width // 30)
    if WATERMARK_FONT.exists():  # DejaVu (Debian fonts-dejavu-core) has every Vietnamese letter
        font: ImageFont.FreeTypeFont | ImageFont.ImageFont = ImageFont.truetype(str(WATERMARK_FONT), size)
    else:  # Pillow's own font lacks them: the mark is written without diacritics rather than as boxes
        font, text = ImageFont.load_default(size=size), fold(text)
    step = max(120, base.height // 6)
    for y in range(-step, base.height + step, step):
        for x in range(-base.width // 2, base.width, max(200, base.width // 2)):
            draw.text((x + (y // step % 2) * step, y), text, fill=(120, 120, 120, 90), font=font)
    layer = layer.rotate(20, resample=Image.Resampling.BICUBIC)
    return Image.alpha_composite(base, layer).convert("RGB")


def page_texts(path: Path) -> list[str]:
    document = pdfium.PdfDocument(str(path))
    try:
        return [document[index].get_textpage().get_text_range() for index in range(len(document))]
    finally:
        document.close()


class PdfEngine:
    """Runs pdfium work on one thread; keeps the few documents whose pages are being read open there."""

    def __init__(self, open_documents: int = 8) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pdfium")
        self._open_documents = open_documents
        # touched only on the pdfium thread; keyed by the file's identity, so a replaced file is opened afresh
        self._documents: OrderedDict[tuple[str, int, int], pdfium.PdfDocument] = OrderedDict()

    async def render(
        self, path: Path, page_number: int, width: int, image_format: str = "WEBP", watermark: str | None = None
    ) -> bytes:
        """:func:`render_page`, without opening the document again for every page."""
        return await self.run(self._render_open, path, page_number, width, image_format, watermark)

    def _render_open(self, path: Path, page_number: int, width: int, image_format: str, watermark: str | None) -> bytes:
        status = path.stat()
        key = (str(path), status.st_mtime_ns, status.st_size)
        document = self._documents.get(key)
        if document is None:
            document = pdfium.PdfDocument(str(path))
            self._documents[key] = document
            while len(self._documents) > self._open_documents:
                self._documents.popitem(last=False)[1].close()
        self._documents.move_to_end(key)
        return render_document_page(document, page_number, width, image_format, watermark)

    async def run(self, work: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
