"""The Anny body model, wrapped for fast fitting and for measuring.

Anny's own forward pass evaluates 644 blendshapes on 13,718 vertices in float64; a photo fit
needs a few hundred gradient steps, so we precompute once a float32 *reduced* model: a voxel
subsample of the surface (plus the keypoint-regressor support), the phenotype basis and only
the local shape controls the fit uses. Posing reuses Anny's own kinematics, so a pose fitted
here means the same thing as in Anny. Measurements are taken on the full float64 mesh.

The wrapper holds no per-request state: every method is a pure function of its arguments, so
two fits can run concurrently on the shared instance.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bodylens import registry

log = logging.getLogger(__name__)

# Local shape controls the fit may move.
FIT_LOCAL_CHANGES = [
    "measure-bust-circ-incr",
    "measure-underbust-circ-incr",
    "measure-waist-circ-incr",
    "measure-hips-circ-incr",
    "measure-shoulder-dist-incr",
    "measure-neck-circ-incr",
    "measure-upperarm-circ-incr",
    "measure-thigh-circ-incr",
    "measure-calf-circ-incr",
    "measure-upperarm-length-incr",
    "measure-lowerarm-length-incr",
    "measure-upperleg-height-incr",
    "measure-lowerleg-height-incr",
    "measure-napetowaist-dist-incr",
    "measure-waisttohip-dist-incr",
    "stomach-pregnant-incr",
    "buttocks-volume-incr",
    "torso-scale-horiz-incr",
    "hip-scale-horiz-incr",
    # Depth only: a front photo leaves them at 0 (the ANSUR fusion corrects the girths);
    # a side photo sets them.
    "torso-scale-depth-incr",
    "hip-scale-depth-incr",
]

# Bones whose rotation the fit optimises (besides the root), in a fixed order.
FIT_BONES = [
    "spine03",
    "neck01",
    "clavicle.L",
    "clavicle.R",
    "upperarm01.L",
    "upperarm01.R",
    "lowerarm01.L",
    "lowerarm01.R",
    "upperleg01.L",
    "upperleg01.R",
    "lowerleg01.L",
    "lowerleg01.R",
]

# COCO(+feet) keypoint labels of Anny's regressor, in the order we use them.
COCO_LABELS = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_big_toe",
    "right_big_toe", "left_small_toe", "right_small_toe", "left_heel", "right_heel",
]  # fmt: skip

# Where MediaPipe puts its landmarks on an Anny body (learned; see ``_detector_keypoints``).
DETECTOR_KEYPOINTS_FILE = (
    Path(__file__).resolve().parent.parent / "data" / "mediapipe_landmarks.json"
)
USE_DETECTOR_KEYPOINTS = True

_ARM_ROOTS = ("shoulder01",)
_LEG_ROOTS = ("upperleg01",)


def bone_descendants(labels: list[str], parents: list[int], root: str) -> set[int]:
    """Indices of bone ``root`` and every bone below it in the rig."""
    out = {labels.index(root)}
    changed = True
    while changed:
        changed = False
        for i, p in enumerate(parents):
            if p in out and i not in out:
                out.add(i)
                changed = True
    return out


@dataclass
class PoseFrame:
    """Constants of the fast posing for one shape (see ``AnnyBody.pose_frame``)."""

    blend: torch.Tensor  # (B, 3G, 4 Vs) per-group skinning blend in the reference pose
    centres: torch.Tensor  # (B, G, 3) joint centre of each pose group, reference pose
    heads: torch.Tensor  # (B, G, 3) the same joints' rest heads when the frame was made


@dataclass
class RestBody:
    """A body in Anny's rest (neutral standing, A-pose) posture, metres, Z up, facing -Y."""

    vertices: np.ndarray  # (V, 3) float64
    bone_heads: np.ndarray  # (J, 3) float64


