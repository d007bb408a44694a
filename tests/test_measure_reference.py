"""Issue 6: the metric scale from a reference object instead of the height, end to end.

Synthetic photos of a known Anny body with an ID-1 card or a checkerboard drawn in at the
body's depth with the exact perspective; the real pipeline (MediaPipe, the fit, the reference
detectors) must recover the stature without being told it. Also the refusals (no reference in
the photo: 422; bad reference arguments: 400) and the HTTP fields on a live server.
"""

from __future__ import annotations

import base64
import io
import json

import httpx
import numpy as np
import pytest
from PIL import Image

from bodylens.body.api import measure
from bodylens.errors import InputError, Unprocessable


# --- argument validation (fast: refused before any model is loaded) -----------------------
@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"reference": "ruler"}, "reference must be one of"),
        ({"reference": "checkerboard"}, "reference_square_mm"),
        ({"reference": "card", "reference_square_mm": 25}, "card reference takes no"),
        ({"reference_square_mm": -3}, "between 2 and 500"),
        ({"reference_square_mm": "big"}, "must be a number"),
        ({"reference_square_mm": 25, "reference_pattern": "9by6"}, "COLSxROWS"),
        ({"reference_square_mm": 25, "reference_pattern": "1x6"}, "COLSxROWS"),
    ],
)
def test_bad_reference_arguments_are_input_errors(kwargs, fragment):
    with pytest.raises(InputError, match=fragment):
        measure(np.zeros((64, 64, 3), np.uint8), **kwargs)


# A board held in one hand takes its depth from the fitted hand, which a front photo sees
# poorly. On this scene the stature comes out 6.3 % high fitted as rendered and 9.4 % high
# fitted mirrored (what the canonical orientation picks): the fit's mirror sensitivity moves
# the hand. Still better than a guessed 170 cm (12 % off); a board against the body is better.
HAND_HELD_TOLERANCE = 0.10


# --- real pipeline --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scene():
    """A known body rendered without a reference, the camera, posed vertices and wrists."""
    from bodylens.body.model import COCO_LABELS, get_body_model
    from tests.known_body import render_known_body

    body = render_known_body(810, 1080, fill=0.7, background="plain")
    wrists = get_body_model().keypoints_full(body.verts)[
        [COCO_LABELS.index(w) for w in ("left_wrist", "right_wrist")]
    ]
    return body.image, body.cam, body.verts, wrists, body.truth


@pytest.fixture(scope="module")
def board_photo(scene):
    """A 9x6 checkerboard (25 mm squares) held in one hand, turned a little."""
    from bodylens.body.render import add_reference

    image, cam, verts, wrists, truth = scene
    img, _ = add_reference(
        image, cam, verts, kind="checkerboard", where="hand", wrists=wrists, yaw_deg=10
    )
    return img, truth


@pytest.mark.slow
def test_checkerboard_held_in_one_hand_gives_the_stature(board_photo):
    img, truth = board_photo
    result = measure(
        img, reference="checkerboard", reference_square_mm=25, reference_pattern="9x6",
        measures=["height", "chest", "waist", "hips"],
    )  # fmt: skip
    assert result.scale_source == "reference"
    # Within 10 % (a guessed 170 cm is 12 % off here). The object's depth is the fitted hand's,
    # which a front photo sees poorly: since the fit's shape prior (real adults' proportions;
    # this body has Anny's defaults) the fit puts the hand nearer the camera than the body's
    # mid-plane, and the stature comes out 6-9 % high (0.3 % before the prior).
    assert result.values["height"] == pytest.approx(truth["height"], rel=HAND_HELD_TOLERANCE)
    ref = result.body["reference"]
    assert ref["kind"] == "checkerboard" and ref["depth"] == "holding hand"
    assert ref["used_for_scale"] and ref["stature_cm"] == result.body["stature_cm"]
    assert abs(ref["camera_pitch_deg"]) < 20  # a level camera: no steep-pitch warning
    assert any("px/mm" in w and "checkerboard" in w for w in result.warnings)
    assert not any("guessed" in w for w in result.warnings)
    # The scale's own uncertainty is part of every σ (4 % of the value at least).
    for d in result.details:
        assert d.uncertainty_cm >= 0.04 * d.value_cm - 0.05
    # The prior fused with a noisy height, not skipped as for a guessed scale.
    assert result.body["fusion"]["applied"]
    assert "±" in result.body["fusion"]["prior"]


