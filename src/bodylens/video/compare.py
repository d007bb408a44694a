"""Score a user's movement against a trainer's, from 3D joints (the same maths as posematch.js).

Definitions (``bodylens/web/posematch.js`` implements exactly these; a test checks they agree):

- Features: 8 joint angles in degrees, from world landmarks (any metric 3D frame): elbows
  (shoulder-elbow-wrist), shoulders (hip-shoulder-elbow), hips (shoulder-hip-knee), knees
  (hip-knee-ankle). Angles do not change with camera position, distance or body size.
- Pair score: each angle scores ``100 * max(0, 1 - error / 60°)`` (15° off → 75, 60° → 0);
  the frame score is their mean weighted by confidence,
  ``w = max(0.1, min visibility of the trainer's 3 landmarks × the user's)``.
- Overall: dynamic time warping (steps (1,0), (0,1), (1,1), cost ``100 - pair score``, both
  ends anchored) aligns the user to the trainer; the overall score is the mean pair score along
  the path. Sequences longer than ``max_frames`` are subsampled with a fixed stride first.
- Mirror: a user copying a screen often mirrors the trainer (raises the left arm for the
  trainer's right). ``mirror="auto"`` scores both as-is and with the user's left/right angles
  swapped and keeps the better; ``"on"`` / ``"off"`` force it. So a flipped copy of the
  trainer scores 100 with ``auto`` but less with ``off`` whenever the movement is asymmetric.
- Time shift: a user who starts late scores ~100 overall (DTW absorbs the delay), while
  ``unaligned`` (frame k vs frame k) drops; ``unaligned`` is reported to show the difference.
- Fix: the body part (arm/leg, side) with the largest mean angle error along the path, its
  worst joint, and whether to bend or straighten it; null when every part is within 10°.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bodylens.detect.pose import LANDMARK_INDEX as L
from bodylens.errors import InputError, Unprocessable

ANGLES: list[tuple[str, int, int, int]] = [
    (f"{side}_{joint}", L[f"{side}_{a}"], L[f"{side}_{b}"], L[f"{side}_{c}"])
    for side in ("left", "right")
    for joint, a, b, c in (
        ("elbow", "shoulder", "elbow", "wrist"),
        ("shoulder", "hip", "shoulder", "elbow"),
        ("hip", "shoulder", "hip", "knee"),
        ("knee", "hip", "knee", "ankle"),
    )
]
ANGLE_NAMES = [a[0] for a in ANGLES]
# Index of each angle's mirror image (left <-> right).
MIRROR = [
    ANGLE_NAMES.index(n.replace("left_", "#").replace("right_", "left_").replace("#", "right_"))
    for n in ANGLE_NAMES
]
PARTS = {
    "left arm": ["left_shoulder", "left_elbow"],
    "right arm": ["right_shoulder", "right_elbow"],
    "left leg": ["left_hip", "left_knee"],
    "right leg": ["right_hip", "right_knee"],
}
TOLERANCE_DEG = 60.0
MIN_WEIGHT = 0.1
FIX_THRESHOLD_DEG = 10.0


def frame_features(
    joints: np.ndarray, visibility: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(angles [K] degrees, confidence [K]) of one frame's [33, 3] world landmarks."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.shape != (33, 3):
        raise InputError(f"expected 33 3D landmarks per frame, got shape {joints.shape}")
    vis = np.ones(33) if visibility is None else np.asarray(visibility, dtype=np.float64)
    angles = np.empty(len(ANGLES))
    conf = np.empty(len(ANGLES))
    for k, (_, a, b, c) in enumerate(ANGLES):
        u = joints[a] - joints[b]
        v = joints[c] - joints[b]
        nu = math.sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2])
        nv = math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
        if nu == 0 or nv == 0:
            angles[k] = 0.0
        else:
            cos = (u[0] * v[0] + u[1] * v[1] + u[2] * v[2]) / (nu * nv)
            angles[k] = math.degrees(math.acos(min(1.0, max(-1.0, cos))))
        conf[k] = min(vis[a], vis[b], vis[c])
    return angles, conf


def sequence_features(doc: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frame numbers [N], angles [N, K], confidence [N, K]) of a poses JSON; null frames are
    left out."""
    frames, angles, confs = [], [], []
    for row, pose in enumerate(doc.get("poses", [])):
        if pose is None:
            continue
        if not isinstance(pose, dict) or "joints_3d" not in pose:
            raise InputError(f"pose {row} has no 'joints_3d'")
        a, c = frame_features(pose["joints_3d"], pose.get("visibility"))
        frames.append(int(pose.get("frame", row)))
        angles.append(a)
        confs.append(c)
    if not frames:
        raise Unprocessable("no frame with a person to compare")
    return np.asarray(frames), np.asarray(angles), np.asarray(confs)


