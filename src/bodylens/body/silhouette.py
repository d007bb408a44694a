"""Widths of the person's silhouette at fixed anatomical levels, straight from the mask.

Why: the fitted body matches the silhouette only as far as its shape controls and priors let
it, so the readings taken on it lose part of what the outline shows (how deep the bust and
belly stand out in a side photo, how wide the hips are in a front one). Handed to the fusion's
learned correction as extra inputs next to the readings (``fusion.stack_features``), these raw
widths took 5-12 % off the fused chest, waist and hip errors on the ANSUR benchmark
(docs/BENCHMARKS.md).

What: at 12 levels from 0.1 above the shoulder line to the hip line, and 6 down the thigh
(0.1-0.6 of the way from the hips to the knees), the width of the run of mask pixels that holds
the body's midline (the median over five rows), as a fraction of the person's height in pixels;
plus the mask's area over the height squared. Fractions of the person's own height make the
profile independent of image size, margin and distance; the fusion scales them by the height
given. In a side photo the width is the body's depth.
"""

from __future__ import annotations

import numpy as np

TORSO_LEVELS = np.linspace(-0.1, 1.0, 12)  # shoulder line (0) to hip line (1)
THIGH_LEVELS = np.linspace(0.1, 0.6, 6)  # hip line (0) to knee line (1)
_ROWS = 2  # rows either side of a level whose widths are pooled (median)
# MediaPipe Pose landmark indices.
_SHOULDERS, _HIPS, _KNEES = (11, 12), (23, 24), (25, 26)


def run_width(mask: np.ndarray, y: float, x: float) -> float:
    """Width (pixels) of the run of mask pixels at row ``y`` that holds column ``x`` (or the
    run nearest to it), the median over ``_ROWS`` rows either side; 0 where there is none."""
    h, w = mask.shape
    widths = []
    for row_index in range(round(y) - _ROWS, round(y) + _ROWS + 1):
        if not 0 <= row_index < h:
            continue
        row = mask[row_index]
        filled = np.flatnonzero(row)
        if filled.size == 0:
            continue
        xi = int(np.clip(round(x), 0, w - 1))
        if not row[xi]:
            xi = int(filled[np.argmin(np.abs(filled - xi))])
        gaps = np.flatnonzero(~row)
        left = gaps[gaps < xi]
        right = gaps[gaps > xi]
        start = int(left[-1]) + 1 if left.size else 0
        stop = int(right[0]) if right.size else w
        widths.append(stop - start)
    return float(np.median(widths)) if widths else 0.0


def profile(keypoints: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Silhouette widths (fractions of the person's pixel height; see the module doc) of one
    view from its pose keypoints (33, 2) in pixels and its person mask (H, W) bool."""
    mask = np.asarray(mask, bool)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        raise ValueError("empty person mask")
    height_px = float(rows[-1] - rows[0] + 1)
    kp = np.asarray(keypoints, float)
    shoulders, hips, knees = (kp[list(i)].mean(axis=0) for i in (_SHOULDERS, _HIPS, _KNEES))
    out: dict[str, float] = {}
    for i, t in enumerate(TORSO_LEVELS):
        y = shoulders[1] + t * (hips[1] - shoulders[1])
        out[f"t{i}"] = run_width(mask, y, hips[0]) / height_px
    for i, t in enumerate(THIGH_LEVELS):
        x, y = hips + t * (knees - hips)
        out[f"l{i}"] = run_width(mask, y, x) / height_px
    out["area"] = float(mask.sum()) / height_px**2
    return out
