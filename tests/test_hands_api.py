"""bodylens.hands: PaddleHub-style predict() and the typed detect_hands() on real photos."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from bodylens import hands
from bodylens.detect.hands import HAND_LANDMARK_NAMES, Hand
from bodylens.errors import BodylensError, InputError, UnsupportedMedia

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
HANDS = SHARED / "hands"
pytestmark = pytest.mark.skipif(
    not HANDS.is_dir(), reason=f"shared hand photos not found at {HANDS}"
)

PANOPTIC = HANDS / "mmpose_panoptic_005880453.jpg"  # cellist, 1280x720, two small hands
ONEHAND = HANDS / "mmpose_onehand10k_1402.jpg"  # close-up of one hand


def _gt(dataset: str, image_id: int) -> np.ndarray:
    data = json.loads((HANDS / f"mmpose_{dataset}_test.json").read_text())
    ann = next(a for a in data["annotations"] if a["image_id"] == image_id)
    return np.asarray(ann["keypoints"], dtype=float).reshape(21, 3)


def test_predict_paddlehub_shape_on_a_path():
    results = hands.predict(str(PANOPTIC))
    assert isinstance(results, list) and len(results) == 1
    out = results[0]
    assert set(out) == {"data", "all_hand_peaks"}
    bgr = cv2.imread(str(PANOPTIC))
    assert out["data"].shape == bgr.shape and out["data"].dtype == np.uint8
    assert not np.array_equal(out["data"], bgr), "the hands should be drawn on the image"
    peaks = out["all_hand_peaks"]
    assert len(peaks) == 2
    for p in peaks:
        assert isinstance(p, np.ndarray) and p.shape == (21, 2)
        assert np.issubdtype(p.dtype, np.integer)


def test_predict_matches_ground_truth_in_openpose_order():
    """Panoptic GT is in OpenPose hand order: a mix-up of the order would fail PCK@0.2."""
    bgr = cv2.imread(str(PANOPTIC))
    peaks = hands.predict(bgr)[0]["all_hand_peaks"]
    # Annotation ids 100586 (_l, the person's left hand) and 100587 (_r): PaddleHub order is
    # left hand first, then right.
    for pred, image_id in zip(peaks, (100586, 100587), strict=True):
        gt = _gt("panoptic", image_id)
        valid = gt[:, 2] > 0
        size = np.ptp(gt[valid, :2], axis=0).max()
        dist = np.linalg.norm(pred - gt[:, :2], axis=1)[valid]
        assert (dist <= 0.2 * size).mean() >= 0.9, dist / size


def test_detect_hands_typed_result_close_up():
    rgb = cv2.cvtColor(cv2.imread(str(ONEHAND)), cv2.COLOR_BGR2RGB)
    found = hands.detect_hands(rgb)
    assert len(found) == 1
    hand = found[0]
    assert isinstance(hand, Hand)
    assert hand.keypoints.shape == (21, 2) and hand.world.shape == (21, 3)
    assert hand.side in ("left", "right") and hand.side_source == "classifier"
    assert 0.5 <= hand.score <= 1.0
    assert np.all((hand.confidence >= 0) & (hand.confidence <= 1))
    # World coordinates are metres around the hand: a hand spans about 0.1-0.25 m.
    span = np.ptp(hand.world, axis=0).max()
    assert 0.05 < span < 0.3
    gt = _gt("onehand10k", 1402)
    size = np.ptp(gt[:, :2], axis=0).max()
    assert np.linalg.norm(hand.keypoints - gt[:, :2], axis=1).mean() < 0.1 * size
    assert len(HAND_LANDMARK_NAMES) == 21 and HAND_LANDMARK_NAMES[0] == "wrist"


def test_sides_follow_the_person_not_the_image():
    """MediaPipe labels hands as in a mirrored selfie; we report the person's own side.

    Panoptic marks the annotated hand with _l/_r: in this sign-language frame the left hand is
    lower in the image (y ~ 275) than the right (y ~ 219)."""
    bgr = cv2.imread(str(HANDS / "mmpose_panoptic_ex2_2_000040.jpg"))
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    found = hands.detect_hands(rgb)
    by_side = {h.side: h for h in found}
    assert set(by_side) == {"left", "right"}
    assert by_side["left"].keypoints[:, 1].mean() > by_side["right"].keypoints[:, 1].mean()
    assert [h.side for h in found] == ["left", "right"]
    assert {h.side_source for h in found} == {"classifier"}  # two hands found: no body search
    # Forcing the body search links both hands to the body's wrists; the sides must agree.
    guided = hands.detect_hands(rgb, body_guided=True)
    assert [(h.side, h.side_source) for h in guided] == [("left", "body"), ("right", "body")]
    for a, b in zip(found, guided, strict=True):
        assert np.allclose(a.keypoints, b.keypoints)


def test_photo_without_hands_gives_an_empty_list(tmp_path):
    """Legs and stairs from a CCP street photo: no hands, and that is not an error."""
    photo = SHARED / "ccp" / "images" / "0002.jpg"
    if not photo.is_file():
        pytest.skip("CCP photos not found")
    bgr = cv2.imread(str(photo))
    legs = np.ascontiguousarray(bgr[bgr.shape[0] * 2 // 3 :])
    out = hands.predict(legs, save_path=tmp_path / "out")[0]
    assert out["all_hand_peaks"] == []
    assert np.array_equal(out["data"], legs)
    assert hands.detect_hands(legs[..., ::-1]) == []
    assert len(list((tmp_path / "out").glob("*.png"))) == 1


def test_points_outside_the_image_are_zero_zero():
    """Cut the fingertips off a close-up: MediaPipe extrapolates them outside the image, and
    OpenPose-style output reports those points as [0, 0]."""
    rgb = cv2.cvtColor(cv2.imread(str(ONEHAND)), cv2.COLOR_BGR2RGB)
    (whole,) = hands.detect_hands(rgb)
    _, y0, _, y1 = whole.box  # the fingers point up in this photo, the wrist is at the bottom
    cut = np.ascontiguousarray(rgb[int(y0 + 0.2 * (y1 - y0)) :])
    found = hands.detect_hands(cut)
    assert len(found) == 1
    hand = found[0]
    outside = hand.keypoints[:, 1] < 0
    assert outside.any(), "some fingertips should be extrapolated above the cut"
    peaks = hand.openpose_peaks()
    assert np.all(peaks[outside] == 0)
    assert np.all(hand.confidence[outside] == 0)
    assert np.all(peaks[~outside].any(axis=1))
    assert peaks[0].tolist() != [0, 0]  # the wrist is in the image


def test_openpose_peaks_and_drawing_skip_missing_points():
    kp = np.stack([np.linspace(10, 50, 21), np.linspace(20, 60, 21)], axis=1)
    conf = np.full(21, 0.9)
    conf[[4, 8]] = 0.0
    hand = Hand(kp, conf, np.zeros((21, 3)), "left", "classifier", 0.9)
    peaks = hand.openpose_peaks()
    assert peaks[4].tolist() == [0, 0] and peaks[8].tolist() == [0, 0]
    assert peaks[0].tolist() == [10, 20]
    canvas = np.zeros((80, 80, 3), np.uint8)
    drawn = hands.draw_hands(canvas, [peaks])
    assert drawn.any() and not canvas.any()
    assert not drawn[0:3, 0:3].any(), "nothing may be drawn at the [0, 0] placeholders"


def test_save_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bgr = cv2.imread(str(ONEHAND))
    hands.predict(bgr)  # PaddleHub would create ./openpose_hand/<time>.png here
    assert list(tmp_path.iterdir()) == []
    hands.predict([bgr, str(ONEHAND)], save_path="out", visualization=False)
    assert list(tmp_path.iterdir()) == []
    results = hands.predict([bgr, str(ONEHAND)], save_path="out")
    assert len(results) == 2
    saved = sorted((tmp_path / "out").glob("*.png"))
    assert len(saved) == 2
    assert cv2.imread(str(saved[0])).shape == bgr.shape


@pytest.mark.parametrize(
    ("img", "error"),
    [
        ("/no/such/photo.jpg", InputError),
        (b"certainly not an image", UnsupportedMedia),
        (np.zeros((7,), np.uint8), InputError),
        (np.zeros((64, 64, 3), np.float32), InputError),
        (12345, InputError),
    ],
)
def test_bad_input_gets_a_clear_error(img, error):
    with pytest.raises(error) as info:
        hands.predict(img)
    assert isinstance(info.value, BodylensError) and info.value.message


def test_bad_scale_is_refused():
    bgr = cv2.imread(str(ONEHAND))
    for scale in ([], [-1.0], ["big"], [0.5, float("nan")]):
        with pytest.raises(InputError):
            hands.predict(bgr, scale=scale)
