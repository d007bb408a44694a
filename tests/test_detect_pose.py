"""Pose detection on photos: the mirror-averaged detection the measurement fit uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bodylens.detect import pose as posemod
from bodylens.detect.pose import LANDMARK_NAMES, PoseResult, detect_pose

BUNDLED_PHOTO = Path(__file__).resolve().parent / "data" / "ccp_0008.jpg"


def _random_pose(rng: np.random.Generator, w: int = 300, h: int = 400) -> PoseResult:
    n = len(LANDMARK_NAMES)
    return PoseResult(
        keypoints=rng.uniform(0, [w, h], (n, 2)).astype(np.float32),
        visibility=rng.uniform(0, 1, n).astype(np.float32),
        presence=rng.uniform(0, 1, n).astype(np.float32),
        world=rng.normal(0, 0.3, (n, 3)).astype(np.float32),
        mask=rng.uniform(0, 1, (h, w)).astype(np.float32),
        image_size=(w, h),
    )


def test_mirrored_swaps_sides_and_flips_x():
    pose = _random_pose(np.random.default_rng(0))
    m = pose.mirrored()
    w = pose.image_size[0]
    left, right = LANDMARK_NAMES.index("left_wrist"), LANDMARK_NAMES.index("right_wrist")
    assert m.keypoints[left, 0] == pytest.approx(w - pose.keypoints[right, 0])
    assert m.keypoints[left, 1] == pytest.approx(pose.keypoints[right, 1])
    assert m.visibility[left] == pose.visibility[right]
    nose = LANDMARK_NAMES.index("nose")
    assert m.keypoints[nose, 0] == pytest.approx(w - pose.keypoints[nose, 0])
    np.testing.assert_array_equal(m.mask, pose.mask[:, ::-1])
    back = m.mirrored()
    np.testing.assert_allclose(back.keypoints, pose.keypoints, atol=1e-4)
    np.testing.assert_array_equal(back.world, pose.world)


def test_mirror_average_keeps_the_direct_detection_when_the_two_disagree(monkeypatch):
    """A mirror image in which MediaPipe finds someone else (or reads the pose differently)
    is not averaged in."""
    rng = np.random.default_rng(1)
    direct, elsewhere = _random_pose(rng), _random_pose(rng)
    image = np.zeros((400, 300, 3), np.uint8)
    image[:, :150] = 255  # tells the detector which way round it is looking

    def detector(rgb):
        return direct if rgb[0, 0, 0] == 255 else elsewhere

    monkeypatch.setattr(posemod.registry, "get", lambda name: detector)
    assert detect_pose(image, mirror_average=True) is direct
    near = PoseResult(
        direct.keypoints + 2.0, direct.visibility, direct.presence, direct.world,
        direct.mask, direct.image_size,
    ).mirrored()  # fmt: skip

    def agreeing(rgb):
        return direct if rgb[0, 0, 0] == 255 else near

    monkeypatch.setattr(posemod.registry, "get", lambda name: agreeing)
    averaged = detect_pose(image, mirror_average=True)
    np.testing.assert_allclose(averaged.keypoints, direct.keypoints + 1.0, atol=1e-4)


@pytest.mark.slow
def test_mirror_averaged_detection_of_a_real_photo_is_mirror_symmetric():
    """The mean of a photo's and its mirror image's detections is the same for the photo and
    its mirror image (one mirrored into the other), and stays near the direct detection."""
    from bodylens.io.images import load_image

    rgb = load_image(BUNDLED_PHOTO)
    flipped = np.ascontiguousarray(rgb[:, ::-1])
    direct = detect_pose(rgb)
    averaged = detect_pose(rgb, mirror_average=True)
    of_mirror = detect_pose(flipped, mirror_average=True).mirrored()
    np.testing.assert_allclose(of_mirror.keypoints, averaged.keypoints, atol=1e-2)
    np.testing.assert_allclose(of_mirror.mask, averaged.mask, atol=1e-5)
    height = np.ptp(direct.keypoints[:, 1])
    gap = np.linalg.norm(averaged.keypoints - direct.keypoints, axis=1)
    assert 0 < gap.mean() < 0.02 * height


@pytest.mark.slow
def test_a_person_far_away_is_found_in_windows_of_the_photo():
    """A person filling a fifth of the photo's height: MediaPipe alone finds nobody; the window
    search finds them where the photo taken closer puts them, with the mask pasted in place."""
    from bodylens.io.images import load_image
    from tests.conftest import far_away

    rgb = load_image(BUNDLED_PHOTO)
    canvas, (x0, y0) = far_away(rgb, 4)
    assert detect_pose(canvas) is None
    found = detect_pose(canvas, mirror_average=True, search_small=True)
    near = detect_pose(rgb, mirror_average=True)
    assert found is not None and found.image_size == (canvas.shape[1], canvas.shape[0])
    offset = np.linalg.norm(found.keypoints - near.keypoints - [x0, y0], axis=1)
    assert np.median(offset) < 0.02 * rgb.shape[0]
    ys, xs = np.nonzero(found.mask > 0.5)
    h, w = rgb.shape[:2]
    assert x0 - 0.05 * w <= xs.min() and xs.max() <= x0 + 1.05 * w
    assert y0 - 0.05 * h <= ys.min() and ys.max() <= y0 + 1.05 * h


def test_placed_puts_a_crop_detection_into_the_whole_photo():
    pose = _random_pose(np.random.default_rng(1), w=30, h=40)
    placed = pose.placed((5, 7), (100, 80))
    np.testing.assert_allclose(placed.keypoints, pose.keypoints + [5, 7])
    assert placed.mask.shape == (80, 100) and placed.image_size == (100, 80)
    np.testing.assert_array_equal(placed.mask[7:47, 5:35], pose.mask)
    assert placed.mask.sum() == pytest.approx(pose.mask.sum())
