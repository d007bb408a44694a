"""Fit Anny's shape to a real person's measurements (ANSUR II), so benchmark bodies are realistic.

Why: random Anny parameters give bodies unlike real adults, so a benchmark built on them says
little about real customers (the height/weight/sex calculator scores 6–7 cm there versus ~3 cm on
real people). Fitting Anny's phenotype and local shape controls to one ANSUR subject's stature,
mass and girths/lengths gives a mesh that carries that person's proportions.

Measuring here is differentiable and batched: each girth is the convex-hull perimeter (a tape
bridges hollows) of a fixed *band of vertices* picked once on the neutral template at an
anatomical level (bust point, navel, buttocks, ...), projected on the band's plane. Because Anny
keeps its topology, a band follows the same anatomy on every body. Levels mirror ANSUR II
landmarks (waist at the navel, chest at the bust point, hip at maximum buttock protrusion).
Mass = mesh volume × 1000 kg/m³.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from bodylens.body.measurements import NAVEL_FRACTION
from bodylens.body.model import bone_descendants

# Local shape controls the fit moves, in [-1, 1].
FIT_LOCAL = (
    "measure-bust-circ-incr",
    "measure-underbust-circ-incr",
    "measure-waist-circ-incr",
    "measure-hips-circ-incr",
    "measure-neck-circ-incr",
    "measure-thigh-circ-incr",
    "measure-calf-circ-incr",
    "measure-ankle-circ-incr",
    "measure-wrist-circ-incr",
    "measure-upperarm-circ-incr",
    "measure-upperarm-length-incr",
    "measure-lowerarm-length-incr",
    "measure-upperleg-height-incr",
    "measure-lowerleg-height-incr",
    "measure-shoulder-dist-incr",
    "measure-napetowaist-dist-incr",
    "measure-waisttohip-dist-incr",
    "torso-scale-depth-incr",
    "torso-scale-horiz-incr",
    "hip-scale-depth-incr",
    "hip-scale-horiz-incr",
    "stomach-pregnant-incr",
    "buttocks-volume-incr",
)
FREE_PHENOTYPES = ("muscle", "weight", "height", "proportions")
# Measurements ANSUR II and these tape measures both define (what a photo fit can be scored on
# and what the prior can read from a fitted body).
ANSUR_SHARED = (
    "chest_girth",
    "waist_girth",
    "hip_girth",
    "neck_girth",
    "thigh_girth",
    "calf_girth",
    "ankle_girth",
    "wrist_girth",
    "shoulder_width",
    "arm_length",
    "inside_leg",
)
DENSITY = 1000.0  # kg/m³; the brief's "mass ≈ volume × ~1000"
# Anny's own calibration of its age parameter against years (anny/data/shape_calibration).
_AGE_YEARS = (16.0, 18.0, 64.0, 110.0)
_AGE_ANNY = (0.67, 0.77, 0.83, 1.0)
# Tolerated error per target (cm, kg). Breadths/depths are looser: ANSUR's caliper landmarks
# differ from the extent of a mesh band.
TARGET_SCALE = {
    "height": 0.3,
    "weight": 0.7,
    "chest_girth": 1.0,
    "waist_girth": 1.0,
    "hip_girth": 1.0,
    "neck_girth": 0.7,
    "thigh_girth": 1.0,
    "calf_girth": 0.8,
    "ankle_girth": 0.8,
    "wrist_girth": 0.5,
    "shoulder_width": 0.8,
    "inside_leg": 0.8,
    "arm_length": 1.0,
    "chest_breadth": 2.5,
    "chest_depth": 2.5,
    "waist_breadth": 2.5,
    "waist_depth": 2.5,
    "hip_breadth": 2.5,
    "hip_depth": 2.5,
}


def anny_age(years: float | np.ndarray) -> np.ndarray:
    """Years -> Anny's age parameter (its own calibration; 18 y -> 0.77, 64 y -> 0.83)."""
    return np.interp(years, _AGE_YEARS, _AGE_ANNY)


def anny_gender(sex: str) -> float:
    """Anny's gender phenotype: 0 = male, 1 = female (anchors ``male``, ``female``)."""
    return 0.0 if sex == "male" else 1.0


@dataclass(frozen=True)
class Ring:
    """A band of template vertices measured as a convex-hull perimeter on its plane."""

    index: np.ndarray  # vertex indices
    basis: np.ndarray  # (3, 2) in-plane axes


