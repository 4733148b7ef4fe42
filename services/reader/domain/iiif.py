"""IIIF Image API 3.0 requests and Presentation API 3.0 manifests, as pure functions (no I/O).

An image request ``{region}/{size}/{rotation}/{quality}.{format}`` is parsed and checked against the image's
size and the service's limits into an :class:`ImageRequest` (what to crop, how large, turned how), or refused
with :class:`IiifRequestError` (HTTP 400). Restricted (read-online-only) images have a ``max_width`` below their
real width, so no request form — ``full/max``, ``pct:100``, ``^max``, an explicit width — can yield the original.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from sachso.kit.errors import InvalidInput

IMAGE_CONTEXT = "http://iiif.io/api/image/3/context.json"
PRESENTATION_CONTEXT = "http://iiif.io/api/presentation/3/context.json"
FORMATS = {"jpg": "image/jpeg", "webp": "image/webp", "png": "image/png"}
QUALITIES = ("default", "color", "gray")
TILE = 512
HOCR_PROFILE = "http://kba.cloud/hocr-spec/1.2/"
_NUMBER = r"\d+(?:\.\d+)?"
_PX = re.compile(r"^(\d+),(\d+),(\d+),(\d+)$")
_PCT = re.compile(rf"^pct:({_NUMBER}),({_NUMBER}),({_NUMBER}),({_NUMBER})$")
_SIZE = re.compile(r"^(\^)?(?:(max)|pct:(" + _NUMBER + r")|(!)?(\d*),(\d*))$")


class IiifRequestError(InvalidInput):
    problem = "iiif-bad-request"
    title = "The IIIF image request is not valid for this image"


@dataclass(frozen=True)
class Limits:
    """What the service lets out of one image: width, height, area (pixels)."""

    max_width: int
    max_height: int
    max_area: int


@dataclass(frozen=True)
class ImageRequest:
    crop: tuple[int, int, int, int]  # x, y, width, height in full-image pixels
    width: int
    height: int
    rotation: int
    quality: str
    format: str

    @property
    def media_type(self) -> str:
        return FORMATS[self.format]

    def canonical(self, full_width: int, full_height: int) -> str:
        """The canonical URI path of this request (Image API 3.0 §4.7)."""
        x, y, w, h = self.crop
        region = "full" if (x, y, w, h) == (0, 0, full_width, full_height) else f"{x},{y},{w},{h}"
        size = f"{self.width},{self.height}"
        quality = "default" if self.quality in ("default", "color") else self.quality
        return f"{region}/{size}/{self.rotation}/{quality}.{self.format}"


def limits_for(width: int, height: int, *, restricted_width: int | None) -> Limits:
    """Open images may be had whole; restricted ones never wider than ``restricted_width`` (nor as tall)."""
    if restricted_width is None:
        return Limits(width, height, width * height)
    scale = min(1.0, restricted_width / max(width, height))
    max_width, max_height = max(1, int(width * scale)), max(1, int(height * scale))
    return Limits(max_width, max_height, max_width * max_height)


def _region(region: str, width: int, height: int) -> tuple[int, int, int, int]:
    if region == "full":
        return 0, 0, width, height
    if region == "square":
        side = min(width, height)
        return (width - side) // 2, (height - side) // 2, side, side
    px = _PX.match(region)
    pct = _PCT.match(region)
    if px:
        x, y, w, h = (int(value) for value in px.groups())
    elif pct:
        px_, py_, pw_, ph_ = (float(value) for value in pct.groups())
        x, y = round(px_ * width / 100), round(py_ * height / 100)
        w, h = round(pw_ * width / 100), round(ph_ * height / 100)
    else:
        raise IiifRequestError(f"region {region!r} is not full, square, x,y,w,h or pct:x,y,w,h")
    if w <= 0 or h <= 0:
        raise IiifRequestError(f"region {region!r} has no area")
    if x >= width or y >= height:
        raise IiifRequestError(f"region {region!r} lies outside the {width}×{height} image")
    return x, y, min(w, width - x), min(h, height - y)


def _size(size: str, region_w: int, region_h: int, limits: Limits) -> tuple[int, int]:
    found = _SIZE.match(size)
    if not found:
        raise IiifRequestError(f"size {size!r} is not max, w,, ,h, pct:n, w,h or !w,h (each may start with ^)")
    upscale, is_max, pct, confined, w_text, h_text = found.groups()
    # the largest the service gives out for this region, keeping its aspect ratio
    fit = min(1.0, limits.max_width / region_w, limits.max_height / region_h,
              math.sqrt(limits.max_area / (region_w * region_h)))  # fmt: skip
    if is_max:
        scale = fit if upscale else min(1.0, fit)
        width, height = region_w * scale, region_h * scale
    elif pct is not None:
        scale = float(pct) / 100
        width, height = region_w * scale, region_h * scale
    elif confined:
        if not w_text or not h_text:
            raise IiifRequestError(f"size {size!r}: !w,h needs both a width and a height")
        scale = min(int(w_text) / region_w, int(h_text) / region_h)
        width, height = region_w * scale, region_h * scale
    elif w_text and h_text:
        width, height = int(w_text), int(h_text)
    elif w_text:
        width, height = int(w_text), region_h * int(w_text) / region_w
    elif h_text:
        width, height = region_w * int(h_text) / region_h, int(h_text)
    else:
        raise IiifRequestError("size ',' names neither a width nor a height")
    width, height = max(1, round(width)), max(1, round(height))
    if not upscale and (width > region_w or height > region_h):
        raise IiifRequestError(f"size {size!r} is larger than the region; ask with ^ to upscale")
    if width > limits.max_width or height > limits.max_height or width * height > limits.max_area:
        raise IiifRequestError(
            f"size {size!r} gives {width}×{height}; this image is served at most {limits.max_width}×{limits.max_height}"
        )
    return width, height


def parse_request(
    region: str, size: str, rotation: str, quality_format: str, width: int, height: int, limits: Limits
) -> ImageRequest:
    """Check one image request against an image of ``width``×``height`` and the service's ``limits``."""
    crop = _region(region, width, height)
    out_w, out_h = _size(size, crop[2], crop[3], limits)
    if rotation not in ("0", "90", "180", "270"):
        raise IiifRequestError(f"rotation {rotation!r}: this service turns by 0, 90, 180 or 270 degrees, unmirrored")
    quality, _, fmt = quality_format.rpartition(".")
    if quality not in QUALITIES:
        raise IiifRequestError(f"quality {quality!r} is not one of {', '.join(QUALITIES)}")
    if fmt not in FORMATS:
        raise IiifRequestError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    return ImageRequest(crop, out_w, out_h, int(rotation), quality, fmt)


