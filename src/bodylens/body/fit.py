"""Fit the Anny body to one front photo: 2D keypoints plus the person silhouette.

Why this design: a photo shows widths but not depths, so the body's depth comes from a learned
shape prior over Anny's phenotype (gender, age, muscle, weight, height, proportions) and local
controls (``body.shape_prior``, from Anny fitted to real ANSUR II adults), while the local
controls (bust, waist, hips, ...) let the outline match. Everything is differentiable torch in
float32 on a ~2,600-vertex subsample, optimised with Adam for 200 annealed steps (about 1.7 s
on this 2-core machine):

- camera: perspective pinhole with an assumed focal length (a 35 mm-equivalent lens) and a free
  translation; the body's root rotation is free, so the camera orientation is implied;
- pose: root rotation and the rotations of the spine, neck, clavicles, arms and legs;
- keypoints: MediaPipe's landmarks against keypoints regressed where MediaPipe puts them on
  an Anny body (learned, ``AnnyBody._detector_keypoints``; robust loss, visibility weighted,
  hips down-weighted);
- silhouette: projected vertices must fall inside the person mask (distance transform of the
  outside), and the body must reach the mask outline: for each outline point, how far the most
  outward of its nearest vertices stops short along the outline's normal (gaps *along* the
  outline between sparse vertices do not count, so no dead zone is needed to avoid inflating
  the body, and the body is not shrunk by one either); cheap compared to a rasteriser;
- posing: 13 rigid groups (the root and the 12 fitted bones) instead of Anny's 104-bone chain,
  exactly equal since the other bones never rotate (``AnnyBody.posed_groups``);
- scale: the body's stature is pulled to the given height (metric scale), or to a sex-based
  average when no height is given (the result then says the scale is guessed).
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np
import torch
from scipy.spatial import cKDTree

from bodylens.body import shape_prior
from bodylens.body.model import (
    COCO_LABELS,
    FIT_BONES,
    FIT_LOCAL_CHANGES,
    AnnyBody,
    rotvec_to_rotmat,
)
from bodylens.detect.pose import LANDMARK_INDEX, PoseResult

# Assumed focal length over the image's long side (about a 35 mm-equivalent lens).
FOCAL_PER_LONG_SIDE = 1.0
# The silhouette terms read the person mask on a grid of 320 cells along the photo's long side
# (``_Observations``), finer where that would leave the person fewer than this many cells tall
# (a wide shot, a person far from the camera). With the coarse grid, renders of ANSUR bodies
# filling 30 % of the frame's height came out small (chest / waist / hip MAE 3.8 / 5.5 / 3.8
# cm against 2.3 / 2.3 / 2.0 at 80 %); with it, 2.0 / 3.4 / 1.9 (benchmarks/far_away.py).
# People filling half the long side or more keep the coarse grid, so they fit as before. The
# outline sits about half a cell inside the mask, so fewer cells read smaller girths: a street
# photo pasted into a canvas three times its size read chest / waist / hip 92.3 / 77.1 / 96.5
# cm at 160 cells and 95.9 / 84.0 / 101.4 at 256 (95.6 / 83.1 / 101.9 as sent). But renders at
# a fifth of the frame erred more at 245 cells (5.4 / 6.6 / 6.3 cm, one fit far off) than at
# 160, so small people get 160, continuous with the coarse grid. A grid relative to the
# person in every photo (the calibration renders' people are 208-282 cells tall) would
# change every fit, and needs the calibration measured again.
MIN_PERSON_CELLS = 160
# Outline term: gaps below this fraction of the person's height are free; each outline point
# looks at its k nearest vertices, re-found every few steps.
OUTLINE_SLACK = 0.002
OUTLINE_NEIGHBOURS = 6
NEIGHBOUR_REFRESH = 5
# Torch threads for one fit when it runs alone (small tensors: more do not pay). On a machine
# whose cores are busy with other work, set BODYLENS_FIT_THREADS=1: OpenMP threads spin-wait
# for each other, and a fit sharing its cores with another job ran 20x slower on two threads.
FIT_MAX_THREADS = int(os.environ.get("BODYLENS_FIT_THREADS", "2"))
# Robust scale of outline gaps (fraction of the person height): larger gaps are mostly
# mask errors (a background blob merged into the person), so their pull saturates. Not
# smaller: at 0.03 the saturating loss had many minima, and the same photo fitted as its exact
# mirror gave girths up to 15 cm apart on street photos (CCP; 40 % of girths within 1 cm,
# mean 2.8 cm); at 0.1, with the outline weight raised from 15 to 50 to keep most of the
# pull on small gaps, 72 % and 0.7 cm, for equal accuracy on the synthetic sets.
OUTLINE_ROBUST = 0.1
# Loss weights (tuned on benchmarks/measure_synthetic.py renders).
WEIGHTS = {
    "keypoints": 1.0,
    "inside": 60.0,
    "outline": 50.0,
    "pose": 0.02,
    "yaw": 0.5,  # turning about the vertical is weakly observed: keep it small
    "local": 0.01,  # plain pull of the local controls to 0, without a learned shape prior
    "shape": 0.002,  # learned shape prior (body/shape_prior.py), half squared Mahalanobis
    "pheno": 0.02,
}
USE_SHAPE_PRIOR = True
# Keypoint distances (share of the person's height in the image) are penalised robustly at this
# scale, so a wrong landmark cannot drag the body; but a limb the fit has put far from its
# keypoints gets almost no pull back either.
KP_ROBUST = 0.05
# Issue 6 robustness: a well-seen elbow, wrist, knee or ankle this far from its keypoint after
# the fit means a limb stuck in a wrong place (an arm held against the torso, whose outline
# then widens the body: a half-size copy of a street photo came out 15 cm smaller at the waist
# with its wrist 9 % of the height off). Such a fit is run again with the pose stage's keypoint
# scale at RETRY_POSE_ROBUST, where far keypoints still pull (``refit_wins`` picks the fit).
STUCK_LIMB = 0.05
RETRY_POSE_ROBUST = 0.2
ITERATIONS = (40, 80, 80)  # pose only, + phenotype, + local changes
ORIENTATION_EVERY = 10  # shape steps between refreshes of the pose frame
LR = 0.03
# Fraction of LR at the end of each stage. Adam moves every parameter by about the rate
# whatever its gradient, so a fit that ends at a large rate is still wandering along the
# outline's flat directions, and where it stops depends on float rounding: at 0.3, moving the
# given height by 0.003 cm changed a street photo's returned girths by 0.7 cm on average (12
# CCP photos); at 0.05, by 0.2 cm, and a half-size or padded copy kept 74 % of measurements
# within 1 cm of the original instead of 60 % (8 photos), for the same front-photo accuracy
# on 60 ANSUR renders (chest/waist/hip readings +0.07/+0.02/+0.07 ± 0.08 cm).
LR_FINAL = 0.05
SHAPE_LR_FACTOR = 2.0
# Average adult statures (m) used when no height is given.
DEFAULT_STATURE = {"male": 1.76, "female": 1.63, None: 1.70}

# MediaPipe landmark -> Anny COCO keypoint, with a per-keypoint weight.
_KP_PAIRS: list[tuple[str, str, float]] = [
    ("nose", "nose", 0.3),
    ("left_eye", "left_eye", 0.3),
    ("right_eye", "right_eye", 0.3),
    ("left_ear", "left_ear", 0.3),
    ("right_ear", "right_ear", 0.3),
    ("left_shoulder", "left_shoulder", 1.0),
    ("right_shoulder", "right_shoulder", 1.0),
    ("left_elbow", "left_elbow", 1.0),
    ("right_elbow", "right_elbow", 1.0),
    ("left_wrist", "left_wrist", 1.0),
    ("right_wrist", "right_wrist", 1.0),
    ("left_hip", "left_hip", 0.5),
    ("right_hip", "right_hip", 0.5),
    ("left_knee", "left_knee", 1.0),
    ("right_knee", "right_knee", 1.0),
    ("left_ankle", "left_ankle", 1.0),
    ("right_ankle", "right_ankle", 1.0),
    ("left_heel", "left_heel", 0.7),
    ("right_heel", "right_heel", 0.7),
]
_MP_IDX = np.array([LANDMARK_INDEX[a] for a, _, _ in _KP_PAIRS])
_ANNY_IDX = np.array([COCO_LABELS.index(b) for _, b, _ in _KP_PAIRS])
_KP_W = np.array([w for _, _, w in _KP_PAIRS], dtype=np.float32)
_LIMB_KP = np.array([a.endswith(("elbow", "wrist", "knee", "ankle")) for a, _, _ in _KP_PAIRS])

_PHENO_RANGE = {  # fit ranges (adults)
    "gender": (0.0, 1.0),
    "age": (0.70, 0.95),
    "muscle": (0.0, 1.0),
    "weight": (0.0, 1.0),
    "height": (0.0, 1.0),
    "proportions": (0.0, 1.0),
}
_PRIOR_PHENO_IDX = [list(_PHENO_RANGE).index(k) for k in shape_prior.PRIOR_PHENOTYPES]


@dataclass
class FitResult:
    """A fitted body: shape, pose and camera, plus fit diagnostics."""

    phenotype: dict[str, float]
    local_changes: dict[str, float]
    bone_rotvecs: np.ndarray  # (len(FIT_BONES), 3)
    root_rotvec: np.ndarray  # (3,)
    translation: np.ndarray  # (3,) camera frame, metres (up to the scale ambiguity)
    focal: float  # pixels
    principal: tuple[float, float]  # pixels
    target_stature_m: float
    losses: dict[str, float]
    keypoint_error: float  # median keypoint distance / person height in the image
    limb_error: float = 0.0  # largest well-seen elbow/wrist/knee/ankle distance, same unit
    limb_refit: str | None = None  # stuck-limb refit (STUCK_LIMB): "kept" or "discarded"
    mask_shift_px: np.ndarray = field(default_factory=lambda: np.zeros(2))  # mask vs keypoints
    timings: dict[str, float] = field(default_factory=dict)
    stopped_early: bool = False  # ``fit_photo``'s ``stop_early`` ended it as its last stage began


def _mask_component(mask: np.ndarray, kp: np.ndarray) -> np.ndarray:
    """The person-mask component that contains most of the person's keypoints."""
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return mask
    h, w = mask.shape
    xs = np.clip(kp[:, 0].round().astype(int), 0, w - 1)
    ys = np.clip(kp[:, 1].round().astype(int), 0, h - 1)
    votes = np.bincount(labels[ys, xs], minlength=n)
    votes[0] = 0
    best = (
        int(np.argmax(votes))
        if votes.max() > 0
        else 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))
    )
    return labels == best


