"""MediaPipe Hands behind a typed wrapper, plus a body-guided search for small hands.

MediaPipe's palm detector sees the whole image at 192x192, so a hand that is 50 px wide in a
1080p full-body photo shrinks to a few pixels and is missed. Like OpenPose, we therefore also look
around the wrists that the body pose finds: square crops at several sizes (the ``scale`` list of
PaddleHub's ``openpose_hands_estimation``) go through the hand model, and the hands found are
mapped back to the photo and merged with those of the whole-image pass.

Both MediaPipe hand models ship in the wheel; we use "lite" (model_complexity=0): on our
benchmark it scored a higher PCK@0.2 than "full" (mostly on small hands in full-body frames)
and is faster, about 15 ms against 20 ms a pass on 2 CPU cores (docs/benchmarks/hands.md).
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from bodylens import registry

if TYPE_CHECKING:
    from bodylens.detect.pose import PoseResult

# MediaPipe's 21 hand landmarks; the order is the same as OpenPose's hand output
# (wrist 0, thumb 1-4, index 5-8, middle 9-12, ring 13-16, little 17-20).
HAND_LANDMARK_NAMES = [
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "little_mcp", "little_pip", "little_dip", "little_tip",
]  # fmt: skip

# Bones as (parent, child) index pairs, OpenPose's drawing order.
HAND_EDGES = [
    (0, 1), (1, 2), (2, 3), (3, 4),
    (0, 5), (5, 6), (6, 7), (7, 8),
    (0, 9), (9, 10), (10, 11), (11, 12),
    (0, 13), (13, 14), (14, 15), (15, 16),
    (0, 17), (17, 18), (18, 19), (19, 20),
]  # fmt: skip

Side = Literal["left", "right"]

# Crops are resized into this range of sides: small crops up so the palm detector sees a
# normal-sized hand, big ones down so copying 1080p crops stays cheap.
POSE_MAX_SIDE = 640
CROP_MIN = 256
CROP_MAX = 512
# A found hand whose box is at least this fraction of the image's shorter side is a close-up:
# the body pose would add latency and nothing else.
CLOSE_UP_FRACTION = 0.25


@dataclass(eq=False)  # compared by identity: the fields are arrays
class Hand:
    """One hand in one image.

    keypoints: (21, 2) pixel coordinates (x, y), MediaPipe/OpenPose order; may lie outside the
        image when MediaPipe extrapolates a hidden finger.
    confidence: (21,) per-point confidence in [0, 1]. MediaPipe Hands gives one score per hand,
        so a point gets the hand's score, or 0 when it falls outside the image (OpenPose reports
        such points as [0, 0]).
    world: (21, 3) metric coordinates in metres, origin at the hand's centre, y down (MediaPipe).
    side: the person's own left or right hand (not the image side).
    side_source: "body" when the hand was matched to a wrist of the body pose, "classifier" when
        it comes from MediaPipe's handedness model (corrected for non-mirrored photos).
    score: MediaPipe's handedness score for the hand; hands below the detection threshold are
        already dropped.
    """

    keypoints: np.ndarray
    confidence: np.ndarray
    world: np.ndarray
    side: Side
    side_source: Literal["body", "classifier"]
    score: float

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) around the keypoints."""
        x0, y0 = self.keypoints.min(axis=0)
        x1, y1 = self.keypoints.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    @property
    def size(self) -> float:
        """Longest side of the keypoint box, in pixels."""
        x0, y0, x1, y1 = self.box
        return max(x1 - x0, y1 - y0)

    def openpose_peaks(self) -> np.ndarray:
        """(21, 2) int pixel peaks as OpenPose writes them: [0, 0] for a missing point."""
        peaks = np.rint(self.keypoints).astype(np.int64)
        peaks[self.confidence <= 0] = 0
        return peaks


