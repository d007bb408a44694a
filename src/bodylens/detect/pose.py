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


def detect_pose(rgb: np.ndarray) -> PoseResult | None:
    """Pose of the most prominent person in a photo, using the shared detector."""
    return registry.get("pose")(rgb)


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
