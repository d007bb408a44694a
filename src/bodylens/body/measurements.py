"""The measurement table: every body measurement defined once.

Each entry has its canonical ISO 8559-1 style English name, the aliases a client may send
(English variants and the French names a French shop uses), the ISO 8559-1:2017 term it
follows, how it is taken on the fitted Anny mesh, and how a person would take it on themselves.
All are taken on the body in Anny's neutral standing rest pose (Z up, metres, facing -Y).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from bodylens.body.geometry import girth, hull_perimeter_2d, outline_length, section_loops
from bodylens.errors import InputError

if TYPE_CHECKING:
    from bodylens.body.model import AnnyBody, RestBody


# The navel (omphalion) level between the crotch and the bust point, from ANSUR II's mean
# proportions: where ANSUR takes its waist girth, and this table its stomach girth.
NAVEL_FRACTION = 0.484


@dataclass(frozen=True)
class Measurement:
    name: str
    iso: str  # the ISO 8559-1:2017 term this follows
    kind: str  # "girth" | "length" | "height" | "width"
    method: str  # how it is taken on the mesh
    description: str  # how a person takes it on themselves
    aliases: tuple[str, ...] = ()
    # One-sigma error with the height given, from benchmarks/measure_synthetic.py (MAE x 1.25;
    # synthetic bodies in tight clothes, so real photos do worse).
    sigma_cm: float = 2.0
    compute: Callable[[_Ctx], float] = field(default=lambda ctx: 0.0, repr=False, compare=False)


def normalize_name(name: str) -> str:
    """Case, accent, space and hyphen-insensitive key: 'Tour de Hanches' -> 'tour_de_hanches'."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    text = text.strip().lower()
    for ch in " -./'":
        text = text.replace(ch, "_")
    while "__" in text:
        text = text.replace("__", "_")
    return text.strip("_")


