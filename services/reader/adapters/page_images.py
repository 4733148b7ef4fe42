"""Page images of scanned documents with Pillow and pdfium: split an upload into pages, serve IIIF requests.

Every page is kept as a *master*: a JPEG (quality 90, grey or colour as scanned) that the IIIF service crops and
scales. JPEG lets Pillow decode at 1/2, 1/4 or 1/8 size (``draft``), so thumbnails and zoomed-out tiles never
decode the whole scan. All functions block: run them off the event loop.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image, ImageOps

from reader.adapters.epub import zip_entries
from reader.adapters.pdf import watermarked
from reader.domain.iiif import ImageRequest
from reader.domain.local_documents import (
    MAX_PAGE_PIXELS,
    PageFormat,
    check_page_count,
    check_page_pixels,
    page_order,
    sniff_page,
)
from reader.domain.packaging import Limits, zip_problems
from reader.errors import UnreadableFile, UnsafeFile

SCAN_DPI = 300
MASTER_QUALITY = 90
# Pillow's own bomb guard is at twice this; ours refuses earlier and says why (check_page_pixels).
Image.MAX_IMAGE_PIXELS = MAX_PAGE_PIXELS


@dataclass(frozen=True)
class MasterPage:
    number: int
    path: Path
    width: int
    height: int
    sha256: str
    source: str  # the entry name in the zip, or "page N" of the PDF


def _save_master(image: Image.Image, target: Path) -> tuple[int, int, str]:
    image = ImageOps.exif_transpose(image)
    if image.mode not in ("L", "RGB"):
        image = image.convert("L" if image.mode in ("1", "I", "I;16", "F", "LA") else "RGB")
    image.save(target, format="JPEG", quality=MASTER_QUALITY, optimize=True)
    return image.width, image.height, hashlib.sha256(target.read_bytes()).hexdigest()


def kind_of_upload(path: Path) -> str:
    """``pdf`` or ``zip`` from the file's first bytes."""
    with path.open("rb") as source:
        head = source.read(8)
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    raise UnreadableFile("scans are accepted as one PDF or a zip of page images (TIFF, JPEG, PNG, JPEG 2000)")


def masters_from_zip(path: Path, out_dir: Path, limits: Limits) -> Iterator[MasterPage]:
    """The pages of a zip of images, in natural order of their names, after the same safety checks as ingest."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise UnreadableFile(f"not a readable zip archive: {error}") from None
    with archive:
        problems = zip_problems(zip_entries(archive), limits)
        if problems:
            raise UnsafeFile("; ".join(problems[:5]))
        names = page_order(archive.namelist())
        pages = []
        for name in names:
            with archive.open(name) as entry:
                kind = sniff_page(entry.read(16))
            if kind is not None:
                pages.append((name, kind))
        check_page_count(len(pages))
        for number, (name, kind) in enumerate(pages, 1):
            with _open_checked(name, archive.read(name), kind) as image:
                target = out_dir / f"{number:05d}.jpg"
                width, height, sha = _save_master(image, target)
            yield MasterPage(number, target, width, height, sha, name)


def _open_checked(name: str, data: bytes, kind: PageFormat) -> Image.Image:
    """An image whose header was checked against the pixel limit before any decoding."""
    try:
        image = Image.open(io.BytesIO(data))
        check_page_pixels(name, *image.size)
        image.load()
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError) as error:
        raise UnreadableFile(f"{name} is not a readable {kind.value} image: {error}") from None
    return image


def masters_from_pdf(path: Path, out_dir: Path) -> Iterator[MasterPage]:
    """Each PDF page rendered at scanning resolution (300 dpi)."""
    try:
        document = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as error:
        raise UnreadableFile(f"not a readable PDF: {error}") from None
    try:
        check_page_count(len(document))
        for index in range(len(document)):
            page = document[index]
            width_pt, height_pt = page.get_size()
            check_page_pixels(f"page {index + 1}", int(width_pt * SCAN_DPI / 72), int(height_pt * SCAN_DPI / 72))
            image = page.render(scale=SCAN_DPI / 72, grayscale=False).to_pil()
            target = out_dir / f"{index + 1:05d}.jpg"
            width, height, sha = _save_master(image, target)
            yield MasterPage(index + 1, target, width, height, sha, f"page {index + 1}")
    finally:
        document.close()


def render_request(master: Path, request: ImageRequest, watermark: str | None) -> bytes:
    """One IIIF image: crop, scale, turn, colour, then (for restricted items) the visible watermark."""
    with Image.open(master) as source:
        full_width, full_height = source.size
        x, y, w, h = request.crop
        reduce = max(1, min(w // request.width, h // request.height))
        factor = 1
        while factor * 2 <= min(reduce, 8):
            factor *= 2
        if factor > 1:  # decode the JPEG at 1/factor: zoomed-out tiles never decode the whole scan
            source.draft(source.mode, (full_width // factor, full_height // factor))
        scale_x, scale_y = source.width / full_width, source.height / full_height
        box = (int(x * scale_x), int(y * scale_y), round((x + w) * scale_x), round((y + h) * scale_y))
        image = source.crop(box).resize((request.width, request.height), Image.Resampling.LANCZOS)
    if request.rotation:
        image = image.rotate(-request.rotation, expand=True)
    if request.quality == "gray":
        image = image.convert("L")
    if watermark:
        image = watermarked(image, watermark)
    elif image.mode not in ("L", "RGB"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    kind = {"jpg": "JPEG", "webp": "WEBP", "png": "PNG"}[request.format]
    image.save(buffer, format=kind, **({"quality": 85} if kind != "PNG" else {}))
    return buffer.getvalue()