class HandDetector:
    """Thread-safe MediaPipe Hands for still images (static mode: palm detection every call)."""

    def __init__(
        self,
        model_complexity: int = 0,
        max_num_hands: int = 4,
        min_detection_confidence: float = 0.5,
    ) -> None:
        from bodylens.detect._mediapipe import mediapipe

        mp = mediapipe()

        self._hands = mp.solutions.hands.Hands(
            static_image_mode=True,
            max_num_hands=max_num_hands,
            model_complexity=model_complexity,
            min_detection_confidence=min_detection_confidence,
        )
        self._lock = threading.Lock()

    def __call__(self, rgb: np.ndarray) -> list[Hand]:
        """Hands in an RGB uint8 image, sides from MediaPipe's classifier."""
        h, w = rgb.shape[:2]
        with self._lock:
            res = self._hands.process(np.ascontiguousarray(rgb))
        hands: list[Hand] = []
        if not res.multi_hand_landmarks:
            return hands
        for lms, world, handed in zip(
            res.multi_hand_landmarks,
            res.multi_hand_world_landmarks,
            res.multi_handedness,
            strict=True,
        ):
            kp = np.array([[p.x * w, p.y * h] for p in lms.landmark], dtype=np.float64)
            wl = np.array([[p.x, p.y, p.z] for p in world.landmark], dtype=np.float64)
            label = handed.classification[0].label.lower()
            score = float(handed.classification[0].score)
            # MediaPipe labels hands as if the photo were a mirrored selfie; ordinary photos are
            # not mirrored, so its "Left" is the person's right hand (checked on FreiHAND,
            # InterHand and Panoptic ground truth in benchmarks/hands.py).
            side: Side = "right" if label == "left" else "left"
            hands.append(Hand(kp, np.full(21, score), wl, side, "classifier", score))
        return hands

    def close(self) -> None:
        self._hands.close()


@registry.register("hands")
def _hands_for_photos() -> HandDetector:
    return HandDetector()


def _inside(points: np.ndarray, width: int, height: int) -> np.ndarray:
    x, y = points[:, 0], points[:, 1]
    return (x >= 0) & (y >= 0) & (x <= width - 1) & (y <= height - 1)


def _mark_outside(hand: Hand, width: int, height: int) -> Hand:
    hand.confidence = np.where(_inside(hand.keypoints, width, height), hand.confidence, 0.0)
    return hand


@dataclass
class _ArmGuess:
    side: Side
    wrist: np.ndarray
    center: np.ndarray
    size: float  # side of the square that should hold the whole hand at scale 1


def _arm_guesses(pose: PoseResult, min_visibility: float = 0.3) -> list[_ArmGuess]:
    """Where the body pose says each visible hand is, and how big a crop should hold it."""
    guesses = []
    for side in ("left", "right"):
        if not pose.visible(f"{side}_wrist", min_visibility):
            continue
        wrist = pose.point(f"{side}_wrist").astype(np.float64)
        elbow = pose.point(f"{side}_elbow").astype(np.float64)
        shoulder = pose.point(f"{side}_shoulder").astype(np.float64)
        # The pose's own hand points (knuckles of index and little finger) say where the hand
        # points; the forearm says how big it is (hand length is ~0.7 forearm).
        knuckles = (pose.point(f"{side}_index") + pose.point(f"{side}_pinky")) / 2.0
        forearm = float(np.linalg.norm(wrist - elbow))
        upper_arm = float(np.linalg.norm(elbow - shoulder))
        reach = float(np.linalg.norm(knuckles - wrist))
        size = max(1.5 * max(forearm, 0.9 * upper_arm), 4.0 * reach, 32.0)
        direction = knuckles - wrist
        if reach < 1e-3:
            direction = wrist - elbow
        norm = float(np.linalg.norm(direction)) or 1.0
        center = wrist + direction / norm * 0.25 * size
        guesses.append(_ArmGuess(side, wrist, center, size))
    return guesses


def _pose_for_wrists(rgb: np.ndarray) -> PoseResult | None:
    """Body pose for locating the wrists, on a copy whose longer side is POSE_MAX_SIDE at most.

    The pose model itself sees 256x256, so a 1080p input only costs conversion time (and a
    full-size person mask we do not use); wrists move by a few pixels, far less than a crop."""
    import cv2

    from bodylens.detect.pose import detect_pose

    h, w = rgb.shape[:2]
    factor = max(h, w) / POSE_MAX_SIDE
    if factor <= 1:
        return detect_pose(rgb)
    small = cv2.resize(rgb, (round(w / factor), round(h / factor)), interpolation=cv2.INTER_AREA)
    pose = detect_pose(small)
    if pose is None:
        return None
    return dataclasses.replace(pose, keypoints=pose.keypoints * factor, image_size=(w, h))