class _Ctx:
    """Per-body cache of levels and landmarks shared by several measurements."""

    def __init__(self, model: AnnyBody, rest: RestBody) -> None:
        self.model = model
        self.v = rest.vertices
        self.heads = rest.bone_heads
        self.floor = float(self.v[:, 2].min())
        self.stature = float(self.v[:, 2].max() - self.floor)
        part = model.part
        faces = model.faces
        fpart = part[faces]
        self.faces_no_arms = faces[np.all((fpart != 1) & (fpart != 2), axis=1)]
        self.faces_right_arm = faces[np.all(fpart == 2, axis=1)]
        self.faces_trunk = faces[np.all(fpart == 0, axis=1)]
        self._cache: dict[str, float] = {}
        self._arrays: dict[str, np.ndarray] = {}

    def bone(self, label: str) -> np.ndarray:
        return self.heads[self.model.bone_labels.index(label)]

    def vertex(self, landmark: str) -> np.ndarray:
        return self.v[self.model.landmarks[landmark]]

    def hgirth(self, z: float, faces: np.ndarray, point_xy: np.ndarray | None = None) -> float:
        """Horizontal girth at height z; with point_xy, the loop nearest that point only."""
        up = np.array([0.0, 0.0, 1.0])
        if point_xy is None:
            return girth(self.v, faces, np.array([0.0, 0.0, z]), up, nearest_loop=False)
        p = np.array([point_xy[0], point_xy[1], z])
        return girth(self.v, faces, p, up, nearest_loop=True)

    def memo(self, key: str, fn: Callable[[], float]) -> float:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    # --- levels -------------------------------------------------------------------------
    def crotch_z(self) -> float:
        def f() -> float:
            v = self.v
            pelvis = self.bone("root")[2]
            mid = (np.abs(v[:, 0]) < 0.012) & (v[:, 2] < pelvis) & (self.model.part == 0)
            return float(v[mid, 2].min())

        return self.memo("crotch_z", f)

    def shoulder_z(self) -> float:
        return float(self.bone("upperarm01.R")[2])

    def bust_z(self) -> float:
        def f() -> float:
            v, h = self.v, self.stature
            zs = self.shoulder_z()
            band = (self.model.part == 0) & (v[:, 2] > zs - 0.11 * h) & (v[:, 2] < zs - 0.04 * h)
            band &= np.abs(v[:, 0]) < 0.2
            i = np.flatnonzero(band)
            return float(v[i[np.argmin(v[i, 1])], 2])

        return self.memo("bust_z", f)

    def front_depth(self, z: float) -> float:
        """Most anterior (min y) torso point near height z."""
        v = self.v
        sel = (self.model.part == 0) & (np.abs(v[:, 2] - z) < 0.006) & (np.abs(v[:, 0]) < 0.2)
        return float(v[sel, 1].min()) if sel.any() else 0.0

    def waist_z(self) -> float:
        def f() -> float:
            lo = self.crotch_z() + 0.40 * (self.bust_z() - self.crotch_z())
            hi = self.bust_z() - 0.06 * self.stature
            zs = np.linspace(lo, hi, 9)
            g = [self.hgirth(z, self.faces_no_arms) for z in zs]
            return float(zs[int(np.argmin(g))])

        return self.memo("waist_z", f)

    def navel_z(self) -> float:
        """The navel (omphalion) level, ANSUR II's waist: a landmark vertex of the template
        (``AnnyBody._find_landmarks``), so that lengths to it do not jump when a belly moves
        the narrowest level up."""
        return float(self.vertex("navel")[2])

    def hip_z(self) -> float:
        """The level of the hip girth: the largest trunk girth between crotch and waist."""

        def f() -> float:
            zc = self.crotch_z()
            top = min(zc + 0.13 * self.stature, self.waist_z() - 0.05)
            zs = np.linspace(zc + 0.01 * self.stature, top, 9)
            girths = [self.hgirth(float(z), self.faces_no_arms) for z in zs]
            return float(zs[int(np.argmax(girths))])

        return self.memo("hip_z", f)

    def midline(self) -> np.ndarray:
        """(y, z) outline of the trunk's midsagittal section (1 mm off the plane x = 0, where
        the mesh's midline vertices lie, so that every face there crosses it cleanly)."""
        if "midline" not in self._arrays:
            x = np.array([1.0, 0.0, 0.0])
            loops = section_loops(self.v, self.faces_trunk, 0.001 * x, x)
            pts = np.concatenate(loops) if loops else np.zeros((0, 3))
            self._arrays["midline"] = pts[:, 1:]
        return self._arrays["midline"]

    def midline_half(self, back: bool) -> np.ndarray:
        """The back (or front) outline of ``midline``: the points behind (in front of) the
        middle of the outline's depth at their own level (within 2 cm)."""
        yz = self.midline()
        if "midline_middle" not in self._arrays:
            near = np.abs(yz[:, 1, None] - yz[None, :, 1]) < 0.02
            y = np.where(near, yz[None, :, 0], np.nan)
            self._arrays["midline_middle"] = 0.5 * (np.nanmin(y, axis=1) + np.nanmax(y, axis=1))
        middle = self._arrays["midline_middle"]
        return yz[yz[:, 0] > middle] if back else yz[yz[:, 0] < middle]

    def ankle_z(self) -> float:
        return float(self.bone("foot.R")[2])

    def knee_z(self) -> float:
        return float(self.bone("lowerleg01.R")[2])

    def leg_axis(self, z: float) -> np.ndarray:
        """(x, y) of the right leg's bone axis at height z."""
        chain = [self.bone("upperleg01.R"), self.bone("lowerleg01.R"), self.bone("foot.R")]
        for a, b in zip(chain[:-1], chain[1:], strict=True):
            if min(a[2], b[2]) <= z <= max(a[2], b[2]):
                t = (z - a[2]) / (b[2] - a[2])
                return (a + t * (b - a))[:2]
        return chain[0][:2] if z > chain[0][2] else chain[-1][:2]


