"""Issue 6: front + side photo fitting (bodylens.body.views) through `bodylens.measure`.

Real renders of a realistic ANSUR body (benchmarks/data/ansur_bodies.json), real MediaPipe and
the real Anny fit; about 30 s on the shared 2-core machine."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bodylens.body.api import measure
from bodylens.errors import Unprocessable

BODIES = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "ansur_bodies.json"
pytestmark = pytest.mark.skipif(not BODIES.is_file(), reason="benchmark bodies missing")


@pytest.fixture(scope="module")
def photos():
    """Front and side (facing the image's right) renders of one ANSUR body, and its truth."""
    from bodylens.body.model import FIT_BONES, get_body_model
    from bodylens.body.render import dressed_colors, place_body, render_body

    model = get_body_model()
    body = json.loads(BODIES.read_text())["bodies"][20]
    rest = model.rest_body(body["phenotype"], body["local_changes"])
    pose = np.zeros((len(FIT_BONES), 3))
    pose[FIT_BONES.index("upperarm01.L"), 1] = 0.2
    pose[FIT_BONES.index("upperarm01.R"), 1] = -0.2
    verts = model.posed_full(body["phenotype"], body["local_changes"], pose)
    rng = np.random.default_rng(3)
    colors = dressed_colors(model, rest, rng)
    images = []
    for yaw in (0.0, 90.0):
        cam = place_body(verts, 720, 1280, focal=1280.0, fill=0.8, yaw_deg=yaw)
        images.append(render_body(verts, model.faces, cam, face_colors=colors, rng=rng))
    height = float(rest.vertices[:, 2].max() - rest.vertices[:, 2].min()) * 100
    return images[0], images[1], body, round(height, 1)


def test_side_yaw_follows_the_nose(photos):
    from bodylens.body.views import side_yaw
    from bodylens.detect.pose import detect_pose

    side = detect_pose(photos[1])
    assert side is not None
    assert side_yaw(side) == pytest.approx(math.pi / 2)
    flipped = detect_pose(np.ascontiguousarray(photos[1][:, ::-1]))
    assert side_yaw(flipped) == pytest.approx(-math.pi / 2)


def test_front_and_side_photos_are_fitted_together(photos):
    front, side, body, height = photos
    one = measure(front, height_cm=height, sex=body["sex"], measures=["chest", "waist", "hips"])
    two = measure(front, side_image=side, height_cm=height, sex=body["sex"],
                  measures=["chest", "waist", "hips"])  # fmt: skip
    assert one.body["fusion"]["views"] == "front"
    assert two.body["fusion"]["views"] == "front_side"
    assert "side" not in one.body
    # The front photo is fitted alone as for one photo, and those readings reach the fusion.
    alone = two.body["fusion"]["front_photo_ansur_cm"]
    for name, value in one.body["fusion"]["photo_ansur_cm"].items():
        assert alone[name] == pytest.approx(value, abs=0.05), name
    assert "front_photo_ansur_cm" not in one.body["fusion"]
    assert two.body["side"]["used"] is True
    assert 0 < two.body["side"]["silhouette_loss"] < two.body["side"]["silhouette_loss_limit"]
    assert "side_joint" in two.timings and "side_pose" in two.timings
    assert not any("not used" in w for w in two.warnings)
    # The side photo changes the fitted shape (depth is now observed) ...
    assert two.body["phenotype"] != one.body["phenotype"]
    # ... and the ANSUR-definition girths of the fit stay close to the true body's.
    truth = body["mesh"]
    for name in ("chest_girth", "waist_girth", "hip_girth"):
        assert abs(two.body["fusion"]["photo_ansur_cm"][name] - truth[name]) < 15.0, name
    # Without weight, a mass and BMI estimate is reported and is plausible.
    mass, sd = two.body["fusion"]["mass_kg"]
    assert abs(mass - truth["weight"]) < 0.25 * truth["weight"] and sd > 0
    for d in two.details:
        assert 0.2 < d.uncertainty_cm < 10.0


def test_photos_sent_the_other_way_round_are_swapped_back(photos):
    """The side photo sent as the front one and the other way round: the same numbers as
    sent the right way, with a warning."""
    front, side, body, height = photos
    kwargs = {"height_cm": height, "sex": body["sex"], "measures": ["chest", "waist", "hips"]}
    right = measure(front, side_image=side, **kwargs)
    wrong = measure(side, side_image=front, **kwargs)
    assert wrong.values == right.values
    assert wrong.body["photos_swapped"] is True and "photos_swapped" not in right.body
    assert any(w.startswith("the photos seem swapped") for w in wrong.warnings)
    assert not any("swapped" in w for w in right.warnings)


def test_a_side_photo_facing_the_camera_is_not_used(photos):
    """The front photo sent again as the side photo cannot show the depth: it is dropped,
    saying so, and the answer is the front photo's alone."""
    front, _, body, height = photos
    kwargs = {"height_cm": height, "sex": body["sex"], "measures": ["chest", "waist", "hips"]}
    alone = measure(front, **kwargs)
    twice = measure(front, side_image=front, **kwargs)
    assert twice.values == alone.values
    assert twice.body["fusion"]["views"] == "front"
    assert twice.body["side"] == {"used": False, "reason": "faces the camera",
                                  "shoulder_ratio": pytest.approx(0.75, abs=0.1)}  # fmt: skip
    assert any(w.startswith("side photo: the person faces the camera") for w in twice.warnings)


def test_one_photo_of_a_person_side_on_is_measured_with_a_warning(photos):
    from bodylens.body.api import _find_person, _side_on_warning

    front, side, _, _ = photos
    (warning,) = _side_on_warning(_find_person(side, "photo", {}, []))
    assert warning.startswith("the person is side-on in the photo (shoulders")
    assert _side_on_warning(_find_person(front, "photo", {}, [])) == []


def test_side_photo_without_a_person_is_refused(photos):
    blank = np.full((800, 600, 3), 200, np.uint8)
    with pytest.raises(Unprocessable, match="side photo"):
        measure(photos[0], side_image=blank, height_cm=photos[3], measures=["waist"])


def test_side_failed_reads_the_side_silhouette_terms():
    from bodylens.body.views import SIDE_FAILED_LOSS, TwoViewFit

    def two(outline: float, inside: float) -> TwoViewFit:
        losses = {"side_outline": outline, "side_inside": inside, "side_keypoints": 5.0}
        return TwoViewFit(None, np.zeros(3), np.zeros(3), 0.0, losses)  # type: ignore[arg-type]

    assert not two(0.02, 0.03).side_failed  # keypoints alone do not fail a side fit
    assert two(SIDE_FAILED_LOSS * 0.6, SIDE_FAILED_LOSS * 0.6).side_failed


def test_a_side_fit_that_misses_its_silhouette_is_not_used(photos, monkeypatch):
    from bodylens.body import views

    front, side, body, height = photos
    monkeypatch.setattr(views, "SIDE_FAILED_LOSS", -1.0)  # every joint fit counts as failed
    res = measure(front, side_image=side, height_cm=height, sex=body["sex"],
                  measures=["chest", "waist", "hips"])  # fmt: skip
    assert "side_joint" in res.timings  # the side photo was fitted ...
    assert res.body["fusion"]["views"] == "front"  # ... and then left out, saying so
    assert res.body["side"]["used"] is False
    assert res.body["side"]["silhouette_loss"] > res.body["side"]["silhouette_loss_limit"]
    assert any(w.startswith("side photo: no body matching") for w in res.warnings)
    assert set(res.values) == {"chest", "waist", "hips"}


def test_the_fit_worker_gives_the_same_numbers(photos, monkeypatch):
    """The service runs the two-view fit in a second process while the front photo is fitted
    alone (``body.worker``): the very values and warnings of fitting both here; a worker that
    died is not waited for (the fit runs here) and the next call starts another."""
    from bodylens.body import api, worker

    front, side, body, height = photos
    kwargs = {"side_image": side, "height_cm": height, "sex": body["sex"]}
    here = measure(front, **kwargs)
    monkeypatch.setattr(api, "FIT_WORKER", True)
    try:
        assert worker.wait_ready(timeout_s=240)
        there = measure(front, **kwargs)
        assert "worker_cpu" in there.timings and "worker_cpu" not in here.timings
        assert there.values == here.values and there.warnings == here.warnings
        dead = worker.get_worker()
        for process in dead._pool._processes.values():  # noqa: SLF001 (kill it, as an OOM would)
            process.kill()
            process.join()
        again = measure(front, **kwargs)
        assert "worker_cpu" not in again.timings and again.values == here.values
        assert worker.get_worker() is not dead
    finally:
        worker.shutdown()
