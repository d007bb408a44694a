"""MediaPipe Pose (legacy solutions API) behind a small typed wrapper.

The wheel ships only the "full" landmark model (model_complexity=1); other complexities try to
download and fail offline, so we pin complexity 1. One graph is not thread-safe, hence the lock;
the registry hands out one shared instance for still images.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from bodylens import registry

# MediaPipe's 33 landmark names, in index order.
LANDMARK_NAMES = [
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
]  # fmt: skip
LANDMARK_INDEX = {name: i for i, name in enumerate(LANDMARK_NAMES)}
# Each landmark's counterpart on the other side of the body (itself on the midline), which a
# mirror image shows in its place.
MIRROR_INDEX = [
    LANDMARK_INDEX[n.replace("left", "#").replace("right", "left").replace("#", "right")]
    if "left" in n or "right" in n
    else i
    for i, n in enumerate(LANDMARK_NAMES)
]
# Mirror-image detections further apart than this (mean keypoint distance over the person's
# keypoint extent) are not the same person's: the direct detection is kept alone.
MIRROR_AGREEMENT = 0.08


@dataclass
class PoseResult:
    """Landmarks of one person in one image.

    keypoints: (33, 2) pixel coordinates (x, y).
    visibility: (33,) MediaPipe visibility in [0, 1].
    presence: (33,) MediaPipe presence in [0, 1] (is the point inside the image?).
    world: (33, 3) metric coordinates, hip-centred, y down (MediaPipe convention).
    mask: (H, W) float32 person probability in [0, 1], or None.
    """

    keypoints: np.ndarray
    visibility: np.ndarray
    presence: np.ndarray
    world: np.ndarray
    mask: np.ndarray | None
    image_size: tuple[int, int]  # (width, height)

    def point(self, name: str) -> np.ndarray:
        return self.keypoints[LANDMARK_INDEX[name]]

    def mirrored(self) -> PoseResult:
        """This detection of the mirror image, expressed in the original image: x flipped,
        left and right landmarks swapped, the mask flipped back."""
        w = self.image_size[0]
        keypoints = self.keypoints[MIRROR_INDEX].copy()
        keypoints[:, 0] = w - keypoints[:, 0]
        world = self.world[MIRROR_INDEX].copy()
        world[:, 0] *= -1.0
        mask = None if self.mask is None else np.ascontiguousarray(self.mask[:, ::-1])
        return PoseResult(
            keypoints,
            self.visibility[MIRROR_INDEX].copy(),
            self.presence[MIRROR_INDEX].copy(),
            world,
            mask,
            self.image_size,
        )

    def resized(self, size: tuple[int, int]) -> PoseResult:
        """This detection in the same image resized to ``size`` (width, height): keypoints
        scaled, the mask resampled; what does not depend on pixels is kept."""
        import cv2

        w, h = self.image_size
        keypoints = self.keypoints * np.array([size[0] / w, size[1] / h], np.float32)
        mask = None
        if self.mask is not None:
            mask = cv2.resize(self.mask, size, interpolation=cv2.INTER_LINEAR)
        return PoseResult(keypoints, self.visibility, self.presence, self.world, mask, size)

    def placed(self, offset: tuple[int, int], size: tuple[int, int]) -> PoseResult:
        """This detection of a crop at ``offset`` (x, y), expressed in the whole photo of
        ``size`` (width, height): keypoints shifted, the mask pasted into an empty one."""
        x0, y0 = offset
        keypoints = self.keypoints + np.array([x0, y0], np.float32)
        mask = None
        if self.mask is not None:
            mask = np.zeros((size[1], size[0]), np.float32)
            mh, mw = self.mask.shape
            mask[y0 : y0 + mh, x0 : x0 + mw] = self.mask
        return PoseResult(keypoints, self.visibility, self.presence, self.world, mask, size)

    def visible(self, name: str, threshold: float = 0.5) -> bool:
        i = LANDMARK_INDEX[name]
        w, h = self.image_size
        x, y = self.keypoints[i]
        inside = -0.02 * w <= x <= 1.02 * w and -0.02 * h <= y <= 1.02 * h
        return bool(self.visibility[i] >= threshold and inside)


class PoseDetector:
    """Thread-safe MediaPipe Pose; ``static=True`` for photos, False to track through video."""

    def __init__(
        self, static: bool = True, segmentation: bool = True, min_detection_confidence: float = 0.5
    ) -> None:
        from bodylens.detect._mediapipe import mediapipe

        mp = mediapipe()

        self._pose = mp.solutions.pose.Pose(
            static_image_mode=static,
            model_complexity=1,
            enable_segmentation=segmentation,
            smooth_landmarks=not static,
            smooth_segmentation=not static,
            min_detection_confidence=min_detection_confidence,
        )
        self._lock = threading.Lock()

    def __call__(self, rgb: np.ndarray) -> PoseResult | None:
        """Detect the most prominent person in an RGB uint8 image; None if nobody."""
        h, w = rgb.shape[:2]
        with self._lock:
            res = self._pose.process(np.ascontiguousarray(rgb))
        if res.pose_landmarks is None:
            return None
        lm = res.pose_landmarks.landmark
        keypoints = np.array([[p.x * w, p.y * h] for p in lm], dtype=np.float32)
        visibility = np.array([p.visibility for p in lm], dtype=np.float32)
        presence = np.array([p.presence for p in lm], dtype=np.float32)
        world = np.array(
            [[p.x, p.y, p.z] for p in res.pose_world_landmarks.landmark], dtype=np.float32
        )
        mask = None
        if res.segmentation_mask is not None:
            mask = np.asarray(res.segmentation_mask, dtype=np.float32)
        return PoseResult(keypoints, visibility, presence, world, mask, (w, h))

    def close(self) -> None:
        self._pose.close()


@registry.register("pose")
def _pose_for_photos() -> PoseDetector:
    return PoseDetector(static=True, segmentation=True)


def detect_pose(
    rgb: np.ndarray, mirror_average: bool = False, search_small: bool = False
) -> PoseResult | None:
    """Pose of the most prominent person in a photo, using the shared detector.

    ``mirror_average``: also detect on the mirror image and average the two (keypoints,
    visibility, world points and mask; ~30 ms more). Why: MediaPipe's landmarks and mask
    jitter by a few pixels with invisible changes to the photo (rescaling, padding, noise), and
    a body fit turns that jitter into girths that differ by centimetres; the two detections'
    errors are partly independent, so their mean moves less (on CCP street photos, half-size
    copies measured within 1 cm of the original 73 % -> 90 %, benchmarks/robustness.py).

    ``search_small``: when nobody is found, look again in windows of the photo
    (``find_small_person``) and detect on a crop around the person found there."""
    direct = registry.get("pose")(rgb)
    if direct is None and search_small:
        box = find_small_person(rgb)
        if box is None:
            return None
        x0, y0, x1, y1 = box
        found = detect_pose(np.ascontiguousarray(rgb[y0:y1, x0:x1]), mirror_average)
        return None if found is None else found.placed((x0, y0), rgb.shape[1::-1])
    if not mirror_average or direct is None:
        return direct
    flipped = registry.get("pose")(np.ascontiguousarray(rgb[:, ::-1]))
    if flipped is None:
        return direct
    other = flipped.mirrored()
    extent = np.ptp(direct.keypoints, axis=0).max()
    gap = np.linalg.norm(direct.keypoints - other.keypoints, axis=1).mean()
    if gap > MIRROR_AGREEMENT * extent:
        return direct  # another person, or a different reading of the pose: not averaged
    mask = None
    if direct.mask is not None and other.mask is not None:
        mask = 0.5 * (direct.mask + other.mask)
    return PoseResult(
        0.5 * (direct.keypoints + other.keypoints),
        0.5 * (direct.visibility + other.visibility),
        0.5 * (direct.presence + other.presence),
        0.5 * (direct.world + other.world),
        mask,
        direct.image_size,
    )


# A person far from the camera is missed: MediaPipe's person detector sees the whole photo at
# 224 px, and on renders of whole people filling 20 % of a 1440 px frame's height it found 3
# of 16 (benchmarks/far_away.py). Such photos are searched again in SEARCH_GRID x SEARCH_GRID
# overlapping windows, each SEARCH_WINDOW of the photo's width and height, so any person up to
# 0.4 of the frame is whole in one of them (docs/measurements.md, "A person far away").
SEARCH_WINDOW = 0.6
SEARCH_GRID = 3


def find_small_person(rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """A crop (x0, y0, x1, y1) around the most prominent person found in windows of the photo
    (the person filling about two thirds of its height), or None."""
    h, w = rgb.shape[:2]
    win_w, win_h = round(SEARCH_WINDOW * w), round(SEARCH_WINDOW * h)
    best, best_size = None, 0.0
    for gy in range(SEARCH_GRID):
        for gx in range(SEARCH_GRID):
            x0 = round(gx * (w - win_w) / (SEARCH_GRID - 1))
            y0 = round(gy * (h - win_h) / (SEARCH_GRID - 1))
            found = registry.get("pose")(
                np.ascontiguousarray(rgb[y0 : y0 + win_h, x0 : x0 + win_w])
            )
            if found is None or found.mask is None:
                continue
            ys, xs = np.nonzero(found.mask > 0.5)
            if ys.size == 0:
                continue
            size = float(ys.max() - ys.min() + 1)
            if size > best_size:
                best_size = size
                best = (x0 + xs.min(), y0 + ys.min(), x0 + xs.max() + 1, y0 + ys.max() + 1)
    if best is None:
        return None
    bx0, by0, bx1, by1 = best
    # A crop of the photo's aspect ratio, the person about two thirds of its height.
    crop_h = min(h, round(1.5 * max(by1 - by0, (bx1 - bx0) * h / w)))
    crop_w = min(w, round(crop_h * w / h))
    cx, cy = (bx0 + bx1) / 2.0, (by0 + by1) / 2.0
    x0 = int(np.clip(round(cx - crop_w / 2.0), 0, w - crop_w))
    y0 = int(np.clip(round(cy - crop_h / 2.0), 0, h - crop_h))
    return x0, y0, x0 + crop_w, y0 + crop_h


class PersonSegmenter:
    """Thread-safe MediaPipe selfie segmentation (general model): a person probability map
    that needs no landmarks (photos where Pose finds nobody; video matting, one per video)."""

    def __init__(self) -> None:
        from bodylens.detect._mediapipe import mediapipe

        self._seg = mediapipe().solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
        self._lock = threading.Lock()

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W) float32 person probability in [0, 1]."""
        with self._lock:
            res = self._seg.process(np.ascontiguousarray(rgb))
        return np.asarray(res.segmentation_mask, dtype=np.float32)

    def close(self) -> None:
        self._seg.close()


@registry.register("person_mask")
def _person_segmenter() -> PersonSegmenter:
    return PersonSegmenter()


def person_probability(rgb: np.ndarray) -> np.ndarray:
    """Person probability of every pixel, from the shared segmenter."""
    return registry.get("person_mask")(rgb)