# ------------------------------------------------------------------------------ measures
def _height(c: _Ctx) -> float:
    return c.stature


def _chest(c: _Ctx) -> float:
    zb = c.bust_z()
    return max(c.hgirth(zb + dz, c.faces_no_arms) for dz in (-0.015, -0.0075, 0.0, 0.0075))


def _underbust(c: _Ctx) -> float:
    zb = c.bust_z()
    zs = np.linspace(zb - 0.07 * c.stature, zb - 0.025 * c.stature, 7)
    # The inframammary fold: the level where the front of the torso is most set back.
    z = zs[int(np.argmax([c.front_depth(z) for z in zs]))]
    return c.hgirth(float(z), c.faces_no_arms)


def _waist(c: _Ctx) -> float:
    return c.hgirth(c.waist_z(), c.faces_no_arms)


def _hip(c: _Ctx) -> float:
    return c.hgirth(c.hip_z(), c.faces_no_arms)


def _stomach(c: _Ctx) -> float:
    # At the navel, where ANSUR II takes its waist girth: the fusion then corrects it with the
    # ANSUR prior's waist (``fusion.CARRIED``).
    return c.hgirth(c.navel_z(), c.faces_no_arms)


def _back_neck_to_waist(c: _Ctx) -> float:
    # Cervicale: the back of the neck's base (the neck joint's level); the tape runs down the
    # spine's outline to the navel level (ANSUR II's waist back length), bridging hollows.
    zw, zn = c.navel_z(), float(c.bone("neck01")[2])
    back = c.midline_half(back=True)
    back = back[(back[:, 1] >= zw) & (back[:, 1] <= zn)]
    return outline_length(np.stack([back[:, 1], back[:, 0]], axis=1))


def _crotch_length(c: _Ctx) -> float:
    # Front waist (navel level, as ANSUR II takes it), down between the legs, up to the back
    # waist: the side-view hull of the trunk within 7 cm of the midline, less its top edge.
    # The band, not the midline itself: the tape rests on the buttocks, not in the cleft
    # (58.4 cm on average on 60 Anny bodies of ANSUR subjects, whose own crotch length
    # averages 62.3; the midline section alone read about 5 cm less).
    zn, v = c.navel_z(), c.v
    band = v[(c.model.part == 0) & (np.abs(v[:, 0]) < 0.07) & (v[:, 2] < zn)][:, 1:]
    ends = []  # where the midline's front and back outlines cross the navel level
    for back in (False, True):
        half = c.midline_half(back)
        half = half[np.argsort(half[:, 1])]
        ends.append([float(np.interp(zn, half[:, 1], half[:, 0])), zn])
    return hull_perimeter_2d(np.concatenate([band, ends])) - abs(ends[1][0] - ends[0][0])


def _outside_leg(c: _Ctx) -> float:
    # Right side: from the navel level down the body's lateral outline (over the hip, bridging
    # hollows) to the hip girth's level, then straight down to the floor. Arms excluded: a
    # hanging hand is not the hip. (To the profile's widest point instead, the path wandered
    # down the spread thigh: 4.3 cm MAE on the issue-2 renders.)
    zn, zh = c.navel_z(), c.hip_z()
    if zh >= zn:  # the hip level at or above the navel: nothing to run over
        return zn - c.floor
    # The outline: the right side's most lateral point of horizontal sections 1 cm or less
    # apart (sections, not vertices: a sparse vertex row would dent it).
    up = np.array([0.0, 0.0, 1.0])
    prof = []
    for z in np.linspace(zh, zn, max(2, int(np.ceil((zn - zh) / 0.01)) + 1)):
        loops = section_loops(c.v, c.faces_no_arms, np.array([0.0, 0.0, z]), up)
        if loops:
            prof.append([z, -float(np.concatenate(loops)[:, 0].min())])
    return outline_length(np.array(prof)) + (zh - c.floor)