def scale_factors(width: int, height: int) -> list[int]:
    factors = [1]
    while max(width, height) / (factors[-1] * 2) >= TILE / 2:
        factors.append(factors[-1] * 2)
    return factors


def image_info(service_id: str, width: int, height: int, limits: Limits) -> dict[str, Any]:
    """The ``info.json`` of one image (Image API 3.0 §5)."""
    info: dict[str, Any] = {
        "@context": IMAGE_CONTEXT,
        "id": service_id,
        "type": "ImageService3",
        "protocol": "http://iiif.io/api/image",
        "profile": "level1",
        "width": width,
        "height": height,
        "sizes": [
            {"width": math.ceil(width / factor), "height": math.ceil(height / factor)}
            for factor in reversed(scale_factors(width, height))
            if math.ceil(width / factor) <= limits.max_width and math.ceil(height / factor) <= limits.max_height
        ],
        "tiles": [{"width": TILE, "scaleFactors": scale_factors(width, height)}],
        "extraFormats": ["webp", "png"],
        "extraQualities": ["color", "gray"],
        "extraFeatures": ["regionByPct", "sizeByPct", "sizeByConfinedWh", "sizeUpscaling", "rotationBy90s",
                          "baseUriRedirect", "cors", "jsonldMediaType", "canonicalLinkHeader", "profileLinkHeader"],
    }  # fmt: skip
    if limits.max_width < width or limits.max_height < height:
        info["maxWidth"], info["maxHeight"] = limits.max_width, limits.max_height
    return info


@dataclass(frozen=True)
class CanvasPage:
    number: int
    width: int
    height: int
    image_service: str  # the Image API base URI of this page
    hocr_url: str | None = None
    annotations_url: str | None = None


