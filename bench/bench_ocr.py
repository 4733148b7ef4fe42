"""OCR pages per minute per core, ours against the raw `tesseract` command on the same pages in the same run, and
IIIF tile requests per second.

Pages: Vietnamese text rendered at 300 dpi (DejaVu Sans, 12 pt) on a half A4 page. "Ours" is the worker's whole
step for a page (Tesseract through :class:`reader.adapters.tesseract.Tesseract`, hOCR parsed into words and lines);
"raw" is the same command line run with subprocess. Both run one page at a time with OMP_THREAD_LIMIT=1, so each
figure is per core. Median of 3 runs, with the spread (min–max). Tiles: 512×512 regions of a 2480×3508 master
scaled to 256 px, through the IIIF service code (crop, scale, JPEG encode), from one core, no HTTP.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import time
from pathlib import Path

from _common import Figure, record
from PIL import Image, ImageDraw, ImageFont

from reader.adapters.page_images import render_request
from reader.adapters.tesseract import Tesseract, hocr_command
from reader.domain import iiif
from reader.domain.hocr import parse_hocr

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
TEXT = [
    "Tỉnh Đắk Lắk nằm ở trung tâm vùng Tây Nguyên, có nhiều dân tộc cùng sinh sống.",
    "Thư viện tỉnh số hóa tài liệu địa chí, tài liệu quý hiếm để phục vụ nghiên cứu.",
    "Cài đặt phần mềm, hướng dẫn sử dụng và báo cáo tiến độ theo từng tháng.",
]
PAGES = 3
RUNS = 3


def make_pages(folder: Path) -> list[Path]:
    font = ImageFont.truetype(FONT, 50)
    paths = []
    for number in range(PAGES):
        image = Image.new("L", (2480, 1754), 255)
        draw = ImageDraw.Draw(image)
        for row in range(12):
            draw.text((150, 150 + row * 110), TEXT[(row + number) % len(TEXT)], fill=0, font=font)
        path = folder / f"page-{number + 1}.jpg"
        image.save(path, quality=90)
        paths.append(path)
    return paths


def raw_run(pages: list[Path]) -> float:
    started = time.perf_counter()
    for page in pages:
        subprocess.run(hocr_command(page, "vie"), env={"OMP_THREAD_LIMIT": "1"}, capture_output=True, check=True)
    return time.perf_counter() - started


async def our_run(pages: list[Path]) -> float:
    tesseract = Tesseract()
    started = time.perf_counter()
    for page in pages:
        layer = parse_hocr(await tesseract.hocr(page, "vie"))
        assert layer.words
    return time.perf_counter() - started


def tiles_per_second(seconds: float = 5.0) -> float:
    with tempfile.TemporaryDirectory() as folder:
        master = Path(folder) / "master.jpg"
        Image.new("L", (2480, 3508), 230).save(master, quality=90)
        limits = iiif.limits_for(2480, 3508, restricted_width=None)
        regions = [f"{x},{y},512,512" for x in range(0, 2480, 512) for y in range(0, 3508, 512)]
        done = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            request = iiif.parse_request(regions[done % len(regions)], "256,", "0", "default.jpg", 2480, 3508, limits)
            render_request(master, request, None)
            done += 1
        return done / (time.perf_counter() - started)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        pages = make_pages(Path(folder))
        raw_times, our_times = [], []
        for _ in range(RUNS):  # interleaved, so both meet the same machine load
            raw_times.append(raw_run(pages))
            our_times.append(asyncio.run(our_run(pages)))
    raw = [PAGES * 60 / t for t in raw_times]
    ours = [PAGES * 60 / t for t in our_times]
    print(f"OCR, vie, {PAGES} pages of 2480x1754 at 300 dpi, one core, median of {RUNS} with the spread:")
    record("ocr", "OCR pages per minute, one core (worker step)", "pages/min", Figure.of(ours),
           limit=Figure.of(raw), limit_name="raw tesseract")  # fmt: skip
    tiles = Figure.of([tiles_per_second(2.0) for _ in range(RUNS)])
    record("ocr", "IIIF tiles (512 px region -> 256 px JPEG), one core, no HTTP", "tiles/s", tiles)


if __name__ == "__main__":
    main()
