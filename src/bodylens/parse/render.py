"""Overlay PNGs: classes blended over the photo and a colour legend beside it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont

if TYPE_CHECKING:
    from bodylens.parse.api import SegmentResult


def overlay(
    rgb: np.ndarray, result: SegmentResult, alpha: float = 0.55, legend: bool = True
) -> np.ndarray:
    """(H, W', 3) uint8: the photo with non-background classes tinted, legend panel right."""
    if rgb.shape[:2] != result.labels.shape:
        raise ValueError("the image and the label map differ in size")
    colours = result.colorize().astype(np.float32)
    fg = (result.labels > 0)[..., None]
    out = np.where(fg, (1 - alpha) * rgb.astype(np.float32) + alpha * colours, rgb)
    out = out.astype(np.uint8)
    if not legend:
        return out
    names = [n for n in result.present() if n != "Background"]
    h = out.shape[0]
    row = max(14, min(28, h // 30))
    font = _font(int(row * 0.7))
    panel_w = int(row * 0.8) + max((len(n) for n in names), default=4) * int(row * 0.45) + row
    panel = Image.new("RGB", (panel_w, h), (255, 255, 255))
    draw = ImageDraw.Draw(panel)
    for i, name in enumerate(names):
        y = row // 2 + i * row
        colour = tuple(int(c) for c in _colour_of(result, name))
        draw.rectangle([row // 3, y, row // 3 + int(row * 0.6), y + int(row * 0.6)], fill=colour,
                       outline=(0, 0, 0))  # fmt: skip
        draw.text((row + row // 3, y - 1), name, fill=(0, 0, 0), font=font)
    return np.hstack([out, np.asarray(panel)])


def _colour_of(result: SegmentResult, name: str) -> np.ndarray:
    from bodylens.parse.api import _palette

    return _palette(len(result.classes))[result.classes.index(name)]


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()
