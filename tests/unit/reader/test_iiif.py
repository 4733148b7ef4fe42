"""IIIF Image API 3.0 requests and info.json, Presentation 3.0 manifests: the pure rules."""

from __future__ import annotations

import pytest

from reader.domain import iiif

OPEN = iiif.limits_for(2480, 3508, restricted_width=None)
LENT = iiif.limits_for(2480, 3508, restricted_width=1600)


def request(
    region: str, size: str, rotation: str = "0", quality: str = "default.jpg", limits: iiif.Limits = OPEN
) -> iiif.ImageRequest:
    return iiif.parse_request(region, size, rotation, quality, 2480, 3508, limits)


def test_regions_sizes_and_canonical_forms() -> None:
    assert request("full", "max").crop == (0, 0, 2480, 3508)
    assert (request("full", "max").width, request("full", "max").height) == (2480, 3508)
    tile = request("0,0,512,512", "256,")
    assert tile.crop == (0, 0, 512, 512)
    assert (tile.width, tile.height) == (256, 256)
    edge = request("2048,3072,512,512", "max")  # partly outside: cropped to the image
    assert edge.crop == (2048, 3072, 432, 436)
    assert request("pct:50,50,50,50", "max").crop == (1240, 1754, 1240, 1754)
    assert request("square", "100,100").crop == (0, 514, 2480, 2480)
    assert (request("full", ",1000").width, request("full", ",1000").height) == (707, 1000)
    assert (request("full", "!500,500").width, request("full", "!500,500").height) == (353, 500)
    assert (request("full", "pct:10").width, request("full", "pct:10").height) == (248, 351)
    assert request("full", "248,351").canonical(2480, 3508) == "full/248,351/0/default.jpg"
    assert (
        request("0,0,512,512", "256,", quality="color.webp").canonical(2480, 3508)
        == "0,0,512,512/256,256/0/default.webp"
    )
    assert request("full", "100,", rotation="90").rotation == 90


@pytest.mark.parametrize(
    ("region", "size", "rotation", "quality"),
    [
        ("full", "3000,", "0", "default.jpg"),  # larger than the region without ^
        ("5000,0,10,10", "max", "0", "default.jpg"),  # outside the image
        ("0,0,0,10", "max", "0", "default.jpg"),  # no area
        ("full", "max", "45", "default.jpg"),  # free rotation
        ("full", "max", "!0", "default.jpg"),  # mirroring
        ("full", "max", "0", "bitonal.jpg"),
        ("full", "max", "0", "default.gif"),
        ("full", ",", "0", "default.jpg"),
        ("full", "!100,", "0", "default.jpg"),
        ("nonsense", "max", "0", "default.jpg"),
    ],
)
def test_bad_requests_are_refused(region: str, size: str, rotation: str, quality: str) -> None:
    with pytest.raises(iiif.IiifRequestError):
        request(region, size, rotation, quality)


@pytest.mark.parametrize(
    "size", ["max", "^max", "pct:100", "^pct:100", "2480,", "^2480,", ",3508", "2480,3508", "!9999,9999", "^!9999,9999"]
)
def test_a_lent_image_is_never_served_at_full_resolution_whatever_the_size_form(size: str) -> None:
    try:
        got = request("full", size, limits=LENT)
    except iiif.IiifRequestError:
        return
    assert got.width <= 1600
    assert got.height <= 1600
    assert (got.width, got.height) != (2480, 3508)


def test_info_json_declares_the_limits_and_tiles() -> None:
    info = iiif.image_info("https://r/v1/iiif/open/d/1", 2480, 3508, OPEN)
    assert info["@context"] == iiif.IMAGE_CONTEXT
    assert info["type"] == "ImageService3"
    assert info["profile"] == "level1"
    assert (info["width"], info["height"]) == (2480, 3508)
    assert "maxWidth" not in info
    assert info["tiles"] == [{"width": 512, "scaleFactors": [1, 2, 4, 8]}]
    assert info["sizes"][-1] == {"width": 2480, "height": 3508}
    lent = iiif.image_info("https://r/x/1", 2480, 3508, LENT)
    assert lent["maxHeight"] == 1600
    assert lent["maxWidth"] == 1131
    assert all(size["height"] <= 1600 for size in lent["sizes"])


def test_manifest_has_a_canvas_per_page_with_vietnamese_and_english_labels() -> None:
    pages = [iiif.CanvasPage(n, 1000, 1400, f"https://r/d/{n}", hocr_url=f"https://r/d/{n}/hocr") for n in (1, 2)]
    manifest = iiif.manifest("https://r/d/manifest.json", "Địa chí Đắk Lắk", pages, {"creators": ["Nguyễn Văn A"]})
    assert manifest["label"] == {"vi": ["Địa chí Đắk Lắk"], "en": ["Địa chí Đắk Lắk"]}
    assert [canvas["label"]["vi"][0] for canvas in manifest["items"]] == ["Trang 1", "Trang 2"]
    assert [canvas["label"]["en"][0] for canvas in manifest["items"]] == ["Page 1", "Page 2"]
    body = manifest["items"][0]["items"][0]["items"][0]["body"]
    assert body["service"][0] == {"id": "https://r/d/1", "type": "ImageService3", "profile": "level1"}
    assert manifest["items"][1]["seeAlso"][0]["format"] == "text/vnd.hocr+html"
    assert manifest["metadata"][0]["value"] == {"none": ["Nguyễn Văn A"]}