def _hull_perimeter_2d(pts: np.ndarray) -> float:
    from scipy.spatial import ConvexHull

    hull = ConvexHull(pts)
    ring = pts[hull.vertices]
    return float(np.linalg.norm(ring - np.roll(ring, 1, axis=0), axis=1).sum())


class AnnyMeasurer:
    """Batched, differentiable shape -> measurements (cm, kg) for the default Anny model."""

    def __init__(self, model=None, band_m: float = 0.006) -> None:
        from bodylens.body.anny_model import new_anny

        self.model = model if model is not None else new_anny(local_changes="default")
        m = self.model
        m.requires_grad_(False)
        self.labels = list(m.bone_labels)
        self.faces = torch.as_tensor(m.get_triangular_faces().cpu().numpy().astype(np.int64))
        self.local_index = [list(m.local_change_labels).index(n) for n in FIT_LOCAL]
        self.pheno_labels = list(m.phenotype_labels)
        parents = [int(p) for p in m.bone_parents]
        dense = torch.zeros(m.template_vertices.shape[0], len(self.labels), dtype=torch.float64)
        dense.scatter_add_(1, m.vertex_bone_indices.long(), m.vertex_bone_weights.double())
        dom = dense.argmax(1).numpy()
        self.dominant = dom
        arm = {s: bone_descendants(self.labels, parents, f"shoulder01.{s}") for s in "LR"}
        leg = {s: bone_descendants(self.labels, parents, f"upperleg01.{s}") for s in "LR"}
        self.part = np.zeros(len(dom), np.int8)  # 0 trunk/head, 1/2 arms, 3/4 legs
        for code, bones in ((1, arm["L"]), (2, arm["R"]), (3, leg["L"]), (4, leg["R"])):
            self.part[np.isin(dom, list(bones))] = code
        # Blendshapes that phenotype and FIT_LOCAL can reach (the rest stay at zero).
        n_pheno = int(m.phenotype_blendshape_projection.shape[1])
        probe = self._default_params(2, "male", 30.0)
        probe["local"] = torch.tensor(
            [[0.5] * len(FIT_LOCAL), [-0.5] * len(FIT_LOCAL)], dtype=torch.float64
        )
        self.active = torch.arange(m.blendshapes.shape[0])
        full = self.coefficients(probe)
        reach = full.abs().sum(0) > 0
        reach[:n_pheno] = True
        self.active = torch.nonzero(reach).ravel()
        self._shapes = m.blendshapes[self.active]
        self._head_shapes = m.bone_heads_blendshapes[self.active]
        rest, heads = self._rest(self._default_params(1, "male", 30.0))
        self._build_landmarks(rest[0].numpy(), heads[0].numpy(), band_m)
        # The vertex subset the measurements read, and the rings re-indexed into it.
        v0 = rest[0].numpy()
        top = np.flatnonzero(v0[:, 2] > v0[:, 2].max() - 0.02)
        bottom = np.flatnonzero(v0[:, 2] < v0[:, 2].min() + 0.02)
        used = [top, bottom, [self.crotch, *self.acromion.values()]]
        used += [r.index for r in self.rings.values()]
        self.sub = np.unique(np.concatenate([np.asarray(u, np.int64) for u in used]))
        pos = {int(v): i for i, v in enumerate(self.sub)}
        self._sub_index = {
            "top": [pos[int(i)] for i in top],
            "bottom": [pos[int(i)] for i in bottom],
            "crotch": pos[self.crotch],
            "acromion.L": pos[self.acromion["L"]],
            "acromion.R": pos[self.acromion["R"]],
        }
        self._sub_rings = {k: [pos[int(i)] for i in r.index] for k, r in self.rings.items()}
        self._sub_template = m.template_vertices[self.sub]
        self._sub_shapes = self._shapes[:, self.sub]

    # ------------------------------------------------------------------ model evaluation
    def _default_params(self, batch: int, sex: str, age: float) -> dict[str, torch.Tensor]:
        ph = torch.full((batch, len(self.pheno_labels)), 0.5, dtype=torch.float64)
        ph[:, self.pheno_labels.index("gender")] = anny_gender(sex)
        ph[:, self.pheno_labels.index("age")] = float(anny_age(age))
        return {"phenotype": ph, "local": torch.zeros(batch, len(FIT_LOCAL), dtype=torch.float64)}

    def coefficients(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """Blendshape coefficients (B, K) of the shapes the fit can move (phenotype + FIT_LOCAL)."""
        m = self.model
        batch = params["phenotype"].shape[0]
        local = torch.zeros(batch, len(m.local_change_labels), dtype=torch.float64)
        local = local.index_copy(1, torch.as_tensor(self.local_index), params["local"])
        _, ph, lc, fa = m.get_tensor_inputs(None, params["phenotype"], local, None)
        coeffs = m._get_phenotype_blendshape_coefficients(ph, lc, fa)
        return coeffs[:, self.active]

    def _rest(self, params: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Full rest mesh (B, V, 3) and bone heads (B, J, 3), metres."""
        c = self.coefficients(params)
        rest = self.model.template_vertices[None] + torch.einsum("bk,kvc->bvc", c, self._shapes)
        return rest, self._heads(c)

    def _heads(self, c: torch.Tensor) -> torch.Tensor:
        return self.model.template_bone_heads[None] + torch.einsum(
            "bk,kjc->bjc", c, self._head_shapes
        )

    def _rest_subset(self, c: torch.Tensor) -> torch.Tensor:
        """Only the vertices the measurements read: ~1,000 of 13,718, so a fit step is cheap."""
        return self._sub_template[None] + torch.einsum("bk,kvc->bvc", c, self._sub_shapes)

    # ------------------------------------------------------------------ landmarks on template
    def _band(self, v: np.ndarray, sel: np.ndarray, center: np.ndarray, axis: np.ndarray, w: float):
        axis = axis / np.linalg.norm(axis)
        d = (v - center) @ axis
        # Widen the band until it holds enough vertices to outline the section.
        idx = np.flatnonzero(sel & (np.abs(d) < w))
        while len(idx) < 24 and w < 0.03:
            w *= 1.3
            idx = np.flatnonzero(sel & (np.abs(d) < w))
        u = np.cross(axis, [1.0, 0, 0] if abs(axis[0]) < 0.9 else [0, 1.0, 0])
        u /= np.linalg.norm(u)
        basis = np.stack([u, np.cross(axis, u)], axis=1)
        if abs(axis[2]) > 0.9:  # horizontal plane: keep x = breadth, y = depth
            basis = np.array([[1.0, 0], [0, 1.0], [0, 0]])
        return Ring(idx, basis)

    def _build_landmarks(self, v: np.ndarray, heads: np.ndarray, w: float) -> None:
        def bone(name: str) -> np.ndarray:
            return heads[self.labels.index(name)]

        floor, top = v[:, 2].min(), v[:, 2].max()
        stature = top - floor
        trunk = self.part == 0
        no_arms = (self.part != 1) & (self.part != 2)
        up = np.array([0, 0, 1.0])
        # Crotch: lowest trunk vertex on the mid-line below the pelvis.
        mid = trunk & (np.abs(v[:, 0]) < 0.012) & (v[:, 2] < bone("root")[2])
        self.crotch = int(np.flatnonzero(mid)[np.argmin(v[mid, 2])])
        zc = v[self.crotch, 2]
        # Bust point: most anterior trunk vertex in the chest band (front is -y).
        zs = bone("upperarm01.R")[2]
        band = trunk & (v[:, 2] > zs - 0.11 * stature) & (v[:, 2] < zs - 0.04 * stature)
        band &= np.abs(v[:, 0]) < 0.2
        zb = v[np.flatnonzero(band)[np.argmin(v[band, 1])], 2]
        # Navel level from ANSUR's mean proportions (omphalion between crotch and chest).
        zw = zc + NAVEL_FRACTION * (zb - zc)

        def hull_at(z: float, sel: np.ndarray) -> float:
            r = self._band(v, sel, np.array([0, 0, z]), up, w)
            return _hull_perimeter_2d(v[r.index] @ r.basis) if len(r.index) > 3 else 0.0

        # Hip: the level of maximum girth between crotch and navel.
        zh = max(np.linspace(zc + 0.01 * stature, zw - 0.04, 12), key=lambda z: hull_at(z, no_arms))
        right_leg = self.part == 4
        knee, ankle = bone("lowerleg01.R")[2], bone("foot.R")[2]
        zcalf = max(
            np.linspace(knee - 0.2 * (knee - ankle), knee - 0.5 * (knee - ankle), 7),
            key=lambda z: hull_at(z, right_leg),
        )
        zank = min(np.linspace(ankle + 0.04, ankle + 0.12, 5), key=lambda z: hull_at(z, right_leg))
        neck_a, neck_b = bone("neck01"), bone("head")
        # Trunk/head vertices within 8 cm of the neck axis: the tube, not the jaw above it.
        axis = (neck_b - neck_a) / np.linalg.norm(neck_b - neck_a)
        rel = v - neck_a
        radial = np.linalg.norm(rel - np.outer(rel @ axis, axis), axis=1)
        neck = (self.part == 0) & (radial < 0.08)
        arm_r = self.part == 2
        fore_a, wrist = bone("lowerarm01.R"), bone("wrist.R")
        self.rings: dict[str, Ring] = {
            "chest": self._band(v, no_arms, np.array([0, 0, zb]), up, w),
            "waist": self._band(v, no_arms, np.array([0, 0, zw]), up, w),
            "hip": self._band(v, no_arms, np.array([0, 0, zh]), up, w),
            "thigh": self._band(v, right_leg, np.array([0, 0, zc - 0.02]), up, w),
            "calf": self._band(v, right_leg, np.array([0, 0, zcalf]), up, w),
            "ankle": self._band(v, right_leg, np.array([0, 0, zank]), up, w),
            "neck": self._band(v, neck, neck_a + 0.55 * (neck_b - neck_a), neck_b - neck_a, w),
            "wrist": self._band(v, arm_r, fore_a + 0.97 * (wrist - fore_a), wrist - fore_a, w),
        }
        # Acromion: the top of the shoulder straight above the shoulder joint.
        self.acromion = {}
        for s in "LR":
            j = bone(f"upperarm01.{s}")
            near = (np.abs(v[:, 0] - j[0]) < 0.012) & (np.abs(v[:, 1] - j[1]) < 0.03)
            near &= v[:, 2] > j[2]
            self.acromion[s] = int(np.flatnonzero(near)[np.argmax(v[near, 2])])
        self.bone_ids = {n: self.labels.index(n) for n in ("lowerarm01.R", "wrist.R")}

    # ------------------------------------------------------------------ measurements
    def volume(self, rest: torch.Tensor) -> torch.Tensor:
        """Enclosed volume (m³) of full rest meshes (B, V, 3)."""
        tri = rest[:, self.faces]
        return (torch.cross(tri[:, :, 0], tri[:, :, 1], dim=-1) * tri[:, :, 2]).sum(
            (1, 2)
        ).abs() / 6

    def measure(
        self, sub: torch.Tensor, heads: torch.Tensor, weight: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Measurements (cm, kg) from the subset vertices (B, len(self.sub), 3), bone heads and
        mass (kg)."""
        si = self._sub_index
        out: dict[str, torch.Tensor] = {}
        floor = sub[:, si["bottom"], 2].min(dim=1).values
        out["height"] = (sub[:, si["top"], 2].max(dim=1).values - floor) * 100
        out["weight"] = weight
        for name, ring in self.rings.items():
            pts = sub[:, self._sub_rings[name]] @ torch.as_tensor(ring.basis, dtype=sub.dtype)
            out[f"{name}_girth"] = _batched_hull_perimeter(pts) * 100
            if name in ("chest", "waist", "hip"):
                ext = pts.max(dim=1).values - pts.min(dim=1).values
                out[f"{name}_breadth"] = ext[:, 0] * 100
                out[f"{name}_depth"] = ext[:, 1] * 100
        acr_l, acr_r = sub[:, si["acromion.L"]], sub[:, si["acromion.R"]]
        out["shoulder_width"] = (acr_l - acr_r).norm(dim=-1) * 100
        elbow, wrist = heads[:, self.bone_ids["lowerarm01.R"]], heads[:, self.bone_ids["wrist.R"]]
        out["arm_length"] = ((elbow - acr_r).norm(dim=-1) + (wrist - elbow).norm(dim=-1)) * 100
        out["inside_leg"] = (sub[:, si["crotch"], 2] - floor) * 100
        return out

    def measure_params(self, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Exact measurements (full mesh volume) of a batch of shape parameters."""
        c = self.coefficients(params)
        rest = self.model.template_vertices[None] + torch.einsum("bk,kvc->bvc", c, self._shapes)
        return self.measure(rest[:, self.sub], self._heads(c), self.volume(rest) * DENSITY)


def _batched_hull_perimeter(pts: torch.Tensor) -> torch.Tensor:
    """Convex-hull perimeter per batch item; hull membership from detached points, length
    differentiable (a tape measure spans hollows, so the hull, not the outline)."""
    from scipy.spatial import ConvexHull

    p = pts.detach().cpu().numpy()
    orders = [ConvexHull(p[b]).vertices for b in range(len(p))]
    n = max(len(o) for o in orders)
    idx = np.stack([np.concatenate([o, np.full(n - len(o), o[-1])]) for o in orders])
    ring = torch.gather(pts, 1, torch.as_tensor(idx)[..., None].expand(-1, -1, pts.shape[-1]))
    closed = torch.cat([ring, ring[:, :1]], dim=1)
    return (closed[:, 1:] - closed[:, :-1]).norm(dim=-1).sum(dim=1)


@dataclass
class FitResult:
    phenotype: np.ndarray  # (B, 6) in Anny's phenotype_labels order
    local: np.ndarray  # (B, len(FIT_LOCAL)) in [-1, 1]
    measured: dict[str, np.ndarray]  # measurements of the fitted meshes


def fit_subjects(
    measurer: AnnyMeasurer,
    targets: dict[str, np.ndarray],
    sex: np.ndarray,
    age: np.ndarray,
    steps: int = 250,
    lr: float = 0.06,
    local_l2: float = 0.02,
) -> FitResult:
    """Fit phenotype (muscle, weight, height, proportions; gender and age fixed from the
    subject) and FIT_LOCAL controls to each subject's targets, all subjects in one batch."""
    batch = len(sex)
    base = measurer._default_params(batch, "male", 30.0)
    ph0 = base["phenotype"].clone()
    gi, ai = measurer.pheno_labels.index("gender"), measurer.pheno_labels.index("age")
    ph0[:, gi] = torch.as_tensor([anny_gender(s) for s in sex], dtype=torch.float64)
    ph0[:, ai] = torch.as_tensor(anny_age(np.asarray(age, float)), dtype=torch.float64)
    free = [measurer.pheno_labels.index(n) for n in FREE_PHENOTYPES]
    # Unconstrained variables: phenotype through a sigmoid, local changes through tanh.
    ph_raw = torch.zeros(batch, len(free), dtype=torch.float64, requires_grad=True)
    lc_raw = torch.zeros(batch, len(FIT_LOCAL), dtype=torch.float64, requires_grad=True)
    names = [n for n in TARGET_SCALE if n in targets]
    tgt = {n: torch.as_tensor(np.asarray(targets[n], float)) for n in names}
    opt = torch.optim.Adam([ph_raw, lc_raw], lr=lr)

    def params() -> dict[str, torch.Tensor]:
        ph = ph0.clone()
        ph[:, free] = torch.sigmoid(ph_raw)
        return {"phenotype": ph, "local": torch.tanh(lc_raw)}

    shapes = measurer._shapes
    template = measurer.model.template_vertices[None]
    for step in range(steps):
        opt.zero_grad()
        p = params()
        c = measurer.coefficients(p)
        if step % 10 == 0:
            # Mass needs the whole mesh: refresh its value and gradient every 10 steps and use
            # the linearisation in between (10x cheaper; volume is smooth in the shape).
            c0 = c.detach().requires_grad_(True)
            vol0 = measurer.volume(template + torch.einsum("bk,kvc->bvc", c0, shapes))
            (g0,) = torch.autograd.grad(vol0.sum(), c0)
            vol0, c0 = vol0.detach(), c0.detach()
        weight = (vol0 + ((c - c0) * g0).sum(dim=1)) * DENSITY
        meas = measurer.measure(measurer._rest_subset(c), measurer._heads(c), weight)
        loss = sum(((meas[n] - tgt[n]) / TARGET_SCALE[n]) ** 2 for n in names) / len(names)
        loss = loss + local_l2 * (p["local"] ** 2).sum(dim=1)
        loss.sum().backward()
        opt.step()
        if step == steps // 2:
            for g in opt.param_groups:
                g["lr"] = lr / 3
    with torch.no_grad():
        p = params()
        meas = measurer.measure_params(p)
    return FitResult(
        p["phenotype"].numpy(),
        p["local"].numpy(),
        {k: v.numpy() for k, v in meas.items()},
    )


def random_phenotype_params(measurer: AnnyMeasurer, n: int, seed: int = 0):
    """Uniform random adult phenotypes and small random local changes (the 'unrealistic' set)."""
    rng = np.random.default_rng(seed)
    ph = rng.uniform(0, 1, (n, len(measurer.pheno_labels)))
    ph[:, measurer.pheno_labels.index("age")] = anny_age(rng.uniform(18, 80, n))
    sex = np.where(ph[:, measurer.pheno_labels.index("gender")] < 0.5, "male", "female")
    local = rng.uniform(-0.3, 0.3, (n, len(FIT_LOCAL)))
    return {"phenotype": torch.as_tensor(ph), "local": torch.as_tensor(local)}, sex


__all__ = [
    "FIT_LOCAL",
    "AnnyMeasurer",
    "FitResult",
    "anny_age",
    "fit_subjects",
    "random_phenotype_params",
    "math",
]
