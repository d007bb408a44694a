"""Image decoding refuses what it should and turns phone photos upright."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from bodylens.errors import Forbidden, InputError, TooLarge, UnsupportedMedia
from bodylens.io.images import (
    decode_base64_image,
    decode_image,
    load_image,
    resolve_local_path,
    sniff_format,
)


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_formats_are_sniffed_and_decoded(fmt):
    data = _encode(Image.new("RGB", (40, 30), (200, 10, 10)), fmt)
    assert sniff_format(data) == fmt
    rgb = decode_image(data)
    assert rgb.shape == (30, 40, 3) and rgb.dtype == np.uint8
    assert rgb[..., 0].mean() > 150


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (60, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    rgb = decode_image(_encode(img, "JPEG", exif=exif.tobytes()))
    assert rgb.shape[:2] == (60, 20)


def test_not_an_image():
    with pytest.raises(UnsupportedMedia):
        decode_image(b"GIF89a....")
    with pytest.raises(InputError):
        decode_image(b"")


def test_truncated_jpeg_is_input_error():
    data = _encode(Image.new("RGB", (200, 200)), "JPEG")
    with pytest.raises(InputError):
        decode_image(data[:200])


def test_decompression_bomb_is_refused_before_decoding():
    # A 20000x20000 PNG compresses to a few hundred kB but would need 1.2 GB decoded.
    data = _encode(Image.new("L", (20000, 20000)), "PNG")
    with pytest.raises(TooLarge, match="pixels"):
        decode_image(data, max_pixels=50_000_000)


def test_byte_limit():
    data = _encode(Image.new("RGB", (100, 100)), "PNG")
    with pytest.raises(TooLarge):
        decode_image(data, max_bytes=10)


def test_base64_and_data_url():
    data = _encode(Image.new("RGB", (8, 8)), "PNG")
    b64 = base64.b64encode(data).decode()
    assert decode_base64_image(b64).shape == (8, 8, 3)
    assert decode_base64_image("data:image/png;base64," + b64).shape == (8, 8, 3)
    wrapped = "\n".join(b64[i : i + 76] for i in range(0, len(b64), 76))  # MIME line breaks
    assert decode_base64_image(wrapped).shape == (8, 8, 3)
    noisy = _encode(
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (8, 8, 3), np.uint8)), "PNG"
    )
    urlsafe = base64.urlsafe_b64encode(noisy).decode().rstrip("=")
    assert urlsafe != base64.b64encode(noisy).decode().rstrip("=")  # it uses - or _
    assert decode_base64_image(urlsafe).shape == (8, 8, 3)
    for bad in ("%%%not base64%%%", "!!!"):
        with pytest.raises(InputError, match="not valid base64"):
            decode_base64_image(bad)


def test_local_paths_stay_inside_the_media_root(tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    (root / "a.jpg").write_bytes(b"x")
    (tmp_path / "outside.jpg").write_bytes(b"x")
    (root / "link.jpg").symlink_to(tmp_path / "outside.jpg")
    assert resolve_local_path("a.jpg", root) == (root / "a.jpg").resolve()
    for bad in ["../outside.jpg", str(tmp_path / "outside.jpg"), "link.jpg"]:
        with pytest.raises(Forbidden):
            resolve_local_path(bad, root)
    with pytest.raises(Forbidden):
        resolve_local_path("a.jpg", None)


def test_load_image_accepts_arrays():
    gray = np.zeros((5, 6), np.uint8)
    assert load_image(gray).shape == (5, 6, 3)
    with pytest.raises(InputError):
        load_image(np.zeros((5,), np.uint8))
    rgb = np.random.default_rng(0).integers(0, 256, (5, 6, 3)).astype(np.uint8)
    # The same pixels as floats in [0, 1] or [0, 255], 16-bit levels, or one channel.
    assert np.array_equal(load_image(rgb / 255.0), rgb)
    assert np.array_equal(load_image(rgb.astype(np.float32)), rgb)
    assert np.array_equal(load_image(rgb.astype(np.uint16) * 257), rgb)
    assert np.array_equal(load_image(rgb[..., :1])[..., 2], rgb[..., 0])
    for bad in (rgb * 2.0, rgb - 1.0, np.full((5, 6, 3), np.nan), rgb > 9):
        with pytest.raises(InputError):
            load_image(bad)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow(orientation):
    from PIL import ImageOps

    pixels = (np.random.default_rng(orientation).random((30, 50, 3)) * 255).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _encode(Image.fromarray(pixels), "PNG", exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    np.testing.assert_array_equal(decode_image(data), expected)


def test_half_truncated_jpeg_is_input_error():
    data = _encode(Image.new("RGB", (300, 300)), "JPEG")
    with pytest.raises(InputError):
        decode_image(data[: len(data) // 2])