def _neck(c: _Ctx) -> float:
    a, b = c.bone("neck01"), c.bone("head")
    p = a + 0.55 * (b - a)
    return girth(c.v, c.faces_no_arms, p, b - a, nearest_loop=True)


def _head(c: _Ctx) -> float:
    kp = c.model.keypoints_full(c.v)
    eye_z = float(kp[1:3, 2].mean())
    center = c.bone("head")[:2]
    return max(c.hgirth(eye_z + dz, c.faces_no_arms, center) for dz in (0.015, 0.025, 0.035))


def _shoulder_width(c: _Ctx) -> float:
    return float(np.linalg.norm(c.vertex("acromion.L") - c.vertex("acromion.R")))


def _arm_length(c: _Ctx) -> float:
    pts = [c.vertex("acromion.R"), c.bone("lowerarm01.R"), c.bone("wrist.R")]
    return float(sum(np.linalg.norm(b - a) for a, b in zip(pts[:-1], pts[1:], strict=True)))


def _upper_arm(c: _Ctx) -> float:
    a, b = c.bone("upperarm01.R"), c.bone("lowerarm01.R")
    return max(
        girth(c.v, c.faces_right_arm, a + t * (b - a), b - a, nearest_loop=True)
        for t in (0.4, 0.5, 0.6)
    )


def _wrist(c: _Ctx) -> float:
    a, b = c.bone("lowerarm01.R"), c.bone("wrist.R")
    return girth(c.v, c.faces_right_arm, a + 0.97 * (b - a), b - a, nearest_loop=True)


def _inside_leg(c: _Ctx) -> float:
    return c.crotch_z() - c.floor


def _waist_height(c: _Ctx) -> float:
    return c.waist_z() - c.floor


def _thigh(c: _Ctx) -> float:
    z = c.crotch_z() - 0.02
    return c.hgirth(z, c.faces_no_arms, c.leg_axis(z))


def _mid_thigh(c: _Ctx) -> float:
    z = 0.5 * (c.crotch_z() + c.knee_z())
    return c.hgirth(z, c.faces_no_arms, c.leg_axis(z))


def _knee(c: _Ctx) -> float:
    z = c.knee_z()
    return c.hgirth(z, c.faces_no_arms, c.leg_axis(z))


def _calf(c: _Ctx) -> float:
    zk, za = c.knee_z(), c.ankle_z()
    zs = np.linspace(zk - 0.2 * (zk - za), zk - 0.5 * (zk - za), 7)
    return max(c.hgirth(float(z), c.faces_no_arms, c.leg_axis(float(z))) for z in zs)


def _ankle(c: _Ctx) -> float:
    za = c.ankle_z()
    zs = np.linspace(za + 0.04, za + 0.12, 5)
    return min(c.hgirth(float(z), c.faces_no_arms, c.leg_axis(float(z))) for z in zs)


_ISO = "ISO 8559-1:2017"

