"""Hostile and odd image files: a clear InputError, nothing decoded that should not be."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from attnviz.errors import InputError
from attnviz.vision import images
from attnviz.vision.images import read_image
from tests.vision.tiny import declared_size, png_bytes

RGB = np.arange(12 * 20 * 3, dtype=np.uint8).reshape(12, 20, 3)


def test_png_jpeg_webp_are_read_as_rgb():
    for fmt in ("PNG", "JPEG", "WEBP"):
        buf = io.BytesIO()
        Image.fromarray(RGB).convert("RGBA" if fmt != "JPEG" else "RGB").save(buf, format=fmt)
        picture = read_image(buf.getvalue())
        assert picture.mode == "RGB" and picture.size == (20, 12)
    np.testing.assert_array_equal(np.asarray(read_image(png_bytes(RGB))), RGB)  # PNG is lossless: pixels intact


@pytest.mark.parametrize("data, message", [
    (b"%PDF-1.4 not an image at all", "not a PNG, JPEG or WebP"),
    (b"<html><script>alert(1)</script></html>", "not a PNG, JPEG or WebP"),
    (b"", "empty"),
])
def test_a_non_image_is_refused(data, message):
    with pytest.raises(InputError, match=message):
        read_image(data)


def test_other_formats_are_refused():
    buf = io.BytesIO()
    Image.fromarray(RGB).save(buf, format="GIF")
    with pytest.raises(InputError, match="not a PNG, JPEG or WebP"):
        read_image(buf.getvalue())


def test_a_huge_png_header_is_refused_before_decoding():
    bomb = declared_size(png_bytes(RGB), 100_000, 100_000)  # 10 gigapixels declared in a tiny file
    assert len(bomb) < 2000
    with pytest.raises(InputError, match="megapixels"):
        read_image(bomb)


def test_a_file_over_the_byte_limit_is_refused_unread(monkeypatch, tmp_path):
    monkeypatch.setattr(images, "MAX_IMAGE_BYTES", 1000)
    big = png_bytes(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    path = tmp_path / "big.png"
    path.write_bytes(big)
    for source in (big, path):
        with pytest.raises(InputError, match="MB"):
            read_image(source)


@pytest.mark.parametrize("text", ["<script>alert(1)</script>", "javascript:alert(1)", "<svg onload=alert(1)>"])
def test_script_in_metadata_is_refused(text):
    with pytest.raises(InputError, match="metadata"):
        read_image(png_bytes(RGB, Comment=text))
    assert read_image(png_bytes(RGB, Comment="taken on a sunny day")).size == (20, 12)  # plain text is fine


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    buf = io.BytesIO()
    Image.fromarray(RGB).save(buf, format="JPEG", exif=exif.tobytes())
    assert read_image(buf.getvalue()).size == (12, 20)


def test_arrays_are_checked():
    assert read_image(np.zeros((4, 5), np.float32)).size == (5, 4)
    with pytest.raises(InputError, match="NaN"):
        read_image(np.full((4, 4, 3), np.nan))
    with pytest.raises(InputError, match="height, width"):
        read_image(np.zeros((2, 3, 4, 5)))