class AnnyBody:
    """Shared, read-only Anny model plus the precomputation the fit and measurements need."""

    def __init__(self, voxel_m: float = 0.028) -> None:
        import anny

        from bodylens.body.anny_model import new_anny

        self.anny = new_anny(local_changes="default")
        m = self.anny
        m.requires_grad_(False)
        self.bone_labels: list[str] = list(m.bone_labels)
        self.bone_parents: list[int] = [int(p) for p in m.bone_parents]
        self.phenotype_labels: list[str] = list(m.phenotype_labels)
        self.local_change_labels: list[str] = list(m.local_change_labels)
        self.faces = m.get_triangular_faces().cpu().numpy().astype(np.int64)
        self.n_vertices = int(m.template_vertices.shape[0])
        n_pheno = int(m.phenotype_blendshape_projection.shape[1])
        self._n_pheno_cols = n_pheno
        # Per-vertex dominant bone and body part (used to restrict tape sections).
        dense = torch.zeros(self.n_vertices, len(self.bone_labels), dtype=torch.float64)
        dense.scatter_add_(1, m.vertex_bone_indices.long(), m.vertex_bone_weights)
        self.dominant_bone = dense.argmax(1).numpy()
        part = np.zeros(self.n_vertices, dtype=np.int8)  # 0 torso/head
        for side, code in (("L", 1), ("R", 2)):
            arm = bone_descendants(self.bone_labels, self.bone_parents, f"shoulder01.{side}")
            leg = bone_descendants(self.bone_labels, self.bone_parents, f"upperleg01.{side}")
            part[np.isin(self.dominant_bone, sorted(arm))] = code  # 1/2 arms
            part[np.isin(self.dominant_bone, sorted(leg))] = code + 2  # 3/4 legs
        self.part = part  # 0 torso, 1 left arm, 2 right arm, 3 left leg, 4 right leg

        # Keypoint regressor (dense weights over all vertices).
        kr = anny.KeypointsRegressor.coco(m, labels=COCO_LABELS)
        kw = kr.regression_weights.detach()
        # Keep each keypoint's strongest vertices only (renormalised): the regressor spreads
        # tiny weights over thousands of vertices, which would make the fit slow.
        top = torch.topk(kw.abs(), k=24, dim=1).indices
        sparse = torch.zeros_like(kw)
        sparse.scatter_(1, top, kw.gather(1, top))
        kw = sparse
        support = torch.nonzero(kw.abs().sum(0) > 0).flatten().numpy()

        # Voxel subsample of the rest template for the silhouette / fit.
        tv = m.template_vertices.detach().cpu().numpy()
        keys = np.floor(tv / voxel_m).astype(np.int64)
        _, first = np.unique(keys, axis=0, return_index=True)
        self.landmarks = self._find_landmarks()
        extra = [self.landmarks["vertex"], self.landmarks["sole.L"], self.landmarks["sole.R"]]
        sub = np.union1d(np.union1d(first, support), extra)
        self.fit_index = sub
        self.fit_top = int(np.searchsorted(sub, self.landmarks["vertex"]))
        self.fit_soles = [
            int(np.searchsorted(sub, self.landmarks[k])) for k in ("sole.L", "sole.R")
        ]
        self._build_fit_tensors(sub, kw[:, sub], n_pheno)
        # Anny's anatomical COCO keypoints (measurements read them) ...
        self.t_kp_coco = self.t_kp
        # ... and, for posing, the same keypoints where MediaPipe puts them, when learned.
        self.t_kp = self._detector_keypoints(sub, self.t_kp_coco)
        log.info(
            "Anny ready: %d vertices, %d fit vertices, %d bones",
            self.n_vertices,
            len(sub),
            len(self.bone_labels),
        )

    # ----------------------------------------------------------------------------- setup
    def _build_fit_tensors(self, sub: np.ndarray, kp_weights: torch.Tensor, n_pheno: int) -> None:
        m = self.anny
        f32 = torch.float32
        self.fit_local_index = [self.local_change_labels.index(n) for n in FIT_LOCAL_CHANGES]
        li = torch.tensor(self.fit_local_index)
        cols = torch.cat([torch.arange(n_pheno), n_pheno + 2 * li, n_pheno + 2 * li + 1])
        sub_t = torch.as_tensor(sub)
        self.t_template = m.template_vertices[sub_t].to(f32)
        self.t_blend = m.blendshapes[cols][:, sub_t].to(f32).contiguous()
        self.t_heads = m.template_bone_heads.to(f32)
        self.t_heads_blend = m.bone_heads_blendshapes[cols].to(f32).contiguous()
        self.t_orient = m.bone_template_orientation_matrices.to(f32)
        self.t_orient_blend = m.bone_orientation_blendshapes[cols].to(f32).contiguous()
        self.t_ref_orient = m.reference_bone_orientations.to(f32)
        dense = torch.zeros(self.n_vertices, len(self.bone_labels), dtype=torch.float64)
        dense.scatter_add_(1, m.vertex_bone_indices.long(), m.vertex_bone_weights)
        self.t_skin = dense[sub_t].to(f32).contiguous()
        self.t_kp = (kp_weights / kp_weights.sum(1, keepdim=True)).to(f32).contiguous()
        self._build_phenotype_weights(m)
        self.kinematic_chain = (m.kinematic_chain_levels, m.kinematic_chain_indices)
        self.fit_bone_index = torch.tensor([self.bone_labels.index(b) for b in FIT_BONES])
        # Pose groups: the root plus each fitted bone. A bone the fit never rotates moves
        # rigidly with its nearest fitted ancestor (or the root), so posing needs 13
        # transforms instead of a 104-bone kinematic chain.
        movers = [0, *self.fit_bone_index.tolist()]
        self.group_bones = torch.tensor(movers)
        group = []
        for j in range(len(self.bone_labels)):
            k = j
            while k not in movers:
                k = self.bone_parents[k]
            group.append(movers.index(k))
        onehot = torch.zeros(len(self.bone_labels), len(movers))
        onehot[torch.arange(len(group)), torch.tensor(group)] = 1.0
        self.t_group = onehot
        self.group_parent = [-1] + [group[self.bone_parents[j]] for j in movers[1:]]
        assert all(p < g for g, p in enumerate(self.group_parent)), "FIT_BONES order"
        depth = [0]
        for g in range(1, len(movers)):
            depth.append(depth[self.group_parent[g]] + 1)
        # Levels of groups (index tensors) with the positions of their parents in the
        # stacked output built level by level, and the permutation back to group order.
        stacked = [0]
        self.group_levels = []
        for level in range(1, max(depth) + 1):
            groups = [g for g in range(len(movers)) if depth[g] == level]
            parents = [stacked.index(self.group_parent[g]) for g in groups]
            self.group_levels.append((torch.tensor(groups), torch.tensor(parents)))
            stacked += groups
        self.group_order = torch.tensor([stacked.index(g) for g in range(len(movers))])
        self.t_group_weight = (self.t_skin @ onehot).contiguous()  # (Vs, G)
        self.t_group_heads = self.t_heads[self.group_bones].contiguous()
        self.t_group_heads_blend = self.t_heads_blend[:, self.group_bones].contiguous()

    def _detector_keypoints(self, sub: np.ndarray, coco: torch.Tensor) -> torch.Tensor:
        """The fit's keypoint regressor: Anny's COCO rows, replaced where learned by weights
        that put each keypoint where MediaPipe Pose puts its landmark on a body (issue 6;
        ``benchmarks/build_landmark_regressor.py``). The two disagree by up to ~1 % of the
        height the same way on every body, which the fit would otherwise explain by bending
        the body's shape. Only over fit-subsample vertices, so posing costs the same."""
        t = coco.clone()
        if not USE_DETECTOR_KEYPOINTS or not DETECTOR_KEYPOINTS_FILE.exists():
            return t
        learned = json.loads(DETECTOR_KEYPOINTS_FILE.read_text())["landmarks"]
        for entry in learned.values():
            idx = np.asarray(entry["vertices"])
            pos = np.searchsorted(sub, idx)
            if not np.array_equal(sub[np.minimum(pos, len(sub) - 1)], idx):
                raise RuntimeError(f"{DETECTOR_KEYPOINTS_FILE.name}: vertices outside the fit set")
            row = torch.zeros(len(sub), dtype=t.dtype)
            row[torch.as_tensor(pos)] = torch.as_tensor(entry["weights"], dtype=t.dtype)
            t[COCO_LABELS.index(entry["replaces"])] = row
        return t.contiguous()

    def _find_landmarks(self) -> dict[str, int]:
        """Vertex indices of a few surface landmarks, found once on the template."""
        rest = self.rest_body()
        v, heads = rest.vertices, rest.bone_heads
        lm: dict[str, int] = {}
        for side, sign in (("L", 1.0), ("R", -1.0)):
            # Acromion: the most lateral point of the shoulder top, above the shoulder joint.
            joint = heads[self.bone_labels.index(f"upperarm01.{side}")]
            cand = np.where(
                (self.part == 0) | (self.part == (1 if side == "L" else 2)),
            )[0]
            near = cand[
                (np.abs(v[cand, 1] - joint[1]) < 0.04)
                & (v[cand, 2] > joint[2] + 0.02)
                & (v[cand, 2] < joint[2] + 0.12)
            ]
            lm[f"acromion.{side}"] = int(near[np.argmax(sign * v[near, 0])])
        lm["vertex"] = int(np.argmax(v[:, 2]))
        # Navel: the front midline vertex at ANSUR II's omphalion level, found once on the
        # template so that it moves with the body (on a fitted flat chest the most anterior
        # chest point, and a level taken from it, jumps).
        from bodylens.body.measurements import omphalion_level  # it reads these landmarks

        mid = (self.part == 0) & (np.abs(v[:, 0]) < 0.012)
        front = np.flatnonzero(mid & (v[:, 1] < heads[self.bone_labels.index("root")][1]))
        zn = omphalion_level(self, rest)
        lm["navel"] = int(front[np.argmin(np.abs(v[front, 2] - zn))])
        for side, code in (("L", 3), ("R", 4)):
            leg = np.flatnonzero(self.part == code)
            lm[f"sole.{side}"] = int(leg[np.argmin(v[leg, 2])])
        return lm

    def _build_phenotype_weights(self, m) -> None:
        """Tensors of ``phenotype_weights``: the fitted phenotypes' anchors, which of their
        columns each blendshape multiplies, and the factor of the phenotypes held at their
        default (race 1/3 each, cupsize and firmness 0.5) folded into the projection; the
        blendshapes that factor zeroes are dropped."""
        from anny.utils.interpolation import linear_interpolation_coefficients

        f32 = torch.float32
        anchors = {k: v.to(torch.float64) for k, v in _anchor_dict(m).items()}
        mask = m.stacked_phenotype_blend_shapes_mask.to(torch.float64)  # (K, columns)
        cols = _phenotype_columns()
        fixed = torch.ones(mask.shape[1], dtype=torch.float64)
        for label, where in cols.items():
            if label in self.phenotype_labels:
                continue
            if label == "race":
                fixed[where] = 1.0 / 3.0
            else:
                half = torch.tensor([0.5], dtype=torch.float64)
                fixed[where] = linear_interpolation_coefficients(half, anchors[label])[0]
        factor = torch.prod(fixed[None] * mask + (1.0 - mask), dim=1)
        keep = factor != 0
        proj = m.phenotype_blendshape_projection.to(torch.float64)
        self.t_pheno_projection = (factor[keep, None] * proj[keep]).to(f32)
        fitted = [c for label in self.phenotype_labels for c in cols[label]]
        self.t_pheno_fmask = mask[keep][:, fitted].to(f32).contiguous()
        interp = []
        feature, anchor = [], []
        for j, label in enumerate(self.phenotype_labels):
            a = anchors.get(label)
            if a is None or not torch.allclose(a.diff(), a.diff()[0]):
                raise ValueError(f"phenotype {label!r}: expected evenly spaced anchors")
            interp.append([a[0], a[-1], a[1] - a[0], len(a) - 1])
            feature += [j] * len(a)
            anchor += list(range(len(a)))
        self.t_pheno_interp = torch.tensor(interp, dtype=f32).T[:, None, :].unbind(0)
        self.t_pheno_col_feature = torch.tensor(feature)
        self.t_pheno_col_anchor = torch.tensor(anchor, dtype=f32)

    # ------------------------------------------------------------------------- shape maths
    def coefficients(self, phenotype: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
        """Reduced blendshape coefficients (B, K') for phenotypes (B, 6) in [0, 1] and the
        FIT_LOCAL_CHANGES values (B, L) in [-1, 1]."""
        w = self.phenotype_weights(phenotype) @ self.t_pheno_projection
        # Written so both halves get a gradient at exactly zero (torch.relu's is 0 there,
        # which would leave the local changes stuck at their initial value).
        pos = local * (local >= 0).to(local.dtype)
        neg = -local * (local <= 0).to(local.dtype)
        return torch.cat([w, pos, neg], dim=1)

    def phenotype_weights(self, phenotype: torch.Tensor) -> torch.Tensor:
        """Anny's phenotype blendshape weights (B, K) for the blendshapes the fitted phenotypes
        reach, times their fixed factors (``t_pheno_projection`` takes them on).

        Anny's own function interpolates every phenotype (fixed ones too) one at a time, ~100
        small ops that were an eighth of a fit step. Here all fitted phenotypes are
        interpolated at once, with Anny's conventions (clamped to the anchors; a value on an
        anchor takes the segment below it, and its gradient), and one product takes each
        blendshape's factors."""
        lo, hi, step, last = self.t_pheno_interp
        t = (phenotype.clamp(lo, hi) - lo) / step  # position in anchor steps, (B, P)
        seg = (torch.ceil(t.detach()) - 1).clamp(min=torch.zeros_like(last), max=last - 1)
        alpha = (t - seg)[:, self.t_pheno_col_feature]  # (B, C), one per fitted column
        seg = seg[:, self.t_pheno_col_feature]
        k = self.t_pheno_col_anchor
        w = (1.0 - alpha) * (seg == k) + alpha * (seg + 1 == k)
        m = self.t_pheno_fmask
        return (w[:, None, :] * m + (1.0 - m)).prod(-1)

    def orientation(self, coeffs: torch.Tensor) -> torch.Tensor:
        """Rest bone orientations (B, J, 3, 3), without gradient.

        They move very little with shape, so the fit treats them as constants (refreshed now
        and then): no gradient through the SVD saves a third of the step time."""
        import roma

        with torch.no_grad():
            c = coeffs.detach()
            orient = self.t_orient + torch.einsum("bk,kjmn->bjmn", c, self.t_orient_blend)
            return roma.special_procrustes(orient)

    def rest_vertices(self, coeffs: torch.Tensor) -> torch.Tensor:
        """Rest subsample vertices (B, Vs, 3), float32."""
        return self.t_template + torch.einsum("bk,kvd->bvd", coeffs, self.t_blend)

    def rest_fit(
        self, coeffs: torch.Tensor, orientation: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rest subsample vertices (B, Vs, 3) and rest bone poses (B, J, 4, 4), float32."""
        verts = self.rest_vertices(coeffs)
        heads = self.t_heads + torch.einsum("bk,kjd->bjd", coeffs, self.t_heads_blend)
        rot = self.orientation(coeffs) if orientation is None else orientation
        poses = torch.cat(
            [
                torch.cat([rot, heads[..., None]], dim=-1),
                torch.tensor([0.0, 0.0, 0.0, 1.0]).expand(*rot.shape[:-2], 1, 4),
            ],
            dim=-2,
        )
        return verts, poses

    def deltas(
        self, bone_rotvecs: torch.Tensor, root_rotvec: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Pose deltas (B, J, 4, 4) from rotation vectors of FIT_BONES (B, nb, 3), in Anny's
        'local-ref' parameterisation (world-aligned axes at each bone)."""
        b = bone_rotvecs.shape[0]
        rot = torch.eye(3).repeat(b, len(self.bone_labels), 1, 1)
        rot = rot.index_put((torch.arange(b)[:, None], self.fit_bone_index[None]),
                            rotvec_to_rotmat(bone_rotvecs))  # fmt: skip
        if root_rotvec is not None:
            rot = torch.cat([rotvec_to_rotmat(root_rotvec)[:, None], rot[:, 1:]], dim=1)
        zeros = torch.zeros(b, len(self.bone_labels), 3, 1)
        bottom = torch.tensor([0.0, 0.0, 0.0, 1.0]).expand(b, len(self.bone_labels), 1, 4)
        return torch.cat([torch.cat([rot, zeros], dim=-1), bottom], dim=-2)

    def posed_fit(
        self,
        coeffs: torch.Tensor | None,
        deltas: torch.Tensor,
        *,
        orientation: torch.Tensor | None = None,
        rest: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Posed subsample vertices (B, Vs, 3), detector keypoints (B, 23, 3; see
        ``_detector_keypoints``), root at origin, and the rest subsample vertices (B, Vs, 3).
        ``rest`` (vertices, bone poses) skips the shape computation when the shape is fixed."""
        from anny.utils import kinematics

        if rest is None:
            rest_v, rest_poses = self.rest_fit(coeffs, orientation)
        else:
            rest_v, rest_poses = rest
        transforms, _ = kinematics.forward_kinematic(
            self.kinematic_chain, rest_poses, deltas, "local-ref", self.t_ref_orient
        )
        blend = torch.einsum("vj,bjik->bvik", self.t_skin, transforms[..., :3, :])
        verts = (blend[..., :3] * rest_v[..., None, :]).sum(-1) + blend[..., 3]
        kps = torch.einsum("kv,bvd->bkd", self.t_kp, verts)
        return verts, kps, rest_v

    def pose_frame(self, coeffs: torch.Tensor) -> PoseFrame:
        """Shape-dependent constants of the fast posing (no gradient): each pose group's
        skinning blend in the reference pose and the groups' joint centres.

        Refreshed now and then during a fit, like ``orientation``: they move little with
        shape, and the gradient still reaches the shape through the rest vertices."""
        from anny.utils import kinematics

        with torch.no_grad():
            c = coeffs.detach()
            _, rest_poses = self.rest_fit(c)
            zeros = torch.zeros(c.shape[0], len(FIT_BONES), 3)
            transforms, poses = kinematics.forward_kinematic(
                self.kinematic_chain, rest_poses, self.deltas(zeros), "local-ref",
                self.t_ref_orient,
            )  # fmt: skip
            blend = torch.einsum(
                "vj,jg,bjik->bgikv", self.t_skin, self.t_group, transforms[..., :3, :]
            )
            centres = poses[:, self.group_bones, :3, 3]
            heads = self.group_heads(c)
        return PoseFrame(blend.reshape(c.shape[0], -1, 4 * blend.shape[-1]), centres, heads)

    def group_heads(self, coeffs: torch.Tensor) -> torch.Tensor:
        """Rest joint centres (B, G, 3) of the pose groups: linear in the shape, so cheap
        and differentiable (the fit moves the frame's centres with them between refreshes)."""
        return self.t_group_heads + torch.einsum("bk,kjd->bjd", coeffs, self.t_group_heads_blend)

    def posed(
        self, coeffs: torch.Tensor, bone_rotvecs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posed subsample vertices and keypoints of one shape, through a fresh pose frame
        (for one-off posing outside a fit's loop, which keeps its frame between steps)."""
        frame = self.pose_frame(coeffs)
        return self.posed_groups(frame, self.rest_vertices(coeffs), bone_rotvecs)

    def posed_groups(
        self,
        frame: PoseFrame,
        rest_v: torch.Tensor,
        bone_rotvecs: torch.Tensor,
        heads: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posed subsample vertices (B, Vs, 3) and detector keypoints (B, 23, 3) of rest
        vertices (B, Vs, 3): each fitted bone turns its group (and, through the chain, its
        descendants) about its joint centre, in world-aligned axes, exactly as Anny's
        'local-ref' deltas do."""
        rot = rotvec_to_rotmat(bone_rotvecs)  # (B, nb, 3, 3)
        bsz = rot.shape[0]
        # Each group turns about its joint centre c: x -> r (x - c) + c, after its parent's
        # transform; one batched product per depth level of the 13-group chain.
        centres = frame.centres if heads is None else frame.centres + (heads - frame.heads)
        local_t = centres[:, 1:] - (rot @ centres[:, 1:, :, None])[..., 0]
        rs = torch.eye(3).expand(bsz, 1, 3, 3)
        ts = torch.zeros(bsz, 1, 3)
        for groups, parents in self.group_levels:
            r, t = rot[:, groups - 1], local_t[:, groups - 1]
            pr, pt = rs[:, parents], ts[:, parents]
            rs = torch.cat([rs, pr @ r], 1)
            ts = torch.cat([ts, pt + (pr @ t[..., None])[..., 0]], 1)
        rs, ts = rs[:, self.group_order], ts[:, self.group_order]
        # Each vertex's own 3x4 transform, the groups' rotations folded into its reference-pose
        # blend in one (3, 3G) x (3G, 4 Vs) product, then applied to its rest position: folding
        # first keeps the per-vertex work at 3x4 (not 3x4 per group) forwards and backwards.
        # Vertices last throughout: elementwise work over (.., 4, Vs) runs ~4x faster than
        # over (.., Vs, 4).
        nv = rest_v.shape[1]
        per_vertex = (rs.transpose(1, 2).reshape(bsz, 3, -1) @ frame.blend).reshape(bsz, 3, 4, nv)
        homogeneous = torch.cat([rest_v.transpose(1, 2), torch.ones(bsz, 1, nv)], 1)
        verts = (per_vertex * homogeneous[:, None]).sum(2).transpose(1, 2)
        verts = verts + self.t_group_weight @ ts
        kps = torch.einsum("kv,bvd->bkd", self.t_kp, verts)
        return verts, kps

    # -------------------------------------------------------------------------- full mesh
    def full_coefficients(
        self, phenotype: dict[str, float] | None = None, local: dict[str, float] | None = None
    ) -> torch.Tensor:
        m = self.anny
        ph = m._parse_parameter_kwargs(phenotype or {}, self.phenotype_labels, 0.5, "phenotype")
        lc = m._parse_parameter_kwargs(local or {}, self.local_change_labels, 0.0, "local")
        fa = torch.zeros(1, 0, dtype=m.dtype)
        with torch.no_grad():
            return m._get_phenotype_blendshape_coefficients(ph, lc, fa)

    def rest_body(
        self, phenotype: dict[str, float] | None = None, local: dict[str, float] | None = None
    ) -> RestBody:
        """Full-resolution rest body (float64) for any phenotype / local changes."""
        coeffs = self.full_coefficients(phenotype, local)
        with torch.no_grad():
            rest = self.anny.get_rest_model(coeffs)
        return RestBody(
            rest["rest_vertices"][0].numpy().astype(np.float64),
            rest["rest_bone_heads"][0].numpy().astype(np.float64),
        )

    def posed_full(
        self,
        phenotype: dict[str, float] | None,
        local: dict[str, float] | None,
        bone_rotvecs: np.ndarray,
    ) -> np.ndarray:
        """Full posed vertices (V, 3), root at origin, for FIT_BONES rotation vectors (nb, 3).

        Used to render synthetic photos of known bodies (benchmark, tests)."""
        coeffs = self.full_coefficients(phenotype, local)
        d = self.deltas(torch.as_tensor(bone_rotvecs, dtype=torch.float32)[None])
        with torch.no_grad():
            out = self.anny(
                pose_parameters=d.to(torch.float64),
                phenotype_kwargs=self.anny._parse_parameter_kwargs(
                    phenotype or {}, self.phenotype_labels, 0.5, "phenotype"
                ),
                local_changes_kwargs=self.anny._parse_parameter_kwargs(
                    local or {}, self.local_change_labels, 0.0, "local"
                ),
            )
        del coeffs
        return out["vertices"][0].numpy()

    def keypoints_full(self, vertices: np.ndarray) -> np.ndarray:
        """Anny's anatomical COCO(+feet) keypoints (23, 3) of a full-resolution vertex array."""
        w = self.t_kp_coco.numpy().astype(np.float64)
        return w @ vertices[self.fit_index]


def rotvec_to_rotmat(rotvec: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) of rotation vectors (..., 3): Rodrigues' formula with
    sinc terms, exact and smooth through zero (a fit starts its bones there) in half the
    small ops of ``roma.rotvec_to_rotmat``, which a fit calls twice a step."""
    theta = torch.linalg.vector_norm(rotvec, dim=-1)[..., None, None]
    x, y, z = rotvec.unbind(-1)
    o = torch.zeros_like(x)
    skew = torch.stack([o, -z, y, z, o, -x, -y, x, o], -1).reshape(*rotvec.shape[:-1], 3, 3)
    a = torch.sinc(theta / math.pi)  # sin θ / θ
    b = 0.5 * torch.sinc(theta / (2.0 * math.pi)).square()  # (1 − cos θ) / θ²
    return torch.eye(3, dtype=rotvec.dtype) + a * skew + b * (skew @ skew)


def _phenotype_columns() -> dict[str, list[int]]:
    """Each phenotype's columns in Anny's stacked variation order (its blendshape mask)."""
    from anny.models.phenotype import PHENOTYPE_VARIATIONS

    cols, start = {}, 0
    for label, variations in PHENOTYPE_VARIATIONS.items():
        cols[label] = list(range(start, start + len(variations)))
        start += len(variations)
    return cols


def _anchor_dict(m) -> dict[str, torch.Tensor]:
    return {name: getattr(m.anchors, name) for name in dict(m.anchors.named_buffers())}


@registry.register("anny")
def _build_anny() -> AnnyBody:
    return AnnyBody()


def get_body_model() -> AnnyBody:
    """The shared AnnyBody (built once, ~5 s with a warm cache)."""
    return registry.get("anny")
