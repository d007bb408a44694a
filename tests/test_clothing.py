"""Fitting under skirts, dresses and bags: the outline the fit ignores (issue 6; real CCP photos
through MediaPipe and the clothing parser)."""

from __future__ import annotations

import numpy as np
import pytest

from bodylens.body import fit as fitmod
from bodylens.body.api import _find_person
from bodylens.body.clothing import garment_outline_skip
from bodylens.io.images import load_image
from tests.conftest import shared_path


def person(photo: str):
    rgb = load_image(shared_path("data", "ccp", "images", photo))
    found = _find_person(rgb, "photo", {}, [])
    return found.rgb, found.pose, found.mask


def test_a_dress_below_the_hips_is_skipped_and_the_outline_above_is_kept():
    rgb, pose, mask = person("0002.jpg")  # a knee-length dress
    skip = garment_outline_skip(rgb, pose, mask)
    assert skip is not None and "skirt or dress" in skip.garments
    assert skip.outline_fraction > 0.2
    hips = (pose.point("left_hip")[1] + pose.point("right_hip")[1]) / 2
    ys = np.nonzero(skip.mask)[0]
    assert ys.min() > hips - 0.05 * rgb.shape[0]  # nothing of the chest or waist
    obs = fitmod._Observations(pose, mask, skip=skip.mask)
    plain = fitmod._Observations(pose, mask)
    assert plain.skipped == 0.0
    assert 0.1 < obs.skipped < 0.6
    # The points the fit ignores are the low ones.
    low = (obs.outline[:, 1] * obs.long + obs.centre[1]).numpy() > hips
    assert obs.outline_w.numpy()[~low].mean() > 0.9
    assert obs.outline_w.numpy()[low].mean() < 0.6


def test_trousers_leave_the_legs_outline_alone():
    rgb, pose, mask = person("0004.jpg")  # coat over trousers, no skirt, dress or bag
    skip = garment_outline_skip(rgb, pose, mask)
    assert skip is None or skip.outline_fraction < 0.05


def test_only_a_bag_the_person_mask_took_in_is_fitted_under_by_default():
    rgb, pose, mask = person("0177.jpg")  # a handbag at the hip, inside MediaPipe's mask
    skip = garment_outline_skip(rgb, pose, mask, bags_only=True)
    assert skip is not None and skip.garments == ["bag"]
    assert skip.outline_fraction > 0.05
    for photo in ("0002.jpg", "0004.jpg"):  # a dress; a coat over trousers: no bag
        assert garment_outline_skip(*person(photo), bags_only=True) is None


def test_a_large_photo_is_parsed_smaller_and_its_skip_scaled_back():
    import cv2

    from bodylens.body import clothing

    rgb = load_image(shared_path("data", "ccp", "images", "0177.jpg"))
    big = cv2.resize(rgb, (rgb.shape[1] * 4, rgb.shape[0] * 4), interpolation=cv2.INTER_CUBIC)
    assert max(big.shape[:2]) > clothing.PARSE_LONG_SIDE
    found = _find_person(big, "photo", {}, [])  # at its working size, above the parse size
    assert max(found.rgb.shape[:2]) > clothing.PARSE_LONG_SIDE
    skip = garment_outline_skip(found.rgb, found.pose, found.mask, bags_only=True)
    small = garment_outline_skip(*person("0177.jpg"), bags_only=True)
    assert skip is not None and skip.mask.shape == found.rgb.shape[:2]
    assert abs(skip.outline_fraction - small.outline_fraction) < 0.03


@pytest.mark.slow
def test_a_bag_at_the_hip_no_longer_flips_the_hip_with_the_photo_size():
    """Fitted over, CCP 0177's bag was hip or not as MediaPipe's mask took it in or left it
    out: 123 cm for the photo, 93 cm for its half-size copy. Fitted under, they agree."""
    import cv2

    from bodylens.body import api

    rgb = load_image(shared_path("data", "ccp", "images", "0177.jpg"))
    half = cv2.resize(rgb, (rgb.shape[1] // 2, rgb.shape[0] // 2), interpolation=cv2.INTER_AREA)
    hips = []
    for image in (rgb, half):
        result = api.measure(image, height_cm=170, measures=["hip_girth"])
        assert any(w.startswith("a bag covers") for w in result.warnings)
        hips.append(result.values["hip_girth"])
    assert abs(hips[0] - hips[1]) < 3.0
    plain = api.measure(rgb, height_cm=170, measures=["hip_girth"], fit_under_clothing=False)
    assert "clothing" not in plain.timings  # False: nothing parsed


@pytest.mark.slow
def test_measure_says_it_fitted_under_the_dress():
    from bodylens.body import api

    rgb = load_image(shared_path("data", "ccp", "images", "0002.jpg"))
    result = api.measure(rgb, height_cm=168, measures=["hip_girth"], fit_under_clothing=True)
    assert any("fitted under" in w for w in result.warnings)
    assert "clothing" in result.timings
    plain = api.measure(rgb, height_cm=168, measures=["hip_girth"], fit_under_clothing=False)
    assert "clothing" not in plain.timings
    assert not any("fitted under" in w for w in plain.warnings)


@pytest.mark.slow
def test_the_side_photo_is_parsed_too_even_when_the_front_shows_no_garment():
    from bodylens.body import api

    front = load_image(shared_path("data", "ccp", "images", "0004.jpg"))  # trousers
    side = load_image(shared_path("data", "ccp", "images", "0202.jpg"))  # side-on, a dress
    result = api.measure(front, side_image=side, height_cm=168, measures=["hip_girth"],
                         fit_under_clothing=True)  # fmt: skip
    assert "clothing" in result.timings and "side_clothing" in result.timings
    assert any(w.startswith("side photo: skirt or dress") for w in result.warnings)
