"""An Anny body per video frame, driven by the tracked 3D joints.

Why not optimise every frame: an optimiser would cost ~0.1–1 s per frame on a CPU, and the
3D landmarks already say where each limb points. So the fit is closed-form and batched:

- shape, once per clip: grid search over Anny's ``height`` and ``proportions`` phenotypes so the
  model's bone lengths match the clip's median landmark bone lengths (least squares);
- pose, per frame: each bone's world rotation is the smallest rotation that turns its rest
  direction (as carried by its parent) onto the observed segment (shoulder→elbow, …), the
  trunk takes a full frame from hips and shoulders, unobserved bones (fingers, toes, spine
  links) follow their parent rigidly. Anny's ``world-orient`` parameterisation takes exactly
  these world rotations, and one batched forward pass skins all frames (~1 ms/frame).

Vertices come out in the same axes as ``joints_3d`` (MediaPipe world: metres, hip-centred,
y down), on a topology decimated by vertex clustering (each kept vertex is an original one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bodylens import registry
from bodylens.detect.pose import LANDMARK_INDEX as L

# Anny axes (x: person's left, y: backward, z: up) from MediaPipe world (x, y down, z away).
_MP_TO_ANNY = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
DECIMATE_VOXEL_M = 0.02
_PHENO_GRID = {"height": np.linspace(0.0, 1.0, 11), "proportions": np.linspace(0.0, 1.0, 5)}


@dataclass
class MeshSequence:
    vertices: np.ndarray  # [F, V, 3] float16, NaN rows where nobody was found
    faces: np.ndarray  # [Fc, 3] int32
    phenotype: dict[str, float]
    bone_length_rmse: float  # metres, shape fit residual


class VideoBody:
    """Anny with the bone map, rest geometry and decimation the video fit needs (built once)."""

    def __init__(self) -> None:
        import torch

        from bodylens.body.anny_model import new_anny

        self.torch = torch
        self.model = new_anny()
        self.model.eval()
        labels = list(self.model.bone_labels)
        self.index = {name: i for i, name in enumerate(labels)}
        self.parents = [int(p) for p in self.model.bone_parents]
        faces = self.model.get_triangular_faces().cpu().numpy()
        with torch.no_grad():
            rest = self.model(pose_parameters=None)["rest_vertices"][0].numpy()
        self.keep, self.faces = decimate(rest, faces, DECIMATE_VOXEL_M)
        self._rest_cache: dict[tuple, dict] = {}

    def rest(self, phenotype: dict[str, float]) -> dict[str, np.ndarray]:
        key = tuple(sorted(phenotype.items()))
        if key not in self._rest_cache:
            with self.torch.no_grad():
                out = self.model(pose_parameters=None, phenotype_kwargs=phenotype)
            self._rest_cache[key] = {
                "heads": out["rest_bone_heads"][0].numpy(),
                "poses": out["rest_bone_poses"][0].numpy(),
            }
        return self._rest_cache[key]

    def rest_heads_batch(self, phenotypes: list[dict[str, float]]) -> np.ndarray:
        """Rest bone heads [P, B, 3] for many phenotypes in one pass (the shape grid search)."""
        torch = self.torch
        labels = self.model.phenotype_labels
        values = torch.tensor(
            [[p.get(k, 0.5) for k in labels] for p in phenotypes], dtype=self.model.dtype
        )
        kwargs = {k: values[:, i] for i, k in enumerate(labels)}
        with torch.no_grad():
            coeffs = self.model._get_phenotype_blendshape_coefficients(
                self.model._parse_parameter_kwargs(kwargs, labels, 0.5, "phenotype_kwargs"),
                self.model._parse_parameter_kwargs(None, self.model.local_change_labels, 0.0, "l"),
                self.model._parse_parameter_kwargs(None, self.model.facial_action_labels, 0.0, "f"),
            )
            return self.model.get_rest_model(coeffs)["rest_bone_heads"].numpy()


@registry.register("anny-video")
def _video_body() -> VideoBody:
    return VideoBody()


def decimate(
    vertices: np.ndarray, faces: np.ndarray, voxel: float
) -> tuple[np.ndarray, np.ndarray]:
    """Vertex clustering: one original vertex per ``voxel`` cell, faces remapped, degenerate
    and duplicate faces dropped. Returns (kept vertex indices, faces over the kept ones)."""
    cells = np.floor(vertices / voxel).astype(np.int64)
    _, first, inverse = np.unique(cells, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    new_faces = inverse[faces]
    ok = (
        (new_faces[:, 0] != new_faces[:, 1])
        & (new_faces[:, 1] != new_faces[:, 2])
        & (new_faces[:, 0] != new_faces[:, 2])
    )
    new_faces = new_faces[ok]
    _, unique = np.unique(np.sort(new_faces, axis=1), axis=0, return_index=True)
    kept = new_faces[np.sort(unique)]
    return first.astype(np.int64), kept.astype(np.int32)


# Observed segments: (bones that share the rotation, landmarks at the segment start, landmarks at
# its end, Anny bone head(s) at the start, Anny bone head(s) at the end). Start and end points
# correspond on both sides (e.g. ankle → toes), so a pose equal to the rest pose gives identity.
def _mid(*names: str) -> tuple[int, ...]:
    return tuple(L[n] for n in names)


_LIMBS = []
for s, side in (("L", "left"), ("R", "right")):
    _LIMBS += [
        (
            (f"upperarm01.{s}", f"upperarm02.{s}"),
            _mid(f"{side}_shoulder"),
            _mid(f"{side}_elbow"),
            f"upperarm01.{s}",
            f"lowerarm01.{s}",
        ),
        (
            (f"lowerarm01.{s}", f"lowerarm02.{s}"),
            _mid(f"{side}_elbow"),
            _mid(f"{side}_wrist"),
            f"lowerarm01.{s}",
            f"wrist.{s}",
        ),
        (
            (f"wrist.{s}",),
            _mid(f"{side}_wrist"),
            _mid(f"{side}_index", f"{side}_pinky"),
            f"wrist.{s}",
            f"finger3-1.{s}",
        ),
        (
            (f"upperleg01.{s}", f"upperleg02.{s}"),
            _mid(f"{side}_hip"),
            _mid(f"{side}_knee"),
            f"upperleg01.{s}",
            f"lowerleg01.{s}",
        ),
        (
            (f"lowerleg01.{s}", f"lowerleg02.{s}"),
            _mid(f"{side}_knee"),
            _mid(f"{side}_ankle"),
            f"lowerleg01.{s}",
            f"foot.{s}",
        ),
        (
            (f"foot.{s}",),
            _mid(f"{side}_ankle"),
            _mid(f"{side}_foot_index"),
            f"foot.{s}",
            f"toe3-1.{s}",
        ),
    ]
# The rest direction is taken between the Anny points matching the landmarks (mid-shoulder →
# head), not along the neck bone, so an upright head stays upright.
_NECK = (
    ("neck01", "neck02", "neck03", "head"),
    _mid("left_shoulder", "right_shoulder"),
    _mid("left_ear", "right_ear"),
    ("upperarm01.L", "upperarm01.R"),
    "head",
)
_LOWER_TRUNK = ("root", "pelvis.L", "pelvis.R", "spine05", "spine04", "spine03")
_UPPER_TRUNK = ("spine02", "spine01", "clavicle.L", "shoulder01.L", "clavicle.R", "shoulder01.R")
# Segment lengths compared when fitting the shape: (landmarks, Anny bone heads).
_LENGTHS = [
    (_mid("left_shoulder"), _mid("left_elbow"), "upperarm01.L", "lowerarm01.L"),
    (_mid("right_shoulder"), _mid("right_elbow"), "upperarm01.R", "lowerarm01.R"),
    (_mid("left_elbow"), _mid("left_wrist"), "lowerarm01.L", "wrist.L"),
    (_mid("right_elbow"), _mid("right_wrist"), "lowerarm01.R", "wrist.R"),
    (_mid("left_hip"), _mid("left_knee"), "upperleg01.L", "lowerleg01.L"),
    (_mid("right_hip"), _mid("right_knee"), "upperleg01.R", "lowerleg01.R"),
    (_mid("left_knee"), _mid("left_ankle"), "lowerleg01.L", "foot.L"),
    (_mid("right_knee"), _mid("right_ankle"), "lowerleg01.R", "foot.R"),
    (_mid("left_hip"), _mid("right_hip"), "upperleg01.L", "upperleg01.R"),
    (_mid("left_shoulder"), _mid("right_shoulder"), "upperarm01.L", "upperarm01.R"),
    (
        _mid("left_hip", "right_hip"),
        _mid("left_shoulder", "right_shoulder"),
        ("upperleg01.L", "upperleg01.R"),
        ("upperarm01.L", "upperarm01.R"),
    ),
]


def _point(joints: np.ndarray, idx: tuple[int, ...]) -> np.ndarray:
    return joints[..., list(idx), :].mean(axis=-2)


def _head(heads: np.ndarray, body: VideoBody, names: str | tuple[str, ...]) -> np.ndarray:
    names = (names,) if isinstance(names, str) else names
    return heads[..., [body.index[n] for n in names], :].mean(axis=-2)


def _normalize(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _align(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotations [N, 3, 3] taking unit vectors a [N, 3] onto b [N, 3] (Rodrigues)."""
    v = np.cross(a, b)
    c = (a * b).sum(-1)
    k = np.zeros(a.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    k[..., 1, 0], k[..., 2, 0], k[..., 2, 1] = v[..., 2], -v[..., 1], v[..., 0]
    factor = 1.0 / np.maximum(1.0 + c, 1e-6)
    return np.eye(3) + k + (k @ k) * factor[..., None, None]


def _frame(x: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Orthonormal frame [.., 3, 3] (columns x, y, z) from a left-right axis and an up axis."""
    x = _normalize(x)
    up = _normalize(up - (up * x).sum(-1, keepdims=True) * x)
    return np.stack([x, np.cross(up, x), up], axis=-1)


def fit_shape(body: VideoBody, joints: np.ndarray) -> tuple[dict[str, float], float]:
    """Phenotype (height, proportions) whose bone lengths best match the clip's medians."""
    valid = joints[~np.isnan(joints[:, 0, 0])]
    observed = np.array(
        [
            np.median(np.linalg.norm(_point(valid, a) - _point(valid, b), axis=-1))
            for a, b, _, _ in _LENGTHS
        ]
    )
    grid = [
        {"height": float(h), "proportions": float(p)}
        for h in _PHENO_GRID["height"]
        for p in _PHENO_GRID["proportions"]
    ]
    heads = body.rest_heads_batch(grid)  # [P, B, 3]
    model = np.stack(
        [
            np.linalg.norm(_head(heads, body, c) - _head(heads, body, d), axis=-1)
            for _, _, c, d in _LENGTHS
        ],
        axis=-1,
    )  # [P, K]
    err = np.sqrt(((model - observed) ** 2).mean(-1))
    best = int(np.argmin(err))
    return grid[best], float(err[best])


def world_rotations(body: VideoBody, heads: np.ndarray, joints_anny: np.ndarray) -> np.ndarray:
    """Per-frame world rotation from rest [F, B, 3, 3] of every Anny bone (see module doc)."""
    n = len(joints_anny)
    bones = len(body.parents)
    rot = np.zeros((n, bones, 3, 3))
    done = np.zeros(bones, bool)

    def trunk(names, x_from, x_to, rest_x_from, rest_x_to):
        up_obs = _point(joints_anny, _mid("left_shoulder", "right_shoulder")) - _point(
            joints_anny, _mid("left_hip", "right_hip")
        )
        x_obs = _point(joints_anny, x_from) - _point(joints_anny, x_to)
        up_rest = _head(heads, body, ("upperarm01.L", "upperarm01.R")) - _head(
            heads, body, ("upperleg01.L", "upperleg01.R")
        )
        x_rest = _head(heads, body, rest_x_from) - _head(heads, body, rest_x_to)
        g = _frame(x_obs, up_obs) @ _frame(x_rest, up_rest).T
        for name in names:
            rot[:, body.index[name]] = g
            done[body.index[name]] = True

    trunk(_LOWER_TRUNK, _mid("left_hip"), _mid("right_hip"), "upperleg01.L", "upperleg01.R")
    trunk(
        _UPPER_TRUNK, _mid("left_shoulder"), _mid("right_shoulder"), "upperarm01.L", "upperarm01.R"
    )
    for names, a, b, start, end in [*_LIMBS, _NECK]:
        parent = body.parents[body.index[names[0]]]
        while not done[parent]:  # inherit from the nearest posed ancestor
            parent = body.parents[parent]
        g_parent = rot[:, parent]
        rest_dir = _normalize(_head(heads, body, end) - _head(heads, body, start))
        carried = np.einsum("fij,j->fi", g_parent, rest_dir)
        observed = _normalize(_point(joints_anny, b) - _point(joints_anny, a))
        g = _align(carried, observed) @ g_parent
        for name in names:
            rot[:, body.index[name]] = g
            done[body.index[name]] = True
    for b in range(bones):  # everything else (fingers, toes, eyes) follows its parent
        if not done[b]:
            rot[:, b] = rot[:, body.parents[b]]
            done[b] = True
    return rot


def fit_mesh_sequence(
    joints_3d: np.ndarray,
    *,
    body: VideoBody | None = None,
    batch: int = 64,
    progress: Callable[[float, str], None] | None = None,
) -> MeshSequence:
    """Fit one Anny shape to the clip and pose it on every frame of ``joints_3d`` [F, 33, 3]."""
    from bodylens.errors import Unprocessable

    body = body or registry.get("anny-video")
    torch = body.torch
    found = ~np.isnan(joints_3d[:, 0, 0])
    if not found.any():
        raise Unprocessable("nobody was found in the video, so there is no body to fit")
    phenotype, rmse = fit_shape(body, joints_3d)
    rest = body.rest(phenotype)
    heads, rest_poses = rest["heads"], rest["poses"]
    hip = _head(heads, body, ("upperleg01.L", "upperleg01.R"))
    root = body.index["root"]
    out = np.full((len(joints_3d), len(body.keep), 3), np.nan, np.float16)
    rows = np.flatnonzero(found)
    for start in range(0, len(rows), batch):
        sel = rows[start : start + batch]
        joints_anny = joints_3d[sel] @ _MP_TO_ANNY.T
        g = world_rotations(body, heads, joints_anny)  # [n, B, 3, 3]
        delta = np.zeros(g.shape[:2] + (4, 4))
        delta[..., :3, :3] = g @ rest_poses[:, :3, :3]
        delta[..., 3, 3] = 1.0
        # Root head placed so the mid-hip lands on the origin, as in joints_3d.
        delta[:, root, :3, 3] = -np.einsum("fij,j->fi", g[:, root], hip - heads[root])
        with torch.no_grad():
            verts = body.model(
                pose_parameters=torch.from_numpy(delta),
                phenotype_kwargs=phenotype,
                pose_parameterization="world-orient",
            )["vertices"][:, body.keep].numpy()
        out[sel] = (verts @ _MP_TO_ANNY).astype(np.float16)  # back to MediaPipe axes
        if progress:
            progress(min(0.99, (start + len(sel)) / len(rows)), "mesh: posing frames")
    return MeshSequence(out, body.faces, phenotype, rmse)
