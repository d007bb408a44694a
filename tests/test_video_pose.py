"""`bodylens video-pose`: the platform's JSON/NPZ formats, smoothing, the Anny mesh, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bodylens.cli import main
from bodylens.detect.pose import LANDMARK_INDEX as L
from bodylens.errors import InputError, UnsupportedMedia
from tests.videoclips import empty_clip, walking_cut, walking_path, write_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return walking_cut(tmp_path_factory.mktemp("clip") / "walk1s.mp4")


@pytest.fixture(scope="module")
def mesh_run(clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("pose")
    assert main(["video-pose", str(clip), "--out", str(out), "--mesh", "--quiet"]) == 0
    return json.loads((out / "trainer_poses.json").read_text()), np.load(out / "trainer_poses.npz")


@pytest.mark.slow
def test_json_format(mesh_run):
    doc, _ = mesh_run
    assert doc["fps"] == pytest.approx(30.0)
    assert (doc["width"], doc["height"], doc["total_frames"]) == (1280, 720, 30)
    assert len(doc["poses"]) == 30
    assert all(p is not None for p in doc["poses"])
    for i, pose in enumerate(doc["poses"]):
        assert pose["frame"] == i
        assert np.asarray(pose["joints_3d"]).shape == (33, 3)
        assert np.asarray(pose["keypoints_2d"]).shape == (33, 2)
        assert len(pose["visibility"]) == 33 and len(pose["global_rot"]) == 3
    joints = np.array([p["joints_3d"] for p in doc["poses"]])
    # Hip-centred metres: mid-hip at the origin, a standing adult ~1.2-2 m from nose to ankle.
    mid_hip = joints[:, [L["left_hip"], L["right_hip"]]].mean(1)
    assert np.abs(mid_hip).max() < 0.02
    extent = joints[:, L["left_ankle"], 1] - joints[:, L["nose"], 1]
    assert 1.2 < np.median(extent) < 2.0
    # The 2D keypoints are in the source video's pixels: the person stands inside the frame.
    kp = np.array([p["keypoints_2d"] for p in doc["poses"]])
    assert kp[..., 0].min() > 0 and kp[..., 0].max() < 1280
    assert kp[..., 1].min() > 0 and kp[..., 1].max() < 720 * 1.05
    # Walking toward the camera: the pelvis faces us, so its rotation is far from a half turn.
    angles = np.linalg.norm(np.array([p["global_rot"] for p in doc["poses"]]), axis=1)
    assert angles.max() < 1.0


@pytest.mark.slow
def test_npz_mesh(mesh_run):
    doc, npz = mesh_run
    assert npz["joints_3d"].shape == (30, 33, 3)
    verts, faces = npz["vertices"], npz["faces"]
    assert verts.dtype == np.float16 and verts.shape[0] == 30 and verts.shape[2] == 3
    assert 2000 < verts.shape[1] < 13718  # decimated Anny topology
    assert faces.min() >= 0 and faces.max() < verts.shape[1]
    # The posed body follows the landmarks: a vertex within a few cm of wrists, knees, ankles.
    joints = npz["joints_3d"]
    for name in ("left_wrist", "right_wrist", "left_knee", "right_knee", "left_ankle"):
        target = joints[:, L[name]][:, None, :]
        nearest = np.linalg.norm(verts.astype(np.float32) - target, axis=-1).min(axis=1)
        assert np.median(nearest) < 0.06, name
    height = verts[..., 1].max(axis=1) - verts[..., 1].min(axis=1)
    assert 1.4 < np.median(height) < 2.1


def test_skip_and_no_smoothing(clip, tmp_path):
    assert main(["video-pose", str(clip), "--out", str(tmp_path), "--skip", "3", "--quiet"]) == 0
    doc = json.loads((tmp_path / "trainer_poses.json").read_text())
    assert [p["frame"] for p in doc["poses"]] == list(range(0, 30, 3))
    assert doc["total_frames"] == 30
    npz = np.load(tmp_path / "trainer_poses.npz")
    assert "vertices" not in npz and npz["joints_3d"].shape == (10, 33, 3)


def test_phone_rotation_is_applied(tmp_path):
    """A portrait phone clip is stored sideways with a display rotation: poses must come out in
    the displayed (upright) frame."""
    from bodylens.io.video import iter_frames

    upright = [
        np.ascontiguousarray(f[:, 340:940])
        for i, f in enumerate(iter_frames(walking_path()))
        if i < 10
    ]  # 600x720 portrait crops, the person upright
    stored = [np.ascontiguousarray(np.rot90(f, k=-1)) for f in upright]  # turned a quarter
    clip = write_clip(tmp_path / "phone.mp4", stored, rotation=90)
    assert main(["video-pose", str(clip), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    doc = json.loads((tmp_path / "o" / "trainer_poses.json").read_text())
    assert (doc["width"], doc["height"]) == (600, 720)
    assert all(p is not None for p in doc["poses"])
    kp = np.array([p["keypoints_2d"] for p in doc["poses"]])
    # Upright: the nose is above the ankles in image coordinates.
    assert (kp[:, L["nose"], 1] < kp[:, L["left_ankle"], 1] - 200).all()


def test_frames_without_a_person_are_null(tmp_path):
    clip = empty_clip(tmp_path / "empty.mp4")
    assert main(["video-pose", str(clip), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    doc = json.loads((tmp_path / "o" / "trainer_poses.json").read_text())
    assert doc["poses"] == [None] * 12
    assert np.isnan(np.load(tmp_path / "o" / "trainer_poses.npz")["joints_3d"]).all()


def test_smoothing_reduces_jitter_on_walking():
    from bodylens.video.pose import track_video
    from bodylens.video.smoothing import jitter

    pose = track_video(walking_path())
    assert pose.stats["frames_with_person"] == 144
    raw, smooth = jitter(pose.raw_joints_3d), jitter(pose.joints_3d)
    assert smooth < 0.5 * raw
    # Smoothing must not drag the skeleton away: mean offset a few cm at most.
    assert np.nanmean(np.linalg.norm(pose.joints_3d - pose.raw_joints_3d, axis=-1)) < 0.04


def test_pelvis_rotation_recovers_a_known_turn():
    from scipy.spatial.transform import Rotation

    from bodylens.video.pose import pelvis_rotation, rotvec

    upright = np.zeros((33, 3))
    upright[L["left_hip"]] = [0.1, 0, 0]
    upright[L["right_hip"]] = [-0.1, 0, 0]
    upright[L["left_shoulder"]] = [0.18, -0.5, 0]
    upright[L["right_shoulder"]] = [-0.18, -0.5, 0]
    assert np.allclose(rotvec(pelvis_rotation(upright)), 0, atol=1e-9)
    turn = Rotation.from_rotvec([0.2, -0.7, 0.1])
    turned = turn.apply(upright)
    assert np.allclose(rotvec(pelvis_rotation(turned)), turn.as_rotvec(), atol=1e-6)


def test_bad_inputs(tmp_path, capsys):
    from bodylens.video.pose import track_video

    with pytest.raises(InputError):
        track_video(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(UnsupportedMedia):
        track_video(junk)
    assert main(["video-pose", str(junk), "--out", str(tmp_path / "o"), "--quiet"]) == 1
    assert "error:" in capsys.readouterr().err


@pytest.mark.slow
def test_three_commands_on_walking_mp4(tmp_path, capsys):
    """The full shared clip through the three CLI commands, as the platform would run them."""
    from bodylens.io.video import read_webm_alpha

    video = str(walking_path())
    assert (
        main(["video-pose", video, "--out", str(tmp_path), "--mesh", "--skip", "2", "--quiet"]) == 0
    )
    doc = json.loads((tmp_path / "trainer_poses.json").read_text())
    assert doc["total_frames"] == 144 and len(doc["poses"]) == 72
    assert np.load(tmp_path / "trainer_poses.npz")["vertices"].shape[0] == 72
    capsys.readouterr()
    trainer = str(tmp_path / "trainer_poses.json")
    assert main(["compare", trainer, trainer, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["overall"] == 100.0
    webm = tmp_path / "trainer_transparent.webm"
    assert (
        main(["matte", video, "--out", str(webm), "--size", "602x722", "--color", "v11", "--quiet"])
        == 0
    )
    frames = list(read_webm_alpha(webm))
    assert len(frames) == 144 and frames[0].shape == (722, 602, 4)
    coverage = np.array([(f[..., 3] > 127).mean() for f in frames])
    assert (coverage > 0.03).all() and (coverage < 0.5).all()