def pair_scores(
    ta: np.ndarray, tc: np.ndarray, ua: np.ndarray, uc: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Scores [N, M] of every trainer frame against every user frame, and signed errors
    [N, M, K] (user minus trainer, degrees)."""
    diff = ua[None, :, :] - ta[:, None, :]
    per = 100.0 * np.maximum(0.0, 1.0 - np.abs(diff) / TOLERANCE_DEG)
    weight = np.maximum(MIN_WEIGHT, tc[:, None, :] * uc[None, :, :])
    return (per * weight).sum(-1) / weight.sum(-1), diff


def dtw_path(cost: np.ndarray) -> list[tuple[int, int]]:
    """Classic DTW path over a cost matrix [N, M]; ties prefer the diagonal, then (i-1, j)."""
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    rows = cost.tolist()
    for i in range(1, n + 1):
        prev, cur, row = acc[i - 1].tolist(), acc[i].tolist(), rows[i - 1]
        for j in range(1, m + 1):
            best = min(prev[j - 1], prev[j], cur[j - 1])
            cur[j] = row[j - 1] + best
        acc[i] = cur
    path = [(n - 1, m - 1)]
    i, j = n, m
    while (i, j) != (1, 1):
        diag, up, left = acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]
        if diag <= up and diag <= left:
            i, j = i - 1, j - 1
        elif up <= left:
            i -= 1
        else:
            j -= 1
        path.append((i - 1, j - 1))
    path.reverse()
    return path


def _stride(n: int, max_frames: int) -> int:
    return max(1, math.ceil(n / max_frames))


def _score(ta, tc, ua, uc, t_frames, u_frames) -> dict:
    scores, diff = pair_scores(ta, tc, ua, uc)
    path = dtw_path(100.0 - scores)
    along = np.array([scores[i, j] for i, j in path])
    errors = np.array([diff[i, j] for i, j in path])  # [P, K] signed
    n = min(len(ta), len(ua))
    unaligned = float(np.mean([scores[k, k] for k in range(n)]))
    frames, seen = [], set()
    for (i, j), s, e in zip(path, along, errors, strict=True):
        if j in seen:
            continue
        seen.add(j)
        frames.append(
            {
                "user_frame": int(u_frames[j]),
                "trainer_frame": int(t_frames[i]),
                "score": round(float(s), 2),
                "errors": {
                    name: round(float(abs(v)), 1) for name, v in zip(ANGLE_NAMES, e, strict=True)
                },
            }
        )
    mean_abs = np.abs(errors).mean(0)
    mean_signed = errors.mean(0)
    joints = {name: round(float(v), 2) for name, v in zip(ANGLE_NAMES, mean_abs, strict=True)}
    part_err = {
        p: float(np.mean([mean_abs[ANGLE_NAMES.index(j)] for j in js])) for p, js in PARTS.items()
    }
    worst_part = max(part_err, key=lambda p: part_err[p])
    fix = None
    if part_err[worst_part] > FIX_THRESHOLD_DEG:
        joint = max(PARTS[worst_part], key=lambda j: mean_abs[ANGLE_NAMES.index(j)])
        signed = mean_signed[ANGLE_NAMES.index(joint)]
        action = "straighten (open)" if signed < 0 else "bend (close)"
        fix = {
            "part": worst_part,
            "joint": joint,
            "mean_error_deg": round(part_err[worst_part], 2),
            "advice": f"{action} your {joint.replace('_', ' ')} more",
        }
    return {
        "overall": round(float(along.mean()), 4),
        "unaligned": round(unaligned, 4),
        "frames": frames,
        "joints": joints,
        "fix": fix,
    }


def compare_poses(
    trainer: dict, user: dict, *, mirror: str = "auto", max_frames: int = 600
) -> dict:
    """Compare two poses JSON documents (``trainer_poses.json`` format); see the module doc."""
    if mirror not in ("auto", "on", "off"):
        raise InputError("mirror must be 'auto', 'on' or 'off'")
    t_frames, ta, tc = sequence_features(trainer)
    u_frames, ua, uc = sequence_features(user)
    ts, us = _stride(len(ta), max_frames), _stride(len(ua), max_frames)
    t_frames, ta, tc = t_frames[::ts], ta[::ts], tc[::ts]
    u_frames, ua, uc = u_frames[::us], ua[::us], uc[::us]
    results = []
    if mirror in ("auto", "off"):
        results.append((False, _score(ta, tc, ua, uc, t_frames, u_frames)))
    if mirror in ("auto", "on"):
        results.append((True, _score(ta, tc, ua[:, MIRROR], uc[:, MIRROR], t_frames, u_frames)))
    mirrored, best = max(results, key=lambda r: r[1]["overall"])
    best["mirrored"] = mirrored
    best["angles"] = ANGLE_NAMES
    best["tolerance_deg"] = TOLERANCE_DEG
    return best


def load_or_track(path: str | Path, progress=None) -> dict:
    """A poses JSON from a ``.json`` file, or by tracking a video file."""
    path = Path(path)
    from bodylens.video.pose import load_poses_json, to_json, track_video

    if path.suffix.lower() == ".json":
        return load_poses_json(path)
    return to_json(track_video(path, progress=progress))


def summary_lines(result: dict) -> Sequence[str]:
    """Human-readable summary for the CLI."""
    lines = [
        f"overall score (DTW-aligned): {result['overall']:.1f} / 100"
        + (" (mirrored)" if result["mirrored"] else ""),
        f"frame-by-frame without alignment: {result['unaligned']:.1f} / 100",
        "mean angle error per joint: "
        + ", ".join(f"{k} {v:.0f}°" for k, v in result["joints"].items()),
    ]
    fix = result["fix"]
    lines.append(
        f"fix first: {fix['part']} — {fix['advice']} (mean error {fix['mean_error_deg']:.0f}°)"
        if fix
        else "fix first: nothing, every body part is within 10°"
    )
    return lines
