"""The video mesh fit recovers a known Anny pose: landmarks taken from Anny's own posed skeleton
(turned, forearm bent) must give back the same body, vertex for vertex."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from bodylens import registry
from bodylens.detect.pose import LANDMARK_NAMES
from bodylens.video.mesh import _MP_TO_ANNY, fit_mesh_sequence

pytestmark = pytest.mark.slow

# MediaPipe landmark -> the Anny bone whose head sits there (others: the head bone).
_AT = {"shoulder": "upperarm01", "elbow": "lowerarm01", "wrist": "wrist", "index": "finger3-1",
       "pinky": "finger3-1", "hip": "upperleg01", "knee": "lowerleg01", "ankle": "foot",
       "heel": "foot", "foot_index": "toe3-1"}  # fmt: skip


def _descendants(parents: list[int], root: int) -> list[int]:
    """Bones whose chain of parents reaches ``root`` (root included)."""
    out = []
    for bone in range(len(parents)):
        b = bone
        while b >= 0 and b != root:
            b = parents[b]
        if b == root:
            out.append(bone)
    return out


def test_fit_recovers_a_known_pose():
    import torch

    body = registry.get("anny-video")
    pheno = {"height": 0.5, "proportions": 0.5}
    rest = body.rest(pheno)
    turn = Rotation.from_rotvec([0.1, 0.0, 0.6]).as_matrix()  # about Anny's up axis, and a lean
    forearm = body.index["lowerarm01.L"]
    direction = rest["heads"][body.index["wrist.L"]] - rest["heads"][forearm]
    axis = np.cross(direction, [0.0, -1.0, 0.0])  # perpendicular: a pure bend, no twist
    bend = Rotation.from_rotvec(axis / np.linalg.norm(axis) * np.radians(70)).as_matrix()
    g = np.tile(turn, (len(body.parents), 1, 1))
    for b in _descendants(body.parents, forearm):
        g[b] = turn @ bend
    delta = np.zeros((1, len(body.parents), 4, 4))
    delta[0, :, :3, :3] = g @ rest["poses"][:, :3, :3]
    delta[0, :, 3, 3] = 1
    with torch.no_grad():
        out = body.model(
            pose_parameters=torch.from_numpy(delta), phenotype_kwargs=pheno,
            pose_parameterization="world-orient",
        )  # fmt: skip
    heads = out["bone_poses"][0, :, :3, 3].numpy()
    joints = np.empty((33, 3))
    for i, name in enumerate(LANDMARK_NAMES):
        side, _, part = name.partition("_")
        bone = f"{_AT[part]}.{'L' if side == 'left' else 'R'}" if part in _AT else "head"
        joints[i] = heads[body.index[bone]]
    joints = joints @ _MP_TO_ANNY  # MediaPipe axes
    mid_hip = joints[[23, 24]].mean(0)
    truth = out["vertices"][0, body.keep].numpy() @ _MP_TO_ANNY - mid_hip
    fitted = fit_mesh_sequence((joints - mid_hip)[None], body=body)
    assert fitted.phenotype == pheno
    err = np.linalg.norm(fitted.vertices[0].astype(np.float64) - truth, axis=1)
    assert err.mean() < 0.002 and err.max() < 0.006, (err.mean(), err.max())
    # The bend matters: without it the hand would be far away, so the bound above is tight.
    g_straight = np.tile(turn, (len(body.parents), 1, 1))
    delta[0, :, :3, :3] = g_straight @ rest["poses"][:, :3, :3]
    with torch.no_grad():
        straight = body.model(
            pose_parameters=torch.from_numpy(delta), phenotype_kwargs=pheno,
            pose_parameterization="world-orient",
        )["vertices"][0, body.keep].numpy() @ _MP_TO_ANNY  # fmt: skip
    moved = np.linalg.norm(straight - mid_hip - truth, axis=1)
    assert moved.max() > 0.15
