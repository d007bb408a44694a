"""Where the person's outline is clothing or carried things rather than body (issue 6).

Why: the fit pulls the body out to the person mask's outline. Below the hips a skirt or dress
hangs away from the legs, and a bag at the side widens the hips, so matching that outline
inflates the hip and thigh girths (a wide skirt made the fit grow 39 cm of hip). The clothing
parser (``bodylens.parse``) says which outline pixels are skirt, dress or bag; the fit ignores
the outline there and lets the keypoints, the inside-the-mask term and the shape prior place
the body under the garment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from bodylens.detect.pose import PoseResult

# Skirts and dresses usually sit on the hips and hang free below; the outline counts down to
# this fraction of the way from the hip joints to the knees.
HANG_START = 0.25
# Outline pixels within this fraction of the person's height of a garment pixel are skipped
# (the parser's boundary and MediaPipe's mask do not line up exactly).
REACH = 0.012
# ``bags_only``: a bag is fitted under when one piece of it, inside the person mask and below
# the waist, covers this share of the mask. Why a size: on the benchmark's flat-shaded renders
# the parser calls slivers of cluttered background and armpits "bag" (49 of 60 front renders),
# but such a piece covers at most 5.3 % of the mask on the 432 scored front renders (once in
# 1,199 calibration renders 10.7 %: a background disc the mask took in at the hip); a bag held
# at the hip covers 7.4-21 % (CCP 0005, 0100, 0137, 0177 and their rescaled or padded copies).
BAG_AREA = 0.07
# The parser's network sees ~192x288 pixels whatever the photo's size, but its labels are
# upsampled to the photo: 0.06 s at 0.45 MP, 0.4 s at 7 MP. A photo with a longer side is
# parsed at this size and the labels scaled back (a phone's 12 MP photo is not parsed whole).
PARSE_LONG_SIDE = 1700


@dataclass
class OutlineSkip:
    """Pixels (H, W bool) whose outline points the fit ignores, what they were, and the
    fraction of the person's outline they cover."""

    mask: np.ndarray
    garments: list[str]
    outline_fraction: float


def _row(pose: PoseResult, joint: str) -> float:
    """Image row of a joint's left-right mean ("hip": the hip line)."""
    return float(pose.point(f"left_{joint}")[1] + pose.point(f"right_{joint}")[1]) / 2


def _waist_row(pose: PoseResult) -> float:
    """Image row halfway between the shoulder and hip lines."""
    return max(0.0, (_row(pose, "shoulder") + _row(pose, "hip")) / 2)


def _parsed_masks(rgb: np.ndarray, pose: PoseResult) -> Callable[[str], np.ndarray]:
    """The clothing parse of a photo as a function: class name -> (H, W) bool mask at the
    photo's size, parsed at ``PARSE_LONG_SIDE`` at most."""
    from bodylens.parse.api import get_backend

    h, w = rgb.shape[:2]
    scale = PARSE_LONG_SIDE / max(h, w)
    if scale >= 1.0:
        return get_backend("parser")(rgb, pose=pose).mask
    size = (round(w * scale), round(h * scale))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    parsed = get_backend("parser")(small, pose=pose.resized(size))

    def full_size(name: str) -> np.ndarray:
        m = parsed.mask(name).astype(np.uint8)
        return cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST) > 0

    return full_size


def garment_outline_skip(
    rgb: np.ndarray, pose: PoseResult, person: np.ndarray, bags_only: bool = False
) -> OutlineSkip | None:
    """Skirt and dress below the hips, and bags anywhere, from the clothing parser; None
    when the photo shows none of them. ``person``: the binary person mask the fit uses.

    ``bags_only``: only a bag, and only one that MediaPipe took for part of the person
    (``BAG_AREA``): what ``measure`` fits under by default. Why: such a bag widens the hips
    by its own width, or not, as the mask takes it in or leaves it out; the same photo
    rescaled read a 93 or a 123 cm hip (CCP 0177)."""
    label = _parsed_masks(rgb, pose)
    bag = label("Bag")
    if bags_only:
        bag = bag & (person > 0)
        bag[: int(_waist_row(pose))] = False
        n, _, stats, _ = cv2.connectedComponentsWithStats(bag.astype(np.uint8), connectivity=8)
        largest = int(stats[1:, cv2.CC_STAT_AREA].max()) if n > 1 else 0
        if largest < BAG_AREA * float(np.count_nonzero(person)):
            return None
        hang = np.zeros_like(bag)
    else:
        hang = label("Skirt") | label("Dress")
        hips, knees = _row(pose, "hip"), _row(pose, "knee")
        hang[: max(0, int(hips + HANG_START * max(knees - hips, 0.0)))] = False
    found = [name for name, m in (("skirt or dress", hang), ("bag", bag)) if m.sum() > 50]
    if not found:
        return None
    ys = np.flatnonzero(person.any(axis=1))
    r = max(1, round(REACH * float(ys[-1] - ys[0] if len(ys) else rgb.shape[0])))
    skip = cv2.dilate((hang | bag).astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0
    body = person.astype(np.uint8)
    edge = (body - cv2.erode(body, np.ones((3, 3), np.uint8))) > 0
    covered = float(skip[edge].mean()) if edge.any() else 0.0
    return OutlineSkip(skip, found, covered)
