"""Issue 6: silhouette widths straight from the person mask (bodylens.body.silhouette).

A drawn figure of known widths, then the real pipeline's mask of a real photo."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bodylens.body import silhouette

CCP = Path(__file__).resolve().parents[2] / "shared" / "data" / "ccp" / "images"


def _figure(scale: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A 400 px tall figure: head, a 100 px wide torso from row 80 to 240 with arms 10 px
    away on both sides, two 40 px legs 20 px apart; and MediaPipe-ordered keypoints."""
    mask = np.zeros((420, 300), np.uint8)
    cv2.circle(mask, (150, 50), 30, 1, -1)  # head, rows 20-80
    mask[80:240, 100:200] = 1  # torso
    mask[80:220, 80:90] = mask[80:220, 210:220] = 1  # arms, apart from the torso
    mask[240:420, 110:140] = mask[240:420, 160:190] = 1  # legs (30 px wide, 20 apart)
    mask[240:300, 110:190] = 1  # the hips join the legs
    kp = np.zeros((33, 2))
    kp[11], kp[12] = (190, 90), (110, 90)  # shoulders
    kp[23], kp[24] = (170, 240), (130, 240)  # hips
    kp[25], kp[26] = (175, 340), (125, 340)  # knees
    mask = cv2.resize(mask, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    return kp * scale, mask.astype(bool)


def test_widths_are_the_midline_run_as_a_fraction_of_the_height():
    kp, mask = _figure()
    p = silhouette.profile(kp, mask)
    height = 400.0  # rows 20..419
    assert len(p) == len(silhouette.TORSO_LEVELS) + len(silhouette.THIGH_LEVELS) + 1
    # The torso levels at and below the shoulder line (row 90) read the torso alone: the
    # arms beside it are separate runs.
    for i, t in enumerate(silhouette.TORSO_LEVELS):
        if t >= 0.0:
            assert p[f"t{i}"] * height == pytest.approx(100.0 if t < 1.0 else 80.0, rel=0.01), i
    # 0.1 above the shoulders (row 75) is the neck/head: narrower than the torso.
    assert p["t0"] * height < 100.0
    # Down the thigh: the joined hips (80 px) until row 300, then one 30 px leg.
    for i, t in enumerate(silhouette.THIGH_LEVELS):
        y = 240 + t * 100
        assert p[f"l{i}"] * height == pytest.approx(80.0 if y < 298 else 30.0, rel=0.01), i
    assert p["area"] == pytest.approx(mask.sum() / height**2)


def test_widths_do_not_change_with_image_size_or_mirroring():
    kp, mask = _figure()
    base = silhouette.profile(kp, mask)
    kp2, mask2 = _figure(scale=2)
    double = silhouette.profile(kp2, mask2)
    for k, v in base.items():
        assert double[k] == pytest.approx(v, abs=0.01), k
    width = mask.shape[1]
    mirrored_kp = kp.copy()
    mirrored_kp[:, 0] = width - 1 - kp[:, 0]
    mirrored = silhouette.profile(mirrored_kp, mask[:, ::-1])
    assert mirrored == pytest.approx(base)


def test_an_empty_mask_is_an_error():
    with pytest.raises(ValueError):
        silhouette.profile(np.zeros((33, 2)), np.zeros((10, 10), bool))


@pytest.mark.skipif(not CCP.is_dir(), reason="../shared/data/ccp missing")
def test_a_real_photo_gives_plausible_body_proportions():
    """The pipeline's own mask of a street photo: torso and thighs about a fifth, a tenth of
    the height wide, and the same widths from the photo at half size (within 2 % of the
    height: the mask's outline moves by a pixel or two)."""
    from bodylens.body.api import _find_person
    from bodylens.io.images import load_image

    rgb = load_image(CCP / "0100.jpg")
    pose, mask = _find_person(rgb, "photo", {}, [])
    p = silhouette.profile(pose.keypoints, mask)
    torso = [p[f"t{i}"] for i, t in enumerate(silhouette.TORSO_LEVELS) if 0.3 <= t <= 1.0]
    assert all(0.1 < w < 0.35 for w in torso), torso
    assert all(0.04 < p[f"l{i}"] < 0.3 for i in range(len(silhouette.THIGH_LEVELS)))
    small = cv2.resize(rgb, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    pose2, mask2 = _find_person(small, "photo", {}, [])
    half = silhouette.profile(pose2.keypoints, mask2)
    torso_half = [half[f"t{i}"] for i, t in enumerate(silhouette.TORSO_LEVELS) if 0.3 <= t <= 1.0]
    assert np.abs(np.subtract(torso, torso_half)).max() < 0.02