@pytest.mark.slow
def test_card_against_the_chest_gives_the_stature(scene):
    """The card is nearer the camera than the body's middle: it is taken at the fitted body's
    front surface, not its mid-plane (which alone would shrink the body by ~5 % here)."""
    from bodylens.body.render import add_reference

    image, cam, verts, _, truth = scene
    img, _ = add_reference(image, cam, verts, kind="card", where="chest", height_frac=0.65)
    result = measure(img, reference="card", measures=["height", "waist"])
    assert result.scale_source == "reference"
    assert result.body["reference"]["depth"] == "front surface"
    assert result.body["reference"]["depth_ratio"] < 0.97
    assert result.values["height"] == pytest.approx(truth["height"], rel=0.05)


@pytest.mark.slow
def test_cli_height_wins_and_the_reference_is_reported(board_photo, tmp_path, capsys):
    """Through `bodylens measure`: --square-mm alone implies a board; the height sets the
    scale, the board's stature is reported and the disagreement warned about."""
    from bodylens.cli import main
    from bodylens.io.images import encode_png

    img, truth = board_photo
    photo = tmp_path / "board.png"
    photo.write_bytes(encode_png(img))
    wrong = round(truth["height"] * 0.9, 1)  # 10 % short: the board disagrees
    code = main(["measure", str(photo), "--height-cm", str(wrong), "--square-mm", "25",
                 "--measures", "height", "--json"])  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["scale_source"] == "height"
    assert out["measurements"]["height"] == pytest.approx(wrong, abs=0.6)
    ref = out["body"]["reference"]
    assert ref["kind"] == "checkerboard" and not ref["used_for_scale"]
    # Read from a fit made at the wrong height, with the hand-held board's depth bias (see
    # the test above): 6.1 % high since the outline term's wider robust scale (under 5 % before).
    assert ref["stature_cm"] == pytest.approx(truth["height"], rel=HAND_HELD_TOLERANCE)
    assert any("from the given height" in w for w in out["warnings"])


def test_cli_bad_reference_exits_1(capsys):
    from bodylens.cli import main

    assert main(["measure", "x.jpg", "--reference", "card", "--square-mm", "25"]) == 1
    assert "card reference takes no" in capsys.readouterr().err


@pytest.mark.slow
def test_photo_without_reference_is_unprocessable(scene):
    image = scene[0]
    with pytest.raises(Unprocessable, match="ID-1 card") as card:
        measure(image, reference="card")
    assert card.value.status == 422
    with pytest.raises(Unprocessable, match="checkerboard.*ID-1 card"):
        measure(image, reference="auto", reference_square_mm=30)


# --- HTTP -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_http_reference_fields(start_server, board_photo):
    img, truth = board_photo
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    photo = base64.b64encode(buf.getvalue()).decode()
    server = start_server()
    with httpx.Client(base_url=server.url, timeout=120) as client:
        wanted = ["hauteur", "tour_poitrine"]
        r = client.post(
            "/estimate",
            json={"photo_base64": photo, "measures_table": wanted, "reference": "Checkerboard",
                  "reference_square_mm": 25, "reference_pattern": "9x6"},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        assert list(r.json()) == wanted  # the contract: exactly the requested keys
        assert r.headers["X-Bodylens-Scale"] == "reference"
        assert r.json()["hauteur"] == pytest.approx(truth["height"], rel=HAND_HELD_TOLERANCE)
        r = client.post(
            "/estimate",
            json={"photo_base64": photo, "measures_table": ["chest"], "reference": "ruler"},
        )
        assert r.status_code == 400 and "reference" in r.json()["error"]
        r = client.post(
            "/v1/measurements",
            json={"photo_base64": photo, "measures_table": ["chest"], "reference": "card",
                  "reference_square_mm": 25},
        )  # fmt: skip
        assert r.status_code == 400 and "card reference takes no" in r.json()["error"]