def _crop(
    rgb: np.ndarray, center: np.ndarray, size: float
) -> tuple[np.ndarray, float, float, float]:
    """Square crop (zero-padded outside the image), resized into [CROP_MIN, CROP_MAX].

    Returns the crop and (x0, y0, factor) such that image = crop * factor + (x0, y0)."""
    import cv2

    h, w = rgb.shape[:2]
    side = max(int(round(size)), 8)
    x0 = int(round(center[0] - side / 2))
    y0 = int(round(center[1] - side / 2))
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + side, w), min(y0 + side, h)
    patch = np.zeros((side, side, 3), dtype=np.uint8)
    if sx1 > sx0 and sy1 > sy0:
        patch[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = rgb[sy0:sy1, sx0:sx1]
    target = min(max(side, CROP_MIN), CROP_MAX)
    if target != side:
        interp = cv2.INTER_AREA if side > target else cv2.INTER_CUBIC
        patch = cv2.resize(patch, (target, target), interpolation=interp)
    return patch, float(x0), float(y0), side / target


def _in_crop(
    detector: HandDetector, rgb: np.ndarray, center: np.ndarray, size: float
) -> list[Hand]:
    """Hands found in a square crop, in the photo's pixel coordinates."""
    h, w = rgb.shape[:2]
    crop, x0, y0, factor = _crop(rgb, center, size)
    hands = detector(crop)
    for hand in hands:
        hand.keypoints = hand.keypoints * factor + (x0, y0)
        _mark_outside(hand, w, h)
    return hands


def _same_hand(a: Hand, b: Hand) -> bool:
    """Duplicates: the keypoints agree to within a fifth of the hand's size, or boxes overlap."""
    scale = max(a.size, b.size, 1.0)
    if float(np.mean(np.linalg.norm(a.keypoints - b.keypoints, axis=1))) < 0.2 * scale:
        return True
    ax0, ay0, ax1, ay1 = a.box
    bx0, by0, bx1, by1 = b.box
    iw = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    ih = max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return union > 0 and inter / union > 0.5


def _near(hand: Hand, guess: _ArmGuess) -> float:
    """Distance from the hand's wrist to the body's wrist, in units of the expected crop."""
    return float(np.linalg.norm(hand.keypoints[0] - guess.wrist)) / guess.size


def find_hands(
    rgb: np.ndarray,
    scales: Sequence[float] = (0.5, 1.0, 1.5, 2.0),
    *,
    body_guided: bool | None = None,
    detector: HandDetector | None = None,
) -> list[Hand]:
    """All hands in an RGB photo: a whole-image pass, then (if needed) crops around the wrists.

    ``scales`` are crop sizes relative to the size the arm suggests; they are tried largest
    first and the search at a wrist stops at the first scale that finds a hand there.
    ``body_guided``: None decides by itself (skipped for close-ups and when two hands are
    already found), True always runs the body pose, False never does.
    ``detector`` replaces the shared one (the benchmark compares the lite and full models).
    Order: the person's left hand, then right, as PaddleHub lists them; then any other hands.
    """
    scales = [float(s) for s in scales]
    if any(not math.isfinite(s) or s <= 0 for s in scales):
        raise ValueError("every scale must be a positive number")
    h, w = rgb.shape[:2]
    detector = detector or registry.get("hands")
    found = [_mark_outside(hand, w, h) for hand in detector(rgb)]

    if body_guided is None:
        close_up = any(hand.size >= CLOSE_UP_FRACTION * min(h, w) for hand in found)
        body_guided = not close_up and len(found) < 2
    linked: dict[str, Hand] = {}
    if body_guided and scales:
        pose = _pose_for_wrists(rgb)
        guesses = _arm_guesses(pose) if pose is not None else []
        # Whole-image hands close to a body wrist take that wrist's side; closest pairs first,
        # so a hand near both wrists goes to the nearer one.
        pairs = sorted(
            (_near(hd, guess), gi, hi)
            for gi, guess in enumerate(guesses)
            for hi, hd in enumerate(found)
            if _near(hd, guess) < 0.35
        )
        used: set[int] = set()
        for _, gi, hi in pairs:
            guess, hand = guesses[gi], found[hi]
            if guess.side in linked or hi in used:
                continue
            hand.side, hand.side_source = guess.side, "body"
            linked[guess.side] = hand
            used.add(hi)
        for guess in guesses:
            if guess.side in linked:
                continue
            # Largest crop first: the palm detector needs context around the hand, and on the
            # benchmark the wide crops find small hands that tight ones miss.
            for scale in sorted(scales, reverse=True):
                candidates = [
                    hd
                    for hd in _in_crop(detector, rgb, guess.center, guess.size * scale)
                    if _near(hd, guess) < 0.35
                ]
                if candidates:
                    best = min(candidates, key=lambda hd: _near(hd, guess))
                    best.side, best.side_source = guess.side, "body"
                    linked[guess.side] = best
                    break
    ordered = [linked[s] for s in ("left", "right") if s in linked]
    rest = sorted(
        (hd for hd in found if not any(hd is k for k in ordered)),
        key=lambda hd: (hd.side != "left", hd.box[0]),
    )
    kept: list[Hand] = []
    for hand in ordered + rest:
        if not any(_same_hand(hand, k) for k in kept):
            kept.append(hand)
    return kept
