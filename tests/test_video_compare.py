"""Trainer-vs-user scoring: identity, mirrored and time-shifted copies, a known angle error, the
CLI on a video, and posematch.js giving the same numbers as compare.py.

"Expected" behaviour, as defined in bodylens.video.compare:
- the trainer against itself scores exactly 100 with nothing to fix;
- a mirrored copy (what a horizontally flipped video gives: left/right swapped) scores 100 with
  mirror="auto" (reported as mirrored) and clearly less with mirror="off", since walking is
  asymmetric at every instant; the same clip really flipped and tracked again scores > 85 with
  "auto" (MediaPipe is not exactly mirror-symmetric), is flagged mirrored, and beats "off";
- a copy started 0.5 s late scores ≥ 97 overall (DTW absorbs the delay) while the frame-by-frame
  "unaligned" score drops by more than 5 points;
- one joint 40° off out of 8 gives that frame 100 × (7 + (1 − 40/60)) / 8 = 91.67, and names that
  joint's body part as the one to fix.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bodylens.cli import main
from bodylens.detect.pose import LANDMARK_INDEX as L
from bodylens.detect.pose import LANDMARK_NAMES
from bodylens.video.compare import compare_poses
from tests.videoclips import walking_cut, walking_path, write_clip

POSEMATCH = Path(__file__).resolve().parents[1] / "src" / "bodylens" / "web" / "posematch.js"
_SWAP = [
    LANDMARK_NAMES.index(n.replace("left", "#").replace("right", "left").replace("#", "right"))
    for n in LANDMARK_NAMES
]


@pytest.fixture(scope="module")
def walking():
    from bodylens.video.pose import to_json, track_video

    return to_json(track_video(walking_path()))


def mirrored(doc: dict) -> dict:
    """Flip x and swap left/right landmarks, as tracking a horizontally flipped video does."""
    out = copy.deepcopy(doc)
    for pose in out["poses"]:
        if pose:
            joints = np.asarray(pose["joints_3d"])[_SWAP]
            joints[:, 0] *= -1
            pose["joints_3d"] = joints.tolist()
            pose["visibility"] = np.asarray(pose["visibility"])[_SWAP].tolist()
    return out


def delayed(doc: dict, frames: int) -> dict:
    """The user starts `frames` late: holds the first pose, then copies; same length."""
    out = copy.deepcopy(doc)
    out["poses"] = [copy.deepcopy(doc["poses"][0]) for _ in range(frames)] + out["poses"][:-frames]
    for i, pose in enumerate(out["poses"]):
        pose["frame"] = i
    return out


def skeleton(elbow_deg: float = 90.0, n: int = 20) -> dict:
    """A synthetic standing person whose left elbow is bent to `elbow_deg` (n identical frames)."""
    j = np.zeros((33, 3))
    for side, x in (("left", 1), ("right", -1)):
        j[L[f"{side}_hip"]] = [0.1 * x, 0, 0]
        j[L[f"{side}_knee"]] = [0.1 * x, 0.45, 0]
        j[L[f"{side}_ankle"]] = [0.1 * x, 0.9, 0]
        j[L[f"{side}_shoulder"]] = [0.18 * x, -0.5, 0]
        j[L[f"{side}_elbow"]] = [0.2 * x, -0.22, 0]
        j[L[f"{side}_wrist"]] = [0.22 * x, 0.05, 0]
    # Left forearm rotated in the sagittal plane so the elbow angle is exactly `elbow_deg`.
    theta = np.radians(180 - elbow_deg)
    upper = j[L["left_elbow"]] - j[L["left_shoulder"]]
    upper /= np.linalg.norm(upper)
    fwd = np.array([0, 0, -1.0])
    j[L["left_wrist"]] = j[L["left_elbow"]] + 0.26 * (np.cos(theta) * upper + np.sin(theta) * fwd)
    pose = {"joints_3d": j.tolist(), "visibility": [1.0] * 33}
    return {"fps": 30, "poses": [dict(pose, frame=i) for i in range(n)]}


def test_trainer_against_itself_is_100(walking):
    result = compare_poses(walking, walking)
    assert result["overall"] == 100.0 and result["unaligned"] == 100.0
    assert result["fix"] is None and not result["mirrored"]
    assert all(f["score"] == 100.0 for f in result["frames"])
    assert len(result["frames"]) == 144


def test_mirrored_copy(walking):
    flipped = mirrored(walking)
    auto = compare_poses(walking, flipped)
    assert auto["overall"] == pytest.approx(100.0) and auto["mirrored"]
    strict = compare_poses(walking, flipped, mirror="off")
    assert strict["overall"] < 90 and not strict["mirrored"]


def test_time_shifted_copy(walking):
    result = compare_poses(walking, delayed(walking, 15))
    assert result["overall"] >= 97
    assert result["unaligned"] < result["overall"] - 5
    # DTW maps the user's frame k (k >= 15) back to the trainer's frame k - 15.
    matched = {f["user_frame"]: f["trainer_frame"] for f in result["frames"]}
    later = [u - t for u, t in matched.items() if 30 <= u < 120]
    assert np.median(later) == 15


def test_known_angle_error_and_fix():
    result = compare_poses(skeleton(90), skeleton(130), mirror="off")
    assert result["joints"]["left_elbow"] == pytest.approx(40.0, abs=1e-6)
    assert result["overall"] == pytest.approx(100 * (7 + (1 - 40 / 60)) / 8, abs=1e-3)
    fix = result["fix"]
    assert fix["part"] == "left arm" and fix["joint"] == "left_elbow"
    assert fix["advice"].startswith("bend")  # the user's elbow is 40° more open
    within = compare_poses(skeleton(90), skeleton(95), mirror="off")
    assert within["fix"] is None  # 5° is within the 10° threshold


def test_cli_compare_trainer_json_with_user_video(tmp_path, capsys):
    from bodylens.io.video import iter_frames

    clip = walking_cut(tmp_path / "walk.mp4")
    assert main(["video-pose", str(clip), "--out", str(tmp_path / "t"), "--quiet"]) == 0
    trainer = tmp_path / "t" / "trainer_poses.json"
    capsys.readouterr()
    assert main(["compare", str(trainer), str(clip), "--json"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["overall"] == pytest.approx(100.0)
    # The same person filmed flipped left-right: a mirrored copy through the real tracker.
    flipped = write_clip(tmp_path / "flip.mp4", [f[:, ::-1].copy() for f in iter_frames(clip)])
    assert main(["compare", str(trainer), str(flipped), "--json"]) == 0
    auto = json.loads(capsys.readouterr().out)
    assert main(["compare", str(trainer), str(flipped), "--json", "--mirror", "off"]) == 0
    strict = json.loads(capsys.readouterr().out)
    # The tracker is not exactly mirror-symmetric, so not 100; but it is recognised as a mirror
    # copy and scores better mirrored than not (on this 1 s cut: ~91 vs ~87).
    assert auto["mirrored"] and auto["overall"] > 85
    assert strict["overall"] < auto["overall"] - 2
    assert main(["compare", str(trainer), str(trainer)]) == 0
    assert "overall score" in capsys.readouterr().out


def _node(trainer: dict, user: dict, tmp: Path, **options) -> dict:
    (tmp / "t.json").write_text(json.dumps(trainer))
    (tmp / "u.json").write_text(json.dumps(user))
    driver = tmp / "driver.js"
    driver.write_text(
        "const pm = require(process.argv[2]);\n"
        "const fs = require('fs');\n"
        "const t = JSON.parse(fs.readFileSync(process.argv[3]));\n"
        "const u = JSON.parse(fs.readFileSync(process.argv[4]));\n"
        "const opts = JSON.parse(process.argv[5]);\n"
        "const r = pm.compareSequences(pm.fromPosesJson(t), pm.fromPosesJson(u), opts);\n"
        "const live = pm.frameScore(t.poses.find((p) => p).joints_3d,"
        " u.poses.find((p) => p).joints_3d, opts);\n"
        "console.log(JSON.stringify({r, live}));\n"
    )
    out = subprocess.run(
        ["node", str(driver), str(POSEMATCH), str(tmp / "t.json"), str(tmp / "u.json"),
         json.dumps(options)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return json.loads(out.stdout)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_posematch_js_matches_python(walking, tmp_path):
    from bodylens.video.compare import MIRROR, frame_features, pair_scores

    with_gap = copy.deepcopy(delayed(walking, 9))
    with_gap["poses"][40] = None  # nobody in one frame
    cases = [
        (walking, with_gap, {"mirror": "auto"}),
        (walking, mirrored(walking), {"mirror": "auto"}),
        (walking, mirrored(walking), {"mirror": "off"}),
        (skeleton(90), skeleton(130), {"mirror": "on"}),
        (walking, with_gap, {"mirror": "auto", "maxFrames": 50}),  # strided DTW
    ]
    for trainer, user, options in cases:
        js = _node(trainer, user, tmp_path, **options)
        py = compare_poses(
            trainer, user, mirror=options["mirror"], max_frames=options.get("maxFrames", 600)
        )
        r = js["r"]
        assert r["overall"] == pytest.approx(py["overall"], abs=1e-3)
        assert r["unaligned"] == pytest.approx(py["unaligned"], abs=1e-3)
        assert r["mirrored"] == py["mirrored"] and r["fix"] == py["fix"]
        assert r["joints"] == pytest.approx(py["joints"], abs=0.011)
        assert [(f["user_frame"], f["trainer_frame"]) for f in r["frames"]] == [
            (f["user_frame"], f["trainer_frame"]) for f in py["frames"]
        ]
        assert [f["score"] for f in r["frames"]] == pytest.approx(
            [f["score"] for f in py["frames"]], abs=0.011
        )
        # The live single-frame score (no visibility weighting from JSON arrays: weight 1).
        t0 = next(p for p in trainer["poses"] if p)
        u0 = next(p for p in user["poses"] if p)
        ta, _ = frame_features(t0["joints_3d"])
        ua, _ = frame_features(u0["joints_3d"])
        ones = np.ones((1, len(ta)))
        direct = pair_scores(ta[None], ones, ua[None], ones)[0][0, 0]
        swapped = pair_scores(ta[None], ones, ua[MIRROR][None], ones)[0][0, 0]
        expected = {"off": direct, "on": swapped, "auto": max(direct, swapped)}
        assert js["live"]["score"] == pytest.approx(expected[options["mirror"]], abs=1e-9)
