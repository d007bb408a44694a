"""Per-frame 3D pose of the person in a video, in the platform's JSON and NPZ formats.

Each video gets its own tracking MediaPipe detector (``static=False``): tracking reuses the
previous frame's region of interest instead of running the person detector on every frame,
which is both faster and steadier than the shared photo detector. Frames are decoded already
downscaled (MediaPipe works at 256 px inside), and landmarks are smoothed with a One Euro
filter whose effect is measured as jitter before/after.

Coordinates: ``joints_3d`` are MediaPipe world landmarks — metres, origin between the hips,
x toward the image right, y down, z away from the camera. ``global_rot`` is the axis-angle
(radians) rotation taking an upright person facing the camera to the observed pelvis frame
(left hip direction, trunk-up direction) in those same axes; zero means "standing, facing us".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bodylens.detect.pose import LANDMARK_INDEX
from bodylens.errors import InputError, Unprocessable
from bodylens.io.video import VideoInfo, iter_frames, probe
from bodylens.video.smoothing import jitter, smooth_track

Progress = Callable[[float, str], None]

# Longest side of the frames handed to MediaPipe; its landmark model runs at 256 px anyway.
DETECT_SIDE = 640
# Canonical pelvis frame (columns: left-hip direction, up, forward) of an upright person facing
# the camera, in MediaPipe world axes (y down, z away from the camera).
_CANONICAL = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]]).T

_LH, _RH = LANDMARK_INDEX["left_hip"], LANDMARK_INDEX["right_hip"]
_LS, _RS = LANDMARK_INDEX["left_shoulder"], LANDMARK_INDEX["right_shoulder"]


@dataclass
class VideoPose:
    """Landmark tracks of one clip; rows are processed frames, NaN where nobody was found."""

    info: VideoInfo
    frames: np.ndarray  # [F] source frame index of each row
    joints_3d: np.ndarray  # [F, 33, 3] metres, smoothed
    keypoints_2d: np.ndarray  # [F, 33, 2] pixels of the source video, smoothed
    visibility: np.ndarray  # [F, 33]
    global_rot: np.ndarray  # [F, 3] axis-angle, radians
    raw_joints_3d: np.ndarray  # [F, 33, 3] before smoothing (for the jitter figure)
    stats: dict = field(default_factory=dict)

    @property
    def found(self) -> np.ndarray:
        return ~np.isnan(self.joints_3d[:, 0, 0])


def pelvis_rotation(joints: np.ndarray) -> np.ndarray:
    """[..., 33, 3] world landmarks → [..., 3, 3] pelvis rotation (see module docstring)."""
    x = joints[..., _LH, :] - joints[..., _RH, :]
    up = 0.5 * (joints[..., _LS, :] + joints[..., _RS, :]) - 0.5 * (
        joints[..., _LH, :] + joints[..., _RH, :]
    )
    x = x / np.linalg.norm(x, axis=-1, keepdims=True)
    up = up - (up * x).sum(-1, keepdims=True) * x
    up = up / np.linalg.norm(up, axis=-1, keepdims=True)
    fwd = np.cross(x, up)
    frame = np.stack([x, up, fwd], axis=-1)
    return frame @ _CANONICAL.T


def rotvec(matrices: np.ndarray) -> np.ndarray:
    """Axis-angle vectors of rotation matrices [..., 3, 3] (NaN in, NaN out)."""
    from scipy.spatial.transform import Rotation

    flat = matrices.reshape(-1, 3, 3)
    out = np.full((len(flat), 3), np.nan)
    ok = ~np.isnan(flat).any(axis=(1, 2))
    if ok.any():
        out[ok] = Rotation.from_matrix(flat[ok]).as_rotvec()
    return out.reshape(matrices.shape[:-2] + (3,))


def track_video(
    path: str | Path,
    *,
    skip: int = 1,
    smooth: bool = True,
    min_cutoff: float = 1.0,
    beta: float = 2.0,
    progress: Progress | None = None,
) -> VideoPose:
    """Track the most prominent person through a video; every ``skip``-th frame is analysed."""
    from bodylens.detect.pose import PoseDetector

    if skip < 1:
        raise InputError("--skip must be at least 1")
    info = probe(path)
    scale = min(1.0, DETECT_SIDE / max(info.width, info.height))
    size = (
        (max(2, round(info.width * scale / 2) * 2), max(2, round(info.height * scale / 2) * 2))
        if scale < 1
        else None
    )
    sx = info.width / size[0] if size else 1.0
    sy = info.height / size[1] if size else 1.0
    detector = PoseDetector(static=False, segmentation=False)
    frames, world, kps, vis = [], [], [], []
    expected = max(1, info.total_frames)
    try:
        for k, rgb in enumerate(iter_frames(path, size=size, prefetch=4, every=skip)):
            i = k * skip
            res = detector(rgb)
            frames.append(i)
            if res is None:
                world.append(np.full((33, 3), np.nan, np.float32))
                kps.append(np.full((33, 2), np.nan, np.float32))
                vis.append(np.full(33, np.nan, np.float32))
            else:
                world.append(res.world)
                kps.append(res.keypoints * np.array([sx, sy], np.float32))
                vis.append(res.visibility)
            if progress and len(frames) % 10 == 0:
                progress(min(0.99, (i + 1) / expected), f"pose: frame {i + 1}/{expected}")
    finally:
        detector.close()
    if not frames:
        raise Unprocessable("the video has no frames")
    if info.total_frames < frames[-1] + 1:
        info.total_frames = frames[-1] + 1
    raw = np.asarray(world, np.float64)
    kp = np.asarray(kps, np.float64)
    fps_eff = info.fps / skip
    joints = smooth_track(raw, fps_eff, min_cutoff, beta) if smooth else raw.copy()
    # Pixels move ~300x more per second than metres for a full-body shot.
    kp_s = smooth_track(kp, fps_eff, min_cutoff, beta / 300) if smooth else kp
    pose = VideoPose(
        info=info,
        frames=np.asarray(frames),
        joints_3d=joints,
        keypoints_2d=kp_s,
        visibility=np.asarray(vis, np.float64),
        global_rot=rotvec(pelvis_rotation(joints)),
        raw_joints_3d=raw,
    )
    pose.stats = {
        "filter": "one-euro" if smooth else "none",
        "min_cutoff_hz": min_cutoff,
        "beta": beta,
        "frames_analysed": len(frames),
        "frames_with_person": int(pose.found.sum()),
        "jitter_raw_m": jitter(raw),
        "jitter_smoothed_m": jitter(joints),
    }
    return pose


def _round(a: np.ndarray, digits: int) -> list:
    return np.round(a, digits).tolist()


def to_json(pose: VideoPose) -> dict:
    """The platform's ``trainer_poses.json`` structure (frames without a person are null)."""
    poses: list[dict | None] = []
    for row, frame in enumerate(pose.frames):
        if not pose.found[row]:
            poses.append(None)
            continue
        poses.append(
            {
                "frame": int(frame),
                "joints_3d": _round(pose.joints_3d[row], 4),
                "keypoints_2d": _round(pose.keypoints_2d[row], 1),
                "visibility": _round(pose.visibility[row], 3),
                "global_rot": _round(pose.global_rot[row], 4),
            }
        )
    return {
        "fps": pose.info.fps,
        "width": pose.info.width,
        "height": pose.info.height,
        "total_frames": pose.info.total_frames,
        "skip": int(pose.frames[1] - pose.frames[0]) if len(pose.frames) > 1 else 1,
        "joint_names": list(LANDMARK_INDEX),
        "smoothing": pose.stats,
        "poses": poses,
    }