class _Observations:
    """Keypoints, mask distance transform and outline in normalised image coordinates.

    Normalised coordinates: pixels minus the image centre, divided by the long side, so the
    losses do not depend on the photo's resolution.
    """

    def __init__(
        self,
        pose: PoseResult,
        mask: np.ndarray,
        work_px: int = 320,
        skip_arms: bool = False,
        skip: np.ndarray | None = None,
    ) -> None:
        w, h = pose.image_size
        self.size = (w, h)
        self.long = float(max(w, h))
        self.centre = np.array([w / 2.0, h / 2.0], dtype=np.float32)
        kp = pose.keypoints[_MP_IDX]
        vis = pose.visibility[_MP_IDX]
        self.kp = torch.as_tensor((kp - self.centre) / self.long, dtype=torch.float32)
        self.kp_w = torch.as_tensor(_KP_W * np.clip(vis, 0.0, 1.0), dtype=torch.float32)
        ys, xs = np.nonzero(mask)
        self.person_h = float(ys.max() - ys.min() + 1) / self.long
        self.bbox = (xs.min(), ys.min(), xs.max(), ys.max())
        # Distance transform of the outside at a working resolution; finer for a person who
        # fills less than half of the long side (MIN_PERSON_CELLS).
        work_px = max(work_px, min(int(self.long), math.ceil(MIN_PERSON_CELLS / self.person_h)))
        scale = work_px / max(w, h)
        sw, sh = max(8, round(w * scale)), max(8, round(h * scale))
        small = cv2.resize(mask.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_NEAREST)
        outside = cv2.distanceTransform((1 - small).astype(np.uint8), cv2.DIST_L2, 3)
        self.dt = torch.as_tensor(outside / (work_px * 1.0), dtype=torch.float32)[None, None]
        self.dt_size = (sw, sh)
        contours, _ = cv2.findContours(small, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        outline = max(contours, key=len)[:, 0, :].astype(np.float32)
        normals = _outward_normals(outline, small)
        step = max(1, len(outline) // 250)
        outline, normals = outline[::step] / scale, normals[::step]
        self.outline = torch.as_tensor((outline - self.centre) / self.long, dtype=torch.float32)
        self.normals = torch.as_tensor(normals, dtype=torch.float32)
        # Outline weights: with skip_arms, the outline near the forearms and hands counts for
        # nothing. In a side view they lie in front of or behind the torso, and the body would
        # rather grow a belly than move an arm whose side MediaPipe cannot tell.
        keep = np.ones(len(outline), np.float32)
        if skip_arms:
            reach = 0.06 * self.person_h * self.long
            for a, b in (("left_elbow", "left_wrist"), ("right_elbow", "right_wrist"),
                         ("left_wrist", "left_index"), ("right_wrist", "right_index")):  # fmt: skip
                keep[_segment_distance(outline, pose.point(a), pose.point(b)) < reach] = 0.0
        if skip is not None:  # clothing or a bag, not body (``body.clothing``)
            px = np.clip(np.round(outline).astype(int), 0, [w - 1, h - 1])
            keep[skip[px[:, 1], px[:, 0]]] = 0.0
        self.outline_w = torch.as_tensor(keep)
        self.mask_area = float(mask.sum()) / self.long**2

    @property
    def skipped(self) -> float:
        """Fraction of the outline points the fit ignores (arms in a side view, clothing)."""
        return float(1.0 - self.outline_w.mean())

    def sample_dt(self, uv: torch.Tensor) -> torch.Tensor:
        """Outside-distance at normalised points (B, N, 2), zero inside the mask."""
        w, h = self.size
        gx = (uv[..., 0] * self.long + w / 2.0) / w * 2.0 - 1.0
        gy = (uv[..., 1] * self.long + h / 2.0) / h * 2.0 - 1.0
        grid = torch.stack([gx, gy], dim=-1)[:, None]
        val = torch.nn.functional.grid_sample(
            self.dt.expand(uv.shape[0], -1, -1, -1),
            grid,
            mode="bilinear",
            padding_mode="border",
            align_corners=False,
        )[:, 0, 0]
        # Outside the image the border value underestimates: add the distance to the image.
        over = torch.relu(gx.abs() - 1.0) * w / self.long / 2 + torch.relu(gy.abs() - 1.0) * (
            h / self.long / 2
        )
        return val + over


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of each point (N, 2) to the segment a-b."""
    ab = b - a
    t = np.clip(((points - a) @ ab) / max(float(ab @ ab), 1e-9), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1)


def _outward_normals(contour: np.ndarray, mask: np.ndarray, span: int = 3) -> np.ndarray:
    """Unit outward normals (N, 2) of a closed pixel contour (N, 2), from the tangent over
    +-``span`` points; the side is chosen per point by which way leaves the mask."""
    tangent = np.roll(contour, -span, axis=0) - np.roll(contour, span, axis=0)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-6)
    h, w = mask.shape
    probe = np.round(contour + 2.0 * normal).astype(int)
    px, py = np.clip(probe[:, 0], 0, w - 1), np.clip(probe[:, 1], 0, h - 1)
    inside = mask[py, px] > 0
    normal[inside] *= -1.0
    return normal.astype(np.float32)


def outline_neighbours(obs: _Observations, uv: torch.Tensor) -> torch.Tensor:
    """Indices (B, N, k) of the vertices nearest to each outline point; they change slowly
    during a fit, so callers refresh them every few steps (the search is the costly part)."""
    # A k-d tree per view: ~10x faster than the full outline-by-vertex distance matrix.
    points = uv.detach().numpy()
    outline = obs.outline.numpy()
    near = [cKDTree(p).query(outline, k=OUTLINE_NEIGHBOURS)[1] for p in points]
    return torch.as_tensor(np.stack(near), dtype=torch.int64)


def outline_gap(
    obs: _Observations, uv: torch.Tensor, near: torch.Tensor | None = None
) -> torch.Tensor:
    """How far (normalised units, >= 0) the body's projection stops short of each mask
    outline point, measured along the outline's outward normal from the nearest vertex.

    Why the normal: vertices are ~3 cm apart, so even a perfect fit leaves gaps *along* the
    outline; counting them (plain chamfer) forces a dead zone that lets the body shrink.
    """
    b, n = uv.shape[0], obs.outline.shape[0]
    if near is None:
        near = outline_neighbours(obs, uv)
    v = torch.gather(uv, 1, near.reshape(b, -1, 1).expand(-1, -1, 2)).reshape(b, n, -1, 2)
    # The most outward of the nearest vertices: interior vertices projected near the outline
    # (the front of the chest, say) must not count as the body's edge.
    depth = ((obs.outline[None, :, None] - v) * obs.normals[None, :, None]).sum(-1)
    return torch.relu(depth.amin(dim=-1))


def silhouette_terms(
    obs: _Observations, uv: torch.Tensor, near: torch.Tensor, slack: float = OUTLINE_SLACK
) -> dict[str, torch.Tensor]:
    """The two silhouette losses of one view, shared by the front and two-view fits: projected
    vertices inside the mask, and the body reaching the mask outline (outline points weighted
    by ``obs.outline_w``; ``near`` from ``outline_neighbours``)."""
    h_n = obs.person_h
    inside = (obs.sample_dt(uv) / h_n).mean() * WEIGHTS["inside"]
    gap = outline_gap(obs, uv, near) / h_n
    w = obs.outline_w
    outline = (_robust(torch.relu(gap - slack), OUTLINE_ROBUST) * w).sum() / w.sum().clamp(min=1.0)
    return {"inside": inside, "outline": outline * WEIGHTS["outline"]}


def _robust(x: torch.Tensor, c: float) -> torch.Tensor:
    """Geman-McClure-like robust penalty of distances x with scale c."""
    x2 = (x / c) ** 2
    return x2 / (1.0 + x2)


def _logit(p: float) -> float:
    p = min(max(p, 1e-3), 1 - 1e-3)
    return math.log(p / (1 - p))


class _Params(torch.nn.Module):
    def __init__(self, n_local: int, n_bones: int, pheno0: dict[str, float]) -> None:
        super().__init__()
        self.pheno_raw = torch.nn.Parameter(
            torch.tensor(
                [_logit((pheno0[k] - lo) / (hi - lo)) for k, (lo, hi) in _PHENO_RANGE.items()],
                dtype=torch.float32,
            )[None]
        )
        self.local_raw = torch.nn.Parameter(torch.zeros(1, n_local))
        self.bones = torch.nn.Parameter(torch.zeros(1, n_bones, 3))
        self.root = torch.nn.Parameter(torch.zeros(1, 3))
        self.transl = torch.nn.Parameter(torch.zeros(1, 3))
        # MediaPipe's mask and its landmarks can be misregistered by a few pixels; a free
        # 2D offset of the mask keeps that from being absorbed as extra body width.
        self.mask_shift = torch.nn.Parameter(torch.zeros(1, 1, 2))
        lo = torch.tensor([r[0] for r in _PHENO_RANGE.values()])
        hi = torch.tensor([r[1] for r in _PHENO_RANGE.values()])
        self.register_buffer("lo", lo[None])
        self.register_buffer("hi", hi[None])

    def phenotype(self) -> torch.Tensor:
        return self.lo + (self.hi - self.lo) * torch.sigmoid(self.pheno_raw)

    def local(self) -> torch.Tensor:
        return torch.tanh(self.local_raw)


# Base camera orientation: world (X right of the image, Z up, body facing -Y) to camera
# (x right, y down, z forward): x_c = x, y_c = -z, z_c = y.
_BASE = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def _camera_rotation(root: torch.Tensor) -> torch.Tensor:
    """Body frame to camera (B, 3, 3) for root rotation vectors (B, 3)."""
    return _BASE @ rotvec_to_rotmat(root)


def _project(
    points: torch.Tensor, rot: torch.Tensor, transl: torch.Tensor, focal_n: float
) -> torch.Tensor:
    """Normalised image coordinates (B, N, 2) of body-frame points (B, N, 3); ``rot`` from
    ``_camera_rotation``, computed once per step for all the point sets it projects."""
    cam = points @ rot.transpose(1, 2) + transl[:, None]
    z = cam[..., 2:3].clamp(min=0.1)
    return focal_n * cam[..., :2] / z


class ShapeControls(Protocol):
    """What the shape losses read: the fit's own parameters or the two-view fit's shape."""

    def phenotype(self) -> torch.Tensor: ...

    def local(self) -> torch.Tensor: ...


def shape_terms(
    rest: torch.Tensor,
    stature_vertices: list,
    stature_t: torch.Tensor,
    params: ShapeControls,
    pheno_prior: torch.Tensor,
    learned: tuple[torch.Tensor, torch.Tensor] | None = None,
    prior_scale: float = 1.0,
) -> dict[str, torch.Tensor]:
    """Losses on the body's shape alone, shared by the front and the front+side fits: the rest
    body's stature (top of the head to the lower sole) must match the target, and the shape
    controls stay near their prior: the ``learned`` real-adult Gaussian (mean, precision; see
    ``shape_prior``; its weight times ``prior_scale``) when given, else local changes near 0;
    sex and age near the start."""
    ends = rest[0, stature_vertices, 2]
    stature = ends[0] - torch.minimum(ends[1], ends[2])
    if learned is None:
        shape = WEIGHTS["local"] * params.local().square().sum()
    else:
        free = params.phenotype()[:, _PRIOR_PHENO_IDX]
        shape = WEIGHTS["shape"] * prior_scale * shape_prior.penalty(free, params.local(), *learned)
    return {
        "stature": 50.0 * ((stature - stature_t) / stature_t).square(),
        "shape_prior": shape
        + WEIGHTS["pheno"] * ((params.phenotype() - pheno_prior)[:, [0, 1]]).square().sum(),
    }


def learned_shape_prior(sex: str | None) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The real-adult shape prior's (mean, precision) for ``sex``, or None if switched off."""
    prior = shape_prior.load(sex) if USE_SHAPE_PRIOR else None
    return None if prior is None else prior.torch_terms()


def fit_photo(
    model: AnnyBody,
    pose: PoseResult,
    mask: np.ndarray,
    *,
    stature_m: float,
    sex: str | None = None,
    iterations: tuple[int, int, int] = ITERATIONS,
    focal_px: float | None = None,
    outline_skip: np.ndarray | None = None,
    prior_scale: float = 1.0,
    progress=None,
    start_refit_elsewhere: Callable[[], Callable[[], FitResult | None] | None] | None = None,
    refit_from_start: bool = False,
    stop_early: Callable[[FitResult], bool] | None = None,
) -> FitResult:
    """Fit Anny to one front photo's keypoints and binary person ``mask``; the mask's outline
    is ignored where ``outline_skip`` (H, W bool) is set (clothing, see ``body.clothing``).
    ``prior_scale`` multiplies the learned shape prior's weight (loose clothes, see
    ``api.LOOSE_REFIT_RATIO``).

    ``start_refit_elsewhere``: starts ``stuck_limb_refit`` of the same arguments in another
    process (``body.worker``) and returns a function that waits for it (None: not started).
    It is called when a limb is already stuck as the last stage begins (60 % of the way; 13
    of 14 first fits that ended stuck on 30 street photos, and 1 of 16 others), so the refit
    is ready soon after this fit ends; with ``refit_from_start`` (a limb is likely to stick),
    as this fit starts. The refit runs here when it was not started or gives None. The answer
    is the same either way.

    ``stop_early``: shown the body as the last stage begins; True ends the fit there, with
    no stuck-limb refit (the caller fits the photo again another way: loose clothes).
    """

    args = (model, pose, mask, outline_skip, stature_m, sex, iterations, focal_px, prior_scale)
    pending: list[Callable[[], FitResult | None] | None] = [None]
    if start_refit_elsewhere is not None and refit_from_start:
        pending[0] = start_refit_elsewhere()

    def last_stage(so_far: FitResult) -> bool:
        if stop_early is not None and stop_early(so_far):
            return True
        stuck = so_far.limb_error > STUCK_LIMB
        if start_refit_elsewhere is not None and pending[0] is None and stuck:
            pending[0] = start_refit_elsewhere()
        return False

    with fit_threads():
        watch = stop_early is not None or start_refit_elsewhere is not None
        result = _fit(*args, progress, on_last_stage=last_stage if watch else None)
        if not result.stopped_early and result.limb_error > STUCK_LIMB:
            t = time.perf_counter()
            retry = pending[0]() if pending[0] is not None else None
            if retry is None:
                retry = _fit(*args, None, pose_robust=RETRY_POSE_ROBUST)
            spent = time.perf_counter() - t
            kept = refit_wins(result, retry)
            if kept:
                retry.timings = result.timings  # the first fit's init and optimise times
                result = retry
            result.limb_refit = "kept" if kept else "discarded"
            # Whichever fit is kept, the optimisation took both; fit_retry is the refit's share.
            result.timings["fit_optimise"] += spent
            result.timings["fit_retry"] = spent
    return result


def stuck_limb_refit(
    model: AnnyBody, pose: PoseResult, mask: np.ndarray, **fit_kwargs: Any
) -> FitResult:
    """The refit ``fit_photo(model, pose, mask, **fit_kwargs)`` runs when its first fit leaves
    a limb stuck (the pose stage's keypoint scale at RETRY_POSE_ROBUST). Module-level, so the
    service's worker process can run it beside the first fit (``api.FIT_WORKER``)."""
    k = {"sex": None, "iterations": ITERATIONS, "focal_px": None, "outline_skip": None,
         "prior_scale": 1.0, **fit_kwargs}  # fmt: skip
    with fit_threads():
        return _fit(model, pose, mask, k["outline_skip"], k["stature_m"], k["sex"],
                    k["iterations"], k["focal_px"], k["prior_scale"], None,
                    pose_robust=RETRY_POSE_ROBUST)  # fmt: skip


def refit_wins(first: FitResult, refit: FitResult) -> bool:
    """Whether a stuck-limb refit replaces the first fit: only if it brought the limbs back
    within STUCK_LIMB, and ends at a lower loss. A refit that leaves the limb where it was (a
    hand in a pocket, a wrist MediaPipe guessed) is just another explanation of the photo;
    picking between those on a 1 % loss difference made rescaled copies flip between them."""
    return refit.limb_error <= STUCK_LIMB and sum(refit.losses.values()) < sum(
        first.losses.values()
    )


_threads_lock = threading.Lock()
_threads_users = 0
_threads_saved = 0


@contextlib.contextmanager
def fit_threads():
    """Share the cores between the fits in flight: one fit alone gets up to FIT_MAX_THREADS
    (two threads cut a fit by ~13 % on two idle cores), concurrent fits one each, since more
    threads than cores thrash. The setting is process-wide, so it is recomputed whenever a
    fit starts or ends, and the caller's value is restored when the last one ends."""
    global _threads_users, _threads_saved
    cores = os.cpu_count() or 1
    with _threads_lock:
        if _threads_users == 0:
            _threads_saved = torch.get_num_threads()
        _threads_users += 1
        torch.set_num_threads(max(1, min(FIT_MAX_THREADS, cores // _threads_users)))
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                torch.set_num_threads(_threads_saved)
            else:
                torch.set_num_threads(max(1, min(FIT_MAX_THREADS, cores // _threads_users)))


def _fit(
    model, pose, mask, skip, stature_m, sex, iterations, focal_px, prior_scale, progress,
    pose_robust: float = KP_ROBUST,
    on_last_stage: Callable[[FitResult], bool] | None = None,
) -> FitResult:  # fmt: skip
    """One fit; ``on_last_stage`` gets the body as the last stage starts (its limb error, see
    ``FitResult.limb_error``, among the rest) and may stop the fit there by answering True:
    the result is then that body, ``stopped_early``."""
    t0 = time.perf_counter()
    obs = _Observations(pose, mask, skip=skip)
    focal_n = focal_px / obs.long if focal_px else FOCAL_PER_LONG_SIDE
    gender0 = {"male": 0.05, "female": 0.95}.get(sex or "", 0.5)
    pheno0 = {
        "gender": gender0,
        "age": 0.8,
        "muscle": 0.5,
        "weight": 0.5,
        "height": 0.5,
        "proportions": 0.5,
    }
    params = _Params(len(FIT_LOCAL_CHANGES), len(FIT_BONES), pheno0)
    pheno_prior = params.phenotype().detach().clone()
    learned = learned_shape_prior(sex)
    if learned is not None:  # start from the typical adult's local shape (depth above all)
        with torch.no_grad():
            local0 = learned[0][len(_PRIOR_PHENO_IDX) :].clamp(-0.9, 0.9)
            params.local_raw.copy_(torch.atanh(local0))

    cache: dict[str, object] = {}

    def model_eval(
        p: _Params, shape: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Posed vertices, keypoints and rest vertices. Shape fixed: the rest body and its
        pose frame are computed once; shape free: the pose frame is refreshed every
        ORIENTATION_EVERY steps (it barely moves with shape)."""
        if not shape:
            if "fixed_rest" not in cache:
                with torch.no_grad():
                    coeffs = model.coefficients(p.phenotype(), p.local())
                    cache["frame"] = model.pose_frame(coeffs)
                    cache["fixed_rest"] = model.rest_vertices(coeffs)
            verts, kps = model.posed_groups(cache["frame"], cache["fixed_rest"], p.bones)
            return verts, kps, cache["fixed_rest"]
        cache.pop("fixed_rest", None)
        coeffs = model.coefficients(p.phenotype(), p.local())
        steps = int(cache.get("steps", 0))
        if steps % ORIENTATION_EVERY == 0:
            cache["frame"] = model.pose_frame(coeffs)
        cache["steps"] = steps + 1
        rest_v = model.rest_vertices(coeffs)
        verts, kps = model.posed_groups(
            cache["frame"], rest_v, p.bones, heads=model.group_heads(coeffs)
        )
        return verts, kps, rest_v

    # --- initialisation: depth from the person's height in the image, centre from the mask.
    with torch.no_grad():
        verts, kps, _ = model_eval(params)
        v_np = verts[0].numpy()
        body_h = float(v_np[:, 2].max() - v_np[:, 2].min())
        scale = stature_m / body_h  # the model is scaled to the target stature at the end
        tz = focal_n * body_h / max(obs.person_h, 1e-3)
        x0, y0, x1, y1 = obs.bbox
        cx = ((x0 + x1) / 2.0 - obs.centre[0]) / obs.long
        cy = ((y0 + y1) / 2.0 - obs.centre[1]) / obs.long
        zmid = float((v_np[:, 2].max() + v_np[:, 2].min()) / 2.0)
        params.transl.copy_(torch.tensor([[cx * tz / focal_n, cy * tz / focal_n + zmid, tz]]))
        _init_limbs(model, params, obs, focal_n, model_eval)
    del scale
    t_init = time.perf_counter()

    vis_w = obs.kp_w
    h_n = obs.person_h
    stature_t = torch.tensor(stature_m, dtype=torch.float32)

    stature_vertices = [model.fit_top, *model.fit_soles]
    step_count = [0]

    def losses(p: _Params, shape: bool) -> dict[str, torch.Tensor]:
        verts, kps, rest = model_eval(p, shape)
        rot = _camera_rotation(p.root)
        uv_kp = _project(kps[:, _ANNY_IDX], rot, p.transl, focal_n)
        d = torch.linalg.norm(uv_kp - obs.kp[None], dim=-1) / h_n
        scale = KP_ROBUST if shape else pose_robust  # the pose stage's scale may be wider
        kp_loss = (vis_w * _robust(d, scale)).sum() / vis_w.sum().clamp(min=1e-6)
        out = {"keypoints": WEIGHTS["keypoints"] * kp_loss}
        uv = _project(verts, rot, p.transl, focal_n) + p.mask_shift
        if step_count[0] % NEIGHBOUR_REFRESH == 0:
            cache["near"] = outline_neighbours(obs, uv)
        step_count[0] += 1
        out.update(silhouette_terms(obs, uv, cache["near"]))
        out["pose_prior"] = (
            WEIGHTS["pose"] * p.bones.square().sum() + WEIGHTS["yaw"] * p.root[:, 2].square().sum()
        )
        if shape:
            out.update(
                shape_terms(rest, stature_vertices, stature_t, p, pheno_prior, learned, prior_scale)
            )
        return out

    history: dict[str, float] = {}
    # Pose first, then the phenotype (body type explains most of the outline with realistic
    # depth), then the local controls for what the phenotype cannot explain.
    stages = [
        (iterations[0], False, LR, ["bones", "root", "transl", "mask_shift"]),
        (iterations[1], True, LR, ["bones", "root", "transl", "mask_shift", "pheno_raw"]),
        (
            iterations[2],
            True,
            LR,
            ["bones", "root", "transl", "mask_shift", "pheno_raw", "local_raw"],
        ),
    ]
    total = sum(s[0] for s in stages)
    done = 0

    def keypoint_errors() -> tuple[torch.Tensor, torch.Tensor]:
        """Each keypoint's distance (over the person's height) from the body as it is now,
        and which are well-seen limbs; ``model_eval``'s cache is left as it was, so asking
        mid-fit does not change the fit."""
        saved = dict(cache)
        with torch.no_grad():
            _, kps, _ = model_eval(params)
            rot = _camera_rotation(params.root)
            uv_kp = _project(kps[:, _ANNY_IDX], rot, params.transl, focal_n)
            d = torch.linalg.norm(uv_kp - obs.kp[None], dim=-1)[0] / h_n
        cache.clear()
        cache.update(saved)
        return d, torch.as_tensor(_LIMB_KP) & (obs.kp_w > 0.5)

    def result() -> FitResult:
        """The body as it is now, with its keypoint and limb errors."""
        d, limbs = keypoint_errors()
        good = obs.kp_w > 0.3
        ph = params.phenotype()[0].detach().numpy()
        loc = params.local()[0].detach().numpy()
        return FitResult(
            phenotype={k: float(v) for k, v in zip(_PHENO_RANGE, ph, strict=True)},
            local_changes={k: float(v) for k, v in zip(FIT_LOCAL_CHANGES, loc, strict=True)},
            bone_rotvecs=params.bones[0].detach().numpy().copy(),
            root_rotvec=params.root[0].detach().numpy().copy(),
            translation=params.transl[0].detach().numpy().copy(),
            focal=focal_n * obs.long,
            principal=(float(obs.centre[0]), float(obs.centre[1])),
            target_stature_m=stature_m,
            losses=history,
            keypoint_error=float(d[good].median()) if bool(good.any()) else float("nan"),
            limb_error=float(d[limbs].max()) if bool(limbs.any()) else 0.0,
            mask_shift_px=params.mask_shift[0, 0].detach().numpy() * obs.long,
            timings={"fit_init": t_init - t0, "fit_optimise": time.perf_counter() - t_init},
        )

    for stage, (n_iter, shape, lr, names) in enumerate(stages):
        if on_last_stage is not None and stage == len(stages) - 1:
            so_far = result()
            if on_last_stage(so_far):
                so_far.stopped_early = True
                return so_far
        groups = []
        for name in names:
            rate = lr * (SHAPE_LR_FACTOR if name in ("pheno_raw", "local_raw") else 1.0)
            if name == "transl":
                rate = lr * 0.5
            if name == "mask_shift":
                rate = lr * 0.02
            groups.append({"params": [getattr(params, name)], "lr": rate})
        opt = torch.optim.Adam(groups)
        # Anneal each stage's rate: large early steps, small final ones (fewer steps needed).
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda i, n=n_iter: 1.0 - (1.0 - LR_FINAL) * i / max(n - 1, 1)
        )
        for it in range(n_iter):
            opt.zero_grad(set_to_none=True)
            terms = losses(params, shape)
            history = {k: float(v.detach()) for k, v in terms.items()}
            loss = sum(terms.values())
            loss.backward()
            opt.step()
            sched.step()
            done += 1
            if progress is not None and it % 25 == 0:
                progress(done / total, "fitting the body")
    return result()


def _image_angle(a: np.ndarray, b: np.ndarray) -> float:
    d = b - a
    return math.atan2(float(d[1]), float(d[0]))


def _init_limbs(model, params, obs, focal_n, model_eval) -> None:
    """Rotate upper and lower limbs about the viewing axis so their 2D directions match the
    detected keypoints: a good start makes a short optimisation enough."""
    kp_obs = obs.kp.numpy()
    w = obs.kp_w.numpy()
    names = [a for a, _, _ in _KP_PAIRS]
    chains = [
        ("upperarm01.L", "left_shoulder", "left_elbow"),
        ("upperarm01.R", "right_shoulder", "right_elbow"),
        ("upperleg01.L", "left_hip", "left_knee"),
        ("upperleg01.R", "right_hip", "right_knee"),
        ("lowerarm01.L", "left_elbow", "left_wrist"),
        ("lowerarm01.R", "right_elbow", "right_wrist"),
        ("lowerleg01.L", "left_knee", "left_ankle"),
        ("lowerleg01.R", "right_knee", "right_ankle"),
    ]
    for first in (chains[:4], chains[4:]):
        _, kps, _ = model_eval(params)
        rot = _camera_rotation(params.root)
        uv = _project(kps[:, _ANNY_IDX], rot, params.transl, focal_n)[0].numpy()
        for bone, a, b in first:
            ia, ib = names.index(a), names.index(b)
            if min(w[ia], w[ib]) < 0.3:
                continue
            delta = _image_angle(kp_obs[ia], kp_obs[ib]) - _image_angle(uv[ia], uv[ib])
            delta = (delta + math.pi) % (2 * math.pi) - math.pi
            j = FIT_BONES.index(bone)
            # Image angle grows with a rotation about world +Y (the viewing axis).
            params.bones[0, j, 1] += delta