TABLE: list[Measurement] = [
    Measurement(
        "height", f"{_ISO} body height (stature)", "height",
        "vertical distance from the floor (lowest sole point) to the top of the head",
        "Stand barefoot against a wall, heels together; mark the top of the head with a flat "
        "object and measure from the floor to the mark.",
        ("stature", "body_height", "hauteur", "stature_totale", "taille_totale"), 0.5, _height,
    ),
    Measurement(
        "head_girth", f"{_ISO} head girth", "girth",
        "horizontal convex-hull girth of the head just above the eyes (max of 3 levels)",
        "Pass the tape around the head above the eyebrows and ears, over the back of the head.",
        ("head", "head_circumference", "tour_tete", "tour_de_tete"), 0.8, _head,
    ),
    Measurement(
        "neck_girth", f"{_ISO} neck girth", "girth",
        "convex-hull girth of the neck loop in the plane perpendicular to the neck axis, "
        "half-way up the neck",
        "Measure around the neck just below the Adam's apple, tape perpendicular to the neck.",
        ("neck", "neck_circumference", "collar", "tour_cou", "tour_de_cou", "encolure"),
        2.4, _neck,
    ),
    Measurement(
        "chest_girth", f"{_ISO} chest girth / bust girth", "girth",
        "maximum horizontal convex-hull girth of the trunk (arms excluded) around the most "
        "prominent point of the chest",
        "Arms relaxed, measure horizontally around the fullest part of the chest or bust, "
        "under the armpits and over the shoulder blades, breathing normally.",
        ("chest", "bust", "bust_girth", "chest_circumference", "bust_circumference",
         "poitrine", "tour_poitrine", "tour_de_poitrine"), 4.8, _chest,
    ),
    Measurement(
        "underbust_girth", f"{_ISO} underbust girth", "girth",
        "horizontal convex-hull girth of the trunk at the level below the chest where the "
        "front of the torso is most set back (inframammary fold)",
        "Measure horizontally around the rib cage directly below the breasts.",
        ("underbust", "under_bust", "underbust_circumference", "sous_poitrine",
         "tour_sous_poitrine", "tour_de_sous_poitrine"), 5.2, _underbust,
    ),
    Measurement(
        "waist_girth", f"{_ISO} waist girth", "girth",
        "minimum horizontal convex-hull girth of the trunk between the hips and the chest "
        "(natural waist)",
        "Measure horizontally around the narrowest part of the torso, between the lowest rib "
        "and the top of the hip bone, without pulling the tape tight.",
        ("waist", "waist_circumference", "taille", "tour_taille", "tour_de_taille"),
        5.0, _waist,
    ),
    Measurement(
        "stomach_girth", f"{_ISO}: no separate term (abdomen girth; ANSUR II's waist)",
        "girth",
        "horizontal convex-hull girth of the trunk at the navel level (a template vertex "
        "48.4 % of the way from the crotch to the bust point, ANSUR II's mean proportion)",
        "Standing relaxed, breathing out normally: measure horizontally around the belly at "
        "the navel, without pulling the tape in.",
        ("stomach", "abdomen", "abdomen_girth", "abdominal_girth", "belly", "tour_ventre",
         "tour_de_ventre", "ventre", "tour_abdomen"), 6.5, _stomach,
    ),
    Measurement(
        "hip_girth", f"{_ISO} hip girth", "girth",
        "maximum horizontal convex-hull girth of the trunk and legs (hands excluded) between "
        "the crotch and the waist",
        "Feet together, measure horizontally around the fullest part of the buttocks.",
        ("hip", "hips", "hip_circumference", "hanche", "hanches", "tour_hanche",
         "tour_hanches", "tour_de_hanches", "tour_bassin", "bassin"), 4.4, _hip,
    ),
    Measurement(
        "shoulder_width", f"{_ISO} shoulder width (biacromial)", "width",
        "straight distance between the left and right acromion points (top outer edge of "
        "each shoulder)",
        "Measure straight across the back between the two bony points at the outer edge of "
        "the shoulders.",
        ("shoulders", "shoulder_breadth", "biacromial_breadth", "largeur_epaules",
         "largeur_d_epaules", "largeur_des_epaules", "epaules"), 2.2, _shoulder_width,
    ),
    Measurement(
        "back_neck_to_waist", f"{_ISO} cervicale to waist length (back)", "length",
        "from the back of the neck's base (cervicale, the neck joint's level) down the "
        "midline outline of the back to the navel level (ANSUR II's waist), bridging hollows",
        "Head level: from the bony bump at the base of the back of the neck straight down "
        "the spine to the level of the navel.",
        ("nape_to_waist", "back_waist_length", "back_length", "cervicale_to_waist",
         "longueur_dos", "longueur_de_dos", "longueur_taille_dos", "hauteur_taille_dos"),
        2.3, _back_neck_to_waist,
    ),
    Measurement(
        "arm_length", f"{_ISO} arm length", "length",
        "acromion to elbow joint to wrist joint, along the (slightly bent) rest-pose arm",
        "Arm hanging, slightly bent: from the outer shoulder point over the elbow to the "
        "wrist bone.",
        ("arm", "sleeve", "sleeve_length", "longueur_bras", "longueur_de_bras",
         "longueur_manche", "longueur_de_manche"), 2.3, _arm_length,
    ),
    Measurement(
        "upper_arm_girth", f"{_ISO} upper arm girth", "girth",
        "maximum convex-hull girth of the right upper arm perpendicular to its axis, at "
        "40-60 % of the shoulder-elbow distance",
        "Arm relaxed, measure around the fullest part of the upper arm, midway between "
        "shoulder and elbow.",
        ("upper_arm", "upperarm_girth", "biceps", "bicep", "arm_girth", "tour_bras",
         "tour_de_bras"), 1.9, _upper_arm,
    ),
    Measurement(
        "wrist_girth", f"{_ISO} wrist girth", "girth",
        "convex-hull girth of the right forearm perpendicular to its axis just above the "
        "wrist joint",
        "Measure around the wrist over the wrist bone.",
        ("wrist", "wrist_circumference", "poignet", "tour_poignet", "tour_de_poignet"),
        1.0, _wrist,
    ),
    Measurement(
        "inside_leg", f"{_ISO} inside leg length (crotch height)", "height",
        "vertical distance from the floor to the crotch (lowest point of the trunk midline)",
        "Barefoot, feet slightly apart: from the crotch straight down to the floor.",
        ("inseam", "inside_leg_length", "crotch_height", "entrejambe", "entre_jambe",
         "hauteur_entrejambe", "longueur_entrejambe"), 2.0, _inside_leg,
    ),
    Measurement(
        "outside_leg", f"{_ISO} outside leg length", "length",
        "right side: from the navel level down the lateral outline over the hip to the hip "
        "girth's level, then vertically to the floor",
        "Barefoot: from the side of the body at navel level, over the hip, straight down to "
        "the floor.",
        ("outseam", "outside_leg_length", "outer_leg", "longueur_exterieure_jambe",
         "longueur_exterieure_de_jambe", "longueur_jambe_exterieure", "longueur_cote"),
        1.9, _outside_leg,
    ),
    Measurement(
        "crotch_length", f"{_ISO} total crotch length", "length",
        "from the front waist (navel level) down between the legs to the back waist, along "
        "the side-view hull of the trunk within 7 cm of the midline (the buttocks, not the "
        "cleft)",
        "From the navel at the front, between the legs, up to the same level at the back "
        "(centre line), the tape resting on the body.",
        ("rise", "total_crotch_length", "crotch", "enfourchure", "longueur_enfourchure",
         "longueur_d_enfourchure", "fourche"), 3.6, _crotch_length,
    ),
    Measurement(
        "waist_height", f"{_ISO} waist height", "height",
        "vertical distance from the floor to the waist level used for waist_girth",
        "From the natural waist at the side of the body straight down to the floor.",
        ("hauteur_taille", "hauteur_de_taille"), 2.4, _waist_height,
    ),
    Measurement(
        "thigh_girth", f"{_ISO} thigh girth", "girth",
        "horizontal convex-hull girth of the right thigh loop 2 cm below the crotch",
        "Standing, measure horizontally around the fullest part of the thigh, just below "
        "the buttock fold.",
        ("thigh", "thigh_circumference", "cuisse", "tour_cuisse", "tour_de_cuisse"),
        3.0, _thigh,
    ),
    Measurement(
        "mid_thigh_girth", f"{_ISO} mid-thigh girth", "girth",
        "horizontal convex-hull girth of the right thigh half-way between crotch and knee",
        "Measure horizontally around the thigh halfway between the crotch and the knee.",
        ("mid_thigh", "tour_mi_cuisse", "tour_de_mi_cuisse"), 3.1, _mid_thigh,
    ),
    Measurement(
        "knee_girth", f"{_ISO} knee girth", "girth",
        "horizontal convex-hull girth of the right leg at the knee joint",
        "Standing, measure around the knee over the kneecap.",
        ("knee", "genou", "tour_genou", "tour_de_genou"), 1.7, _knee,
    ),
    Measurement(
        "calf_girth", f"{_ISO} calf girth", "girth",
        "maximum horizontal convex-hull girth of the right lower leg, 20-50 % of the way "
        "from knee to ankle",
        "Standing, measure horizontally around the fullest part of the calf.",
        ("calf", "mollet", "tour_mollet", "tour_de_mollet"), 2.9, _calf,
    ),
    Measurement(
        "ankle_girth", f"{_ISO} ankle girth (minimum leg girth)", "girth",
        "minimum horizontal convex-hull girth of the right leg 4-12 cm above the ankle joint",
        "Measure around the narrowest part of the leg just above the ankle bones.",
        ("ankle", "cheville", "tour_cheville", "tour_de_cheville"), 1.2, _ankle,
    ),
]  # fmt: skip