def _both(vi: str, en: str) -> dict[str, list[str]]:
    return {"vi": [vi], "en": [en]}


METADATA_LABELS = {
    "creators": ("Tác giả", "Creator"),
    "subjects": ("Chủ đề", "Subject"),
    "publisher": ("Nhà xuất bản", "Publisher"),
    "date": ("Thời gian", "Date"),
    "type": ("Loại hình", "Type"),
    "format": ("Mô tả vật lý", "Format"),
    "identifier": ("Ký hiệu", "Identifier"),
    "source": ("Nguồn", "Source"),
    "languages": ("Ngôn ngữ", "Language"),
    "coverage_places": ("Địa danh", "Coverage (place)"),
    "coverage_period": ("Thời kỳ", "Coverage (period)"),
    "rights": ("Quyền", "Rights"),
}


def manifest(
    manifest_id: str,
    title: str,
    pages: list[CanvasPage],
    description: dict[str, Any],
    *,
    summary: str = "",
    required_statement: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """A Presentation API 3.0 manifest: one canvas per page, labels in Vietnamese and English, the OCR of each
    page as an annotation page (``annotations``) and as hOCR (``seeAlso``)."""
    base = manifest_id.removesuffix("/manifest.json")
    metadata = []
    for key, (vi, en) in METADATA_LABELS.items():
        value = description.get(key)
        values = [value] if isinstance(value, str) else list(value or [])
        if any(values):
            metadata.append({"label": _both(vi, en), "value": {"none": [v for v in values if v]}})
    document: dict[str, Any] = {
        "@context": PRESENTATION_CONTEXT,
        "id": manifest_id,
        "type": "Manifest",
        "label": {"vi": [title or "Tài liệu không tên"], "en": [title or "Untitled document"]},
        "metadata": metadata,
        "behavior": ["paged"],
        "items": [],
    }
    if summary:
        document["summary"] = {"vi": [summary]}
    if required_statement:
        document["requiredStatement"] = {
            "label": _both("Điều kiện sử dụng", "Terms of use"),
            "value": _both(*required_statement),
        }
    for page in pages:
        canvas_id = f"{base}/canvas/{page.number}"
        canvas: dict[str, Any] = {
            "id": canvas_id,
            "type": "Canvas",
            "label": _both(f"Trang {page.number}", f"Page {page.number}"),
            "width": page.width,
            "height": page.height,
            "items": [
                {
                    "id": f"{base}/page/{page.number}",
                    "type": "AnnotationPage",
                    "items": [
                        {
                            "id": f"{base}/annotation/{page.number}",
                            "type": "Annotation",
                            "motivation": "painting",
                            "body": {
                                "id": f"{page.image_service}/full/max/0/default.jpg",
                                "type": "Image",
                                "format": "image/jpeg",
                                "service": [{"id": page.image_service, "type": "ImageService3", "profile": "level1"}],
                            },
                            "target": canvas_id,
                        }
                    ],
                }
            ],
        }
        if page.annotations_url:
            canvas["annotations"] = [{"id": page.annotations_url, "type": "AnnotationPage"}]
        if page.hocr_url:
            canvas["seeAlso"] = [
                {
                    "id": page.hocr_url,
                    "type": "Dataset",
                    "format": "text/vnd.hocr+html",
                    "profile": HOCR_PROFILE,
                    "label": _both(f"Văn bản nhận dạng trang {page.number}", f"OCR text of page {page.number}"),
                }
            ]
        document["items"].append(canvas)
    return document


def text_annotations(
    page_id: str, canvas_id: str, lines: list[tuple[str, tuple[int, int, int, int]]]
) -> dict[str, Any]:
    """The OCR lines of one page as supplementing annotations on its canvas (an AnnotationPage)."""
    return {
        "@context": PRESENTATION_CONTEXT,
        "id": page_id,
        "type": "AnnotationPage",
        "items": [
            {
                "id": f"{page_id}/line/{index}",
                "type": "Annotation",
                "motivation": "supplementing",
                "body": {"type": "TextualBody", "value": text, "format": "text/plain", "language": "vi"},
                "target": f"{canvas_id}#xywh={x},{y},{w},{h}",
            }
            for index, (text, (x, y, w, h)) in enumerate(lines, 1)
        ],
    }
