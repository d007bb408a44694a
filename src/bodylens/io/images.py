"""Decode untrusted image bytes into RGB arrays, refusing anything we should not trust.

Checks happen before full decoding: the format is sniffed from magic bytes (not the file name
or Content-Type), the pixel count is read from the header to stop decompression bombs, and EXIF
orientation is applied so phone photos come out upright.
"""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path

import numpy as np
from PIL import Image

from bodylens.config import get_settings
from bodylens.errors import Forbidden, InputError, TooLarge, UnsupportedMedia

_MAGIC = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n\x1a\n": "PNG",
}


def sniff_format(data: bytes) -> str | None:
    """'JPEG', 'PNG' or 'WEBP' from the leading bytes, else None."""
    for magic, name in _MAGIC.items():
        if data.startswith(magic):
            return name
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def decode_image(
    data: bytes, *, max_bytes: int | None = None, max_pixels: int | None = None
) -> np.ndarray:
    """RGB uint8 array (H, W, 3) from JPEG/PNG/WebP bytes, EXIF orientation applied."""
    settings = get_settings()
    max_bytes = max_bytes or settings.max_image_bytes
    max_pixels = max_pixels or settings.max_image_pixels
    if not data:
        raise InputError("the image is empty")
    if len(data) > max_bytes:
        raise TooLarge(f"the image is {len(data)} bytes; the limit is {max_bytes}")
    fmt = sniff_format(data)
    if fmt is None:
        raise UnsupportedMedia("the data is not a JPEG, PNG or WebP image")
    try:
        # Pillow only parses the header here (size, EXIF); OpenCV decodes the pixels, 4-6x
        # faster than Pillow on large JPEGs.
        with Image.open(io.BytesIO(data), formats=[fmt]) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise TooLarge(
                    f"the image is {width}x{height} pixels; the limit is {max_pixels} pixels"
                )
            orientation = int(img.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except (TooLarge, InputError):
        raise
    except Image.DecompressionBombError:
        raise TooLarge(f"the image has more than {max_pixels} pixels") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"the {fmt} image could not be decoded: {exc}") from None
    rgb = _decode_pixels(data)
    if rgb is None or rgb.shape[:2] != (height, width):
        raise InputError(f"the {fmt} image could not be decoded (truncated or corrupt)")
    return np.ascontiguousarray(_apply_orientation(rgb, orientation))


_EXIF_ORIENTATION = 0x0112


def _decode_pixels(data: bytes) -> np.ndarray | None:
    import cv2

    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _apply_orientation(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """Turn pixels as stored into pixels as the camera meant them (EXIF tag 274)."""
    return {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }.get(orientation, lambda a: a)(rgb)


def decode_base64_image(text: str) -> np.ndarray:
    """Decode a base64 string (optionally a ``data:image/...;base64,`` URL) to RGB."""
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    # Strict, so that a wrong field gets "not base64" rather than a puzzling image error; line
    # breaks (MIME), missing padding and the URL-safe alphabet are accepted.
    text = "".join(text.split())
    text += "=" * (-len(text) % 4)
    altchars = b"-_" if ("-" in text or "_" in text) else None
    try:
        data = base64.b64decode(text, altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("the image is not valid base64") from None
    return decode_image(data)


def read_image_file(path: str | Path) -> np.ndarray:
    """Read an image file from disk (CLI/library use; no folder restriction)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such image file: {path}")
    return decode_image(path.read_bytes())


def resolve_local_path(path: str | Path, root: Path | None) -> Path:
    """A path given to the *service*, allowed only inside ``root`` (symlinks resolved)."""
    if root is None:
        raise Forbidden("local paths are disabled; set BODYLENS_MEDIA_ROOT to allow a folder")
    root = root.resolve()
    candidate = (root / path).resolve() if not Path(path).is_absolute() else Path(path).resolve()
    if not candidate.is_relative_to(root):
        raise Forbidden("the path is outside the configured media folder")
    if not candidate.is_file():
        raise InputError("no such file in the media folder")
    return candidate


def load_image(image: str | Path | bytes | np.ndarray) -> np.ndarray:
    """Library entry point: accept a path, raw bytes or an RGB array; return RGB uint8."""
    if isinstance(image, np.ndarray):
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[..., 0]
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        if image.ndim != 3 or image.shape[2] not in (3, 4):
            raise InputError(f"expected an HxWx3 image array, got shape {image.shape}")
        return np.ascontiguousarray(_as_uint8(image[..., :3]))
    if isinstance(image, bytes | bytearray):
        return decode_image(bytes(image))
    return read_image_file(image)


def _as_uint8(pixels: np.ndarray) -> np.ndarray:
    """8-bit pixels from an array of another type, read as a user would mean it (floats in
    [0, 1] or [0, 255], 16-bit levels); a plain cast would turn a [0, 1] float photo black."""
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype == np.uint16:
        return (pixels >> 8).astype(np.uint8)
    if pixels.dtype.kind not in "iuf" or pixels.size == 0:
        raise InputError(f"expected image pixels as numbers, got {pixels.dtype} values")
    values = pixels.astype(np.float64)
    if not np.isfinite(values).all():
        raise InputError("the image array holds NaN or infinite values")
    low, high = float(values.min()), float(values.max())
    if low < 0.0 or high > 255.0:
        raise InputError(f"expected pixel values in [0, 1] or [0, 255], got {low:g} to {high:g}")
    if pixels.dtype.kind == "f" and high <= 1.0:
        values = values * 255.0
    return np.round(values).astype(np.uint8)


def encode_png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