BY_NAME: dict[str, Measurement] = {m.name: m for m in TABLE}
_LOOKUP: dict[str, str] = {}
for _m in TABLE:
    for _alias in (_m.name, *_m.aliases):
        _key = normalize_name(_alias)
        if _key in _LOOKUP and _LOOKUP[_key] != _m.name:
            raise RuntimeError(f"alias {_alias!r} is used twice")
        _LOOKUP[_key] = _m.name


def omphalion_level(model: AnnyBody, rest: RestBody) -> float:
    """ANSUR II's navel level on a body: NAVEL_FRACTION of the way from the crotch to the bust
    point (where ``AnnyBody`` picks its template's navel landmark)."""
    ctx = _Ctx(model, rest)
    return ctx.crotch_z() + NAVEL_FRACTION * (ctx.bust_z() - ctx.crotch_z())


def accepted_names() -> list[str]:
    """Every name a client may send (canonical names and aliases), sorted."""
    return sorted({normalize_name(a) for m in TABLE for a in (m.name, *m.aliases)})


def canonical_names() -> list[str]:
    return [m.name for m in TABLE]


def resolve_measures(names: list[str]) -> list[str]:
    """Canonical names for requested names (case/space/hyphen/accent-insensitive).

    Raises InputError listing every accepted name when some are unknown."""
    out: list[str] = []
    unknown: list[str] = []
    for name in names:
        key = normalize_name(name) if isinstance(name, str) else ""
        if key in _LOOKUP:
            out.append(_LOOKUP[key])
        else:
            unknown.append(str(name))
    if unknown:
        raise InputError(f"unknown measure(s): {', '.join(unknown)}", accepted=accepted_names())
    return out


def compute(model: AnnyBody, rest: RestBody, names: list[str] | None = None) -> dict[str, float]:
    """Canonical measurements in centimetres of a rest-pose body (unrounded)."""
    ctx = _Ctx(model, rest)
    names = names or canonical_names()
    return {n: 100.0 * float(BY_NAME[n].compute(ctx)) for n in dict.fromkeys(names)}


def describe_table() -> dict[str, object]:
    """The table as JSON for clients: each measurement with its aliases, ISO term and how-to."""
    return {
        "measurements": [
            {
                "name": m.name,
                "aliases": list(m.aliases),
                "iso_8559_1": m.iso,
                "kind": m.kind,
                "unit": "cm",
                "method": m.method,
                "how_to_measure_yourself": m.description,
            }
            for m in TABLE
        ],
        "accepted": accepted_names(),
    }