def write_outputs(
    pose: VideoPose,
    out_dir: str | Path,
    *,
    mesh: bool = False,
    progress: Progress | None = None,
) -> dict[str, Path]:
    """Write ``trainer_poses.json`` and ``trainer_poses.npz`` (with an Anny mesh if asked)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "trainer_poses.json", "npz": out / "trainer_poses.npz"}
    arrays: dict[str, np.ndarray] = {
        "fps": np.float64(pose.info.fps),
        "frames": pose.frames.astype(np.int32),
        "joints_3d": pose.joints_3d.astype(np.float32),
        "keypoints_2d": pose.keypoints_2d.astype(np.float32),
        "visibility": pose.visibility.astype(np.float32),
        "global_rot": pose.global_rot.astype(np.float32),
    }
    if mesh:
        from bodylens.video.mesh import fit_mesh_sequence

        fitted = fit_mesh_sequence(pose.joints_3d, progress=progress)
        arrays.update(
            vertices=fitted.vertices,
            faces=fitted.faces,
            phenotype=np.asarray(list(fitted.phenotype.values()), np.float32),
        )
        pose.stats["mesh"] = {
            "phenotype": fitted.phenotype,
            "vertices": int(fitted.vertices.shape[1]),
            "faces": int(fitted.faces.shape[0]),
            "bone_length_rmse_m": fitted.bone_length_rmse,
        }
    np.savez_compressed(paths["npz"], **arrays)
    doc = to_json(pose)
    text = json.dumps(doc, separators=(",", ":"), allow_nan=False)
    paths["json"].write_text(text)
    return paths


def load_poses_json(path: str | Path) -> dict:
    """Read a ``trainer_poses.json`` written by us (or the platform)."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"could not read poses JSON {path}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("poses"), list):
        raise InputError(f"{path} is not a poses JSON (no 'poses' list)")
    return doc
