"""Hand keypoints with OpenPose-compatible output: a drop-in for PaddleHub's
``openpose_hands_estimation`` (``predict``) and a typed API (``detect_hands``).

Both run MediaPipe Hands on the whole photo and, for small hands, on crops around the wrists
that the body pose finds (see ``bodylens.detect.hands``). Keypoints come in OpenPose hand order
(wrist 0, thumb 1-4, index 5-8, middle 9-12, ring 13-16, little 17-20) with ``[0, 0]`` for a
missing point.

Unlike PaddleHub, ``predict`` writes nothing to disk unless asked: the drawing is saved only
when ``visualization`` is true *and* a ``save_path`` folder is given (PaddleHub's default folder
``openpose_hand`` is not created behind the caller's back).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bodylens.detect.hands import HAND_EDGES, HAND_LANDMARK_NAMES, Hand
from bodylens.errors import InputError

__all__ = [
    "DEFAULT_SCALES",
    "HAND_EDGES",
    "HAND_LANDMARK_NAMES",
    "Hand",
    "detect_hands",
    "draw_hands",
    "predict",
]

DEFAULT_SCALES = (0.5, 1.0, 1.5, 2.0)

ImageInput = str | os.PathLike | bytes | np.ndarray


def validate_scales(scale: Any) -> list[float]:
    if isinstance(scale, int | float):
        scale = [scale]
    try:
        values = [float(s) for s in scale]
    except (TypeError, ValueError):
        raise InputError("scale must be a list of positive numbers, e.g. [0.5, 1.0]") from None
    if not values or any(not np.isfinite(s) or s <= 0 or s > 8 for s in values):
        raise InputError("scale must be a non-empty list of numbers in (0, 8]")
    return values


def detect_hands(
    image: ImageInput,
    scale: Sequence[float] = DEFAULT_SCALES,
    *,
    body_guided: bool | None = None,
) -> list[Hand]:
    """Hands in a photo (path, encoded bytes or **RGB** array), left hand first.

    Each ``Hand`` has pixel keypoints, per-point confidence, world coordinates in metres and
    the person's side. ``body_guided`` forces (True) or skips (False) the search around the
    body's wrists; None decides from what the whole-image pass found.
    """
    from bodylens.detect.hands import find_hands
    from bodylens.io.images import load_image

    rgb = load_image(image)
    return find_hands(rgb, validate_scales(scale), body_guided=body_guided)


def _bone_color(i: int) -> tuple[int, int, int]:
    """A rainbow along the 20 bones (BGR), so fingers are told apart at a glance."""
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(i / len(HAND_EDGES), 1.0, 1.0)
    return int(b * 255), int(g * 255), int(r * 255)


def draw_hands(bgr: np.ndarray, all_hand_peaks: Sequence[np.ndarray]) -> np.ndarray:
    """A copy of ``bgr`` with the hand skeletons drawn (missing [0, 0] points skipped)."""
    import cv2

    canvas = np.ascontiguousarray(bgr.copy())
    for peaks in all_hand_peaks:
        peaks = np.asarray(peaks)
        present = np.any(peaks != 0, axis=1)
        if not present.any():
            continue
        # Line and dot sizes follow the hand, so small hands in big photos stay readable.
        span = np.ptp(peaks[present], axis=0).max()
        width = int(np.clip(span / 60, 1, 6))
        radius = int(np.clip(span / 45, 1, 8))
        for i, (a, b) in enumerate(HAND_EDGES):
            if present[a] and present[b]:
                pa, pb = tuple(int(v) for v in peaks[a]), tuple(int(v) for v in peaks[b])
                cv2.line(canvas, pa, pb, _bone_color(i), width, cv2.LINE_AA)
        for (x, y), ok in zip(peaks, present, strict=True):
            if ok:
                cv2.circle(canvas, (int(x), int(y)), radius, (0, 0, 255), -1, cv2.LINE_AA)
    return canvas


def _bgr_input(img: Any) -> np.ndarray:
    """PaddleHub takes a path or a BGR array; we also accept encoded bytes."""
    from bodylens.io.images import load_image

    if isinstance(img, np.ndarray):
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        if img.ndim != 3 or img.shape[2] not in (3, 4) or img.size == 0:
            raise InputError(f"expected an HxWx3 BGR image array, got shape {img.shape}")
        if img.dtype != np.uint8:
            # A float image in [0, 1] would silently turn black when cast; say so instead.
            raise InputError(
                f"expected a uint8 BGR image array (as cv2.imread gives), got {img.dtype}"
            )
        return np.ascontiguousarray(img[..., :3].astype(np.uint8, copy=False))
    if isinstance(img, str | os.PathLike | bytes | bytearray):
        rgb = load_image(img if not isinstance(img, bytearray) else bytes(img))
        return np.ascontiguousarray(rgb[..., ::-1])
    raise InputError(f"img must be an image path or a BGR array, not {type(img).__name__}")


def save_drawing(canvas: np.ndarray, save_path: str | os.PathLike) -> Path:
    import cv2

    folder = Path(save_path)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"save_path {folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    # PaddleHub names the file after the time; keep that, with nanoseconds so that two images
    # of one call never collide.
    out = folder / f"{time.time_ns() / 1e9:.9f}.png"
    if not cv2.imwrite(str(out), canvas):
        raise InputError(f"could not write {out}")
    return out


def predict(
    img: ImageInput | Sequence[ImageInput],
    save_path: str | os.PathLike | None = None,
    scale: Sequence[float] = DEFAULT_SCALES,
    visualization: bool = True,
) -> list[dict[str, Any]]:
    """PaddleHub-compatible: ``[{"data": drawn BGR image, "all_hand_peaks": [...]}]``.

    ``img``: a path or a BGR array (as PaddleHub), or a list of them; one result per image.
    ``all_hand_peaks``: one (21, 2) int array per hand, [x, y] pixels, [0, 0] where a point is
    missing; the person's left hand first, as PaddleHub orders them.
    ``visualization`` with a ``save_path`` folder writes ``<save_path>/<time>.png``; without a
    ``save_path`` nothing is written (PaddleHub would create ``openpose_hand/``).
    """
    from bodylens.detect.hands import find_hands

    scales = validate_scales(scale)
    images = list(img) if isinstance(img, list | tuple) else [img]
    if not images:
        raise InputError("no image given")
    results = []
    for item in images:
        bgr = _bgr_input(item)
        hands = find_hands(np.ascontiguousarray(bgr[..., ::-1]), scales)
        peaks = [hand.openpose_peaks() for hand in hands]
        canvas = draw_hands(bgr, peaks)
        if visualization and save_path is not None:
            save_drawing(canvas, save_path)
        results.append({"data": canvas, "all_hand_peaks": peaks})
    return results


def hand_to_json(hand: Hand) -> dict[str, Any]:
    """Plain-JSON view of a Hand (the CLI's --json and the native HTTP route)."""
    return {
        "side": hand.side,
        "side_source": hand.side_source,
        "score": round(hand.score, 4),
        "box": [round(v, 1) for v in hand.box],
        "keypoints": np.round(hand.keypoints, 2).tolist(),
        "confidence": np.round(hand.confidence, 4).tolist(),
        "world": np.round(hand.world, 5).tolist(),
        "openpose": hand.openpose_peaks().tolist(),
    }
