"""`measure()`: photo -> fitted Anny body -> ISO 8559-1 body measurements in cm.

The library entry point behind `bodylens measure` and the `/estimate` service. Inputs are
validated before any model runs; problems with the photo itself (nobody, person cut off) raise
`Unprocessable` naming what is wrong; softer issues become warnings on the result.
"""

from __future__ import annotations

import base64
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from bodylens.body.measurements import BY_NAME, canonical_names, resolve_measures
from bodylens.body.mesh import BodyMesh
from bodylens.detect.pose import PoseResult
from bodylens.errors import InputError, Unprocessable

log = logging.getLogger(__name__)

SEXES = ("male", "female")
HEIGHT_RANGE_CM = (50.0, 250.0)
WEIGHT_RANGE_KG = (20.0, 300.0)
# Relative error of a guessed stature (adult SD ~7 cm over ~170 cm).
GUESSED_SCALE_SIGMA = 0.045
REFERENCE_KINDS = ("card", "checkerboard", "auto")
# Relative error (1 σ) of a stature derived from a reference object in the photo, chosen so
# that ±σ covers 8 of the 11 renders of benchmarks/measure_reference.py (RMS 2.8 % leaving
# out the one render whose fit tilted the body 18° too far: that one was off by 19 %).
REFERENCE_SCALE_SIGMA = 0.04
# A reference-derived stature further than this from a given height is worth a warning.
REFERENCE_DISAGREE = 0.03
# Refit once at the reference's stature when it differs from the first fit's by more than
# this: Anny's proportions change with stature, so the first fit's shape is slightly off.
REFERENCE_REFIT = 0.01
# A fitted camera pitch beyond this: warn that the reference scale is shaky (the fit's view of
# the pitch drives the error: the benchmark's worst render, off by 19 %, was fitted at 22°
# for a true 10°, and the only one above 20°).
REFERENCE_STEEP_PITCH_DEG = 20.0
# Issue 6: run the clothing parser and fit under skirts, dresses and bags (``body.clothing``)
# when the caller does not say. Off by default: on real photos it halved the worst changes in
# benchmarks/robustness.py, but it did not beat the plain fit on the median, and on the
# synthetic benchmark renders the parser takes flat-shaded bodies for dresses and bags.
CLOTHING_AWARE_FIT = False
# When the caller does not say, still fit under a bag that MediaPipe took for part of the
# person (``body.clothing.BAG_AREA``; the parser runs on every front photo, ~0.05 s). Why: such
# a bag read as hip is the largest error street photos showed, and which way it went flipped
# with the photo's size (CCP 0177: a 93 or a 123 cm hip; fitted under the bag, 96-99 cm). The
# worst change between copies of 25 street photos fell from 30 to 15 cm (docs/measurements.md).
FIT_UNDER_LARGE_BAGS = True
# Issue 6 robustness: when the silhouette of a front photo alone spills this far beyond the
# fitted body (a share of its area, ``_loose_clothing_ratio``), the outline is partly clothes,
# so the body is refitted with the learned shape prior weighted by ratio / LOOSE_REFIT_RATIO,
# at most LOOSE_PRIOR_MAX times. On 22 CCP street photos (`benchmarks/robustness.py --wide`,
# against `--no-loose-refit`) the mean change for a rescaled or padded copy fell from 2.2-2.6
# to 1.5-1.9 cm and the worst from 46 to 29 cm. Renders of bodies in tight clothes stay below
# 0.03 (13 of 14 benchmark renders), where a stronger prior costs accuracy (front-only chest /
# waist / hip 2.75 / 3.37 / 1.85 -> 3.37 / 4.12 / 2.40 cm at 3x on 72 renders), so they are
# not refitted.
#
# The ratio is first taken as the first fit's last stage begins (pose and phenotype fitted,
# 120 of 200 steps): a fit already loose there stops and is refitted at once, with no
# stuck-limb refit of its own; one that ends loose is refitted too. Street photos are mostly
# loose (22 of 30), so this saves them 40 % of a fit and most stuck-limb refits (30 street
# photos, p50 in turn 3.13 -> 2.66 s, p90 6.18 -> 4.01 s, back to back), and repeats as
# well as judging it after the fit (docs/measurements.md, "Clothing").
LOOSE_REFIT_RATIO = 0.03
LOOSE_PRIOR_MAX = 5.0
# Issue 6: fit a photo and its mirror image as the same pixels (``canonical_orientation``);
# off only to measure the fit's own sensitivity to mirroring (benchmarks/robustness.py).
CANONICAL_ORIENTATION = True
# Detect the person on the photo and on its mirror image and average the two
# (``detect.pose.detect_pose``): the fit then follows less of MediaPipe's pixel jitter.
MIRROR_AVERAGED_POSE = True
# Run fits that do not wait on the one in progress in a second process (``body.worker``): with
# a side photo the two-view fit (its own shorter front fit, then the joint fit) while this one
# fits the front photo alone; a stuck limb's refit while the fit that needs it ends. The same
# numbers, sooner. Off for one-off runs (the CLI), where starting the worker costs more than it
# saves; the service turns it on (``Settings.fit_worker``).
FIT_WORKER = False


@dataclass
class MeasurementDetail:
    name: str  # canonical name
    requested: str  # the name as the caller spelled it
    value_cm: float
    uncertainty_cm: float  # one standard deviation
    iso: str
    kind: str
    unit: str = "cm"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "requested": self.requested,
            "value": self.value_cm,
            "uncertainty": self.uncertainty_cm,
            "unit": self.unit,
            "kind": self.kind,
            "iso": self.iso,
        }


@dataclass
class MeasurementResult:
    """Measurements of one person. ``values`` is keyed by the names as requested."""

    values: dict[str, float]
    details: list[MeasurementDetail]
    warnings: list[str]
    scale_source: str  # "height" | "reference" | "guessed"
    body: dict[str, Any]
    mesh: BodyMesh | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self, include_mesh: bool | str = False) -> dict[str, Any]:
        """JSON-ready detail view. ``include_mesh``: False, True/"glb" or "obj" (base64/text)."""
        out: dict[str, Any] = {
            "measurements": dict(self.values),
            "units": "cm",
            "details": [d.to_dict() for d in self.details],
            "warnings": list(self.warnings),
            "scale_source": self.scale_source,
            "body": self.body,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }
        if include_mesh and self.mesh is not None:
            fmt = "obj" if include_mesh == "obj" else "glb"
            if fmt == "glb":
                data = base64.b64encode(self.mesh.to_glb()).decode()
                out["mesh"] = {"format": "glb", "encoding": "base64", "data": data}
            else:
                out["mesh"] = {"format": "obj", "encoding": "utf-8", "data": self.mesh.to_obj()}
        return out


def _validate(
    height_cm: float | None, weight_kg: float | None, sex: str | None
) -> tuple[float | None, float | None, str | None]:
    def number(value: Any, what: str, lo: float, hi: float) -> float | None:
        if value is None:
            return None
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{what} must be a number") from None
        if not math.isfinite(x) or not lo <= x <= hi:
            raise InputError(f"{what} must be between {lo:g} and {hi:g}, got {value}")
        return x

    h = number(height_cm, "height_cm", *HEIGHT_RANGE_CM)
    w = number(weight_kg, "weight_kg", *WEIGHT_RANGE_KG)
    s = None
    if sex is not None:
        s = str(sex).strip().lower()
        s = {"m": "male", "f": "female", "man": "male", "woman": "female"}.get(s, s)
        if s in ("", "none", "unknown"):
            s = None
        elif s not in SEXES:
            raise InputError(f"sex must be 'male' or 'female', got {sex!r}")
    return h, w, s


def validate_reference(
    reference: str | None, square_mm: Any, pattern: Any
) -> tuple[str | None, float | None, tuple[int, int] | None]:
    """(kind, square size in mm, inner-corner grid) of the requested reference object.

    A square size or a grid alone implies a checkerboard; a card takes neither."""
    kind = None if reference is None else str(reference).strip().lower() or None
    if kind is not None and kind not in REFERENCE_KINDS:
        raise InputError(
            f"reference must be one of {', '.join(REFERENCE_KINDS)}, got {reference!r}"
        )
    square = None
    if square_mm is not None:
        try:
            square = float(square_mm)
        except (TypeError, ValueError):
            raise InputError("reference_square_mm must be a number (mm)") from None
        if not math.isfinite(square) or not 2.0 <= square <= 500.0:
            raise InputError(f"reference_square_mm must be between 2 and 500 mm, got {square_mm}")
    grid = None
    if pattern is not None and pattern != "":
        parts = pattern.lower().split("x") if isinstance(pattern, str) else list(pattern)
        try:
            grid = tuple(int(str(p).strip()) for p in parts)
        except ValueError:
            grid = ()
        if len(grid) != 2 or not all(2 <= g <= 40 for g in grid):
            raise InputError(
                "reference_pattern must be the board's inner corners as COLSxROWS "
                f"(e.g. 9x6, each 2-40), got {pattern!r}"
            )
    if kind is None and (square is not None or grid is not None):
        kind = "checkerboard"
    if kind == "checkerboard" and square is None:
        raise InputError("a checkerboard reference needs reference_square_mm (its square size)")
    if kind == "card" and (square is not None or grid is not None):
        raise InputError("a card reference takes no reference_square_mm or reference_pattern")
    return kind, square, grid  # type: ignore[return-value]


def _find_reference(rgb: np.ndarray, kind: str, square_mm: float | None, pattern):
    """The reference object in the front photo; "auto" tries a board (when a square size is
    given) and then a card. Raises Unprocessable naming everything it looked for."""
    from bodylens.body.reference import detect_card, detect_checkerboard

    kinds = [kind] if kind != "auto" else (["checkerboard"] if square_mm else []) + ["card"]
    misses = []
    for k in kinds:
        try:
            if k == "checkerboard":
                return detect_checkerboard(rgb, square_mm, pattern)
            return detect_card(rgb)
        except Unprocessable as exc:
            misses.append(exc.message)
    raise Unprocessable(
        "reference object not found: " + "; ".join(misses), reference=kind, looked_for=kinds
    )


FEET = ("left_ankle", "right_ankle", "left_heel", "right_heel")  # MediaPipe landmarks


def _check_visible(pose, mask: np.ndarray) -> None:
    """Raise Unprocessable when the head or the feet are not in the photo."""
    w, h = pose.image_size
    missing: list[str] = []
    head_pts = ["nose", "left_eye", "right_eye", "left_ear", "right_ear"]
    if sum(pose.visible(p, 0.5) for p in head_pts) < 2:
        missing.append("head")
    touches_bottom = mask[-1].sum() > 0.02 * w
    unsure = sum(pose.visible(p, 0.5) for p in FEET) < 2
    if unsure and (touches_bottom or not _feet_in_frame(pose, mask)):
        missing.append("feet")
    elif touches_bottom:
        # The person reaches the bottom edge: feet are very likely cut by the frame.
        ankles_y = max(pose.point("left_ankle")[1], pose.point("right_ankle")[1])
        if ankles_y > 0.97 * h:
            missing.append("feet")
    if "head" not in missing and mask[0].sum() > 0.02 * w:
        top_y = min(pose.point(p)[1] for p in head_pts)
        if top_y < 0.03 * h:
            missing.append("head")
    if missing:
        raise Unprocessable(
            f"the person is cut off: {' and '.join(missing)} not visible", missing=missing
        )


def _feet_in_frame(pose, mask: np.ndarray) -> bool:
    """Whether the feet are in the photo although MediaPipe is unsure where (visibility < 0.5:
    long skirts, boots, dark shoes): every ankle and heel lies inside the frame, above its
    bottom 3 %, and the silhouette reaches down to them (``_check_visible`` has already
    required that it ends clear of the bottom edge).

    Why: on CCP street photos that show the whole person, visibility alone refused 5 in 90
    ("feet not visible"), and rescaled or padded copies of accepted ones flipped to refused.
    Crops of the same photos through the legs stay refused: the silhouette then runs into
    the bottom edge (benchmarks: docs/measurements.md, "Refusals")."""
    w, h = pose.image_size
    pts = np.array([pose.point(p) for p in FEET])
    if not ((pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < 0.97 * h)).all():
        return False
    rows = np.flatnonzero(mask.any(axis=1))
    return bool(rows.size and rows[-1] >= pts[:, 1].max() - 0.03 * h)


def _person_mask(pose) -> tuple[np.ndarray, list[str]]:
    import cv2

    from bodylens.body.fit import _mask_component

    warnings: list[str] = []
    if pose.mask is None:
        raise Unprocessable("no person found in the photo")
    full = pose.mask > 0.5
    if full.sum() < 500:
        raise Unprocessable("no person found in the photo")
    main = _mask_component(full, pose.keypoints[pose.visibility > 0.5])
    n, labels, stats, _ = cv2.connectedComponentsWithStats(full.astype(np.uint8), connectivity=8)
    main_area = int(main.sum())
    others = [
        i
        for i in range(1, n)
        if stats[i, cv2.CC_STAT_AREA] > 0.25 * main_area and not main[labels == i].any()
    ]
    if others:
        warnings.append(
            "several people in the photo: measured the most prominent one "
            f"({len(others) + 1} people detected)"
        )
    # Close small holes so the outline is the person's, not the clothes' folds.
    main = cv2.morphologyEx(main.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    return main.astype(bool), warnings


def measure(
    image,
    *,
    height_cm: float | None = None,
    weight_kg: float | None = None,
    sex: str | None = None,
    side_image=None,
    measures: list[str] | None = None,
    with_mesh: bool = False,
    reference: str | None = None,
    reference_square_mm: float | None = None,
    reference_pattern: str | tuple[int, int] | None = None,
    fit_under_clothing: bool | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> MeasurementResult:
    """Body measurements (cm) of the person in a front photo.

    image / side_image: a path, encoded bytes or an RGB uint8 array. height_cm fixes the
    metric scale (strongly recommended: without it the scale is a population guess).
    measures: names to return (canonical, English or French aliases); None means all.
    Issue 6: a side photo refines the body's depth (``body.views``); with a height, the
    values are fused with the ANSUR II prior given height (+ weight, + sex), which also
    estimates mass and BMI when no weight is given (``body.fusion``; see ``body["fusion"]``).
    Issue 6: without a height, a reference object in the front photo sets the scale:
    ``reference`` = "card" (ISO/IEC 7810 ID-1), "checkerboard" (give ``reference_square_mm``,
    optionally ``reference_pattern`` "9x6" inner corners) or "auto"; the object must be at
    about the person's depth (held against the body or beside it, see
    ``reference.stature_from_reference``). With a height too, the height wins and the
    reference's stature is only reported (``body["reference"]``).
    Issue 6: ``fit_under_clothing`` runs the clothing parser and ignores the outline of
    skirts and dresses below the hips and of bags (default: ``CLOTHING_AWARE_FIT``); left
    unsaid, a large bag inside the person mask is still fitted under (``FIT_UNDER_LARGE_BAGS``);
    False parses nothing.
    """
    t_start = time.perf_counter()
    timings: dict[str, float] = {}

    def step(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)

    # --- validate everything before doing any work
    if measures is not None:
        if isinstance(measures, str):
            measures = [m for m in measures.split(",") if m.strip()]
        # Keys of the answer are the names exactly as sent (the service echoes them back).
        requested = [str(m) for m in measures]
        if not requested:
            raise InputError("measures is empty: ask for at least one measurement")
        canonical = resolve_measures(requested)
    else:
        canonical = canonical_names()
        requested = list(canonical)
    height_cm, weight_kg, sex = _validate(height_cm, weight_kg, sex)
    ref_kind, ref_square, ref_pattern = validate_reference(
        reference, reference_square_mm, reference_pattern
    )

    from bodylens.io.images import load_image

    rgb = load_image(image)
    side_rgb = load_image(side_image) if side_image is not None else None  # issue 6
    timings["decode"] = time.perf_counter() - t_start

    # --- person (each photo at its working size, upright, in its canonical orientation)
    step(0.05, "detecting the person")
    warnings: list[str] = []
    front = _find_person(rgb, "photo", timings, warnings)
    side, side_warnings, dropped_side = None, [], None
    if side_rgb is not None:  # refused here, before any fitting, when it shows nobody usable
        side = _find_person(side_rgb, "side photo", timings, side_warnings)
        front, side, warnings, side_warnings, dropped_side = _sort_views(
            front, side, warnings, side_warnings
        )
    else:
        warnings += _side_on_warning(front)
    rgb, pose, mask = front.rgb, front.pose, front.mask
    side_rgb = side.rgb if side is not None else None
    side_person = (side.pose, side.mask) if side is not None else None
    bags_only = fit_under_clothing is None and not CLOTHING_AWARE_FIT and FIT_UNDER_LARGE_BAGS
    if fit_under_clothing is None:
        fit_under_clothing = CLOTHING_AWARE_FIT
    skip = None
    if fit_under_clothing or bags_only:
        skip = _clothing_skip(rgb, pose, mask, "photo", timings, warnings, bags_only=bags_only)
    side_skip = None
    if side_person is not None and fit_under_clothing:
        side_skip = _clothing_skip(side_rgb, *side_person, "side photo", timings, side_warnings)
    core = [11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
    if float(np.mean(pose.visibility[core])) < 0.7:
        warnings.append("low keypoint confidence: arms or legs are partly hidden")
    ref = None
    if ref_kind is not None:  # issue 6: reference-object scale
        step(0.1, "finding the reference object")
        t = time.perf_counter()
        try:
            ref = _find_reference(rgb, ref_kind, ref_square, ref_pattern)
        except Unprocessable as exc:
            if height_cm is None:
                raise
            warnings.append(f"{exc.message}; the given height sets the scale")
        timings["reference"] = time.perf_counter() - t

    # --- body
    step(0.15, "loading the body model")
    from bodylens.body.fit import DEFAULT_STATURE, fit_photo
    from bodylens.body.model import get_body_model

    t = time.perf_counter()
    model = get_body_model()
    timings["model"] = time.perf_counter() - t
    if height_cm is not None:
        stature_m, scale_source = height_cm / 100.0, "height"
    elif ref is not None:  # a first guess: the reference fixes the stature after the fit
        stature_m, scale_source = DEFAULT_STATURE[sex], "reference"
    else:
        stature_m, scale_source = DEFAULT_STATURE[sex], "guessed"
        warnings.append(
            "no height given: the scale is guessed from an average "
            f"{'adult' if sex is None else sex} stature ({stature_m * 100:.0f} cm); "
            "lengths and girths may be off by ~5 %"
        )
    step(0.2, "fitting the body")
    # The front photo is fitted alone first, as for a single photo; with a side photo a
    # shorter front fit then starts the two-view fit, and the readings of both fits reach
    # the fusion (their errors are partly independent: ``fusion.stack_features``).
    span = 0.35 if scale_source == "reference" else 0.7
    if side_rgb is not None:
        span *= 0.5
    from bodylens.body.fit import ITERATIONS, STUCK_LIMB, stuck_limb_refit
    from bodylens.body.views import FRONT_ITERATIONS, fit_two_views

    # With a side photo: a shorter front fit starts the two-view fit; neither needs the front
    # fit below, so with ``FIT_WORKER`` they run beside it in another process. A front fit
    # whose limbs stick starts its refit there before it ends (``fit.stuck_limb_refit``).
    side_args = (pose, mask, *side_person) if side_person is not None else ()
    side_kwargs = {"stature_m": stature_m, "sex": sex, "front_iterations": FRONT_ITERATIONS,
                   "front_skip": skip, "side_skip": side_skip}  # fmt: skip
    front_kwargs = {"stature_m": stature_m, "sex": sex, "outline_skip": skip}
    jobs = _WorkerJobs(timings)
    side_job = None
    if side_args and ref is None:  # a reference may still move the stature
        side_job = jobs.start(fit_two_views, *side_args, **side_kwargs)
    # A front photo may be fitted twice (loose clothes): its first fit gets half the bar, and
    # stops as its last stage begins if already loose (see LOOSE_REFIT_RATIO).
    kwargs = {**front_kwargs, "iterations": ITERATIONS}
    fit = fit_photo(
        model, pose, mask, **kwargs,
        progress=lambda f, m: step(0.2 + span * 0.5 * f, m),
        start_refit_elsewhere=jobs.starter(stuck_limb_refit, pose, mask, **kwargs),
        stop_early=lambda so_far: _loose_clothing_ratio(model, so_far, mask) > LOOSE_REFIT_RATIO,
    )  # fmt: skip
    timings.update(fit.timings)
    prior_scale, first_stopped = 1.0, fit.stopped_early
    loose, loose_of = _loose_clothing_ratio(model, fit, mask), fit  # loose_of: fit measured
    if loose > LOOSE_REFIT_RATIO:
        prior_scale = min(loose / LOOSE_REFIT_RATIO, LOOSE_PRIOR_MAX)
        # A stopped fit had no stuck-limb check: its limb error as it stopped stands in.
        stuck = fit.limb_error > STUCK_LIMB if fit.stopped_early else fit.limb_refit is not None
        kwargs = {**front_kwargs, "prior_scale": prior_scale}
        fit = fit_photo(
            model, pose, mask, **kwargs,
            progress=lambda f, m: step(0.2 + span * (0.5 + 0.5 * f),
                                       "refitting: loose clothes"),
            start_refit_elsewhere=jobs.starter(stuck_limb_refit, pose, mask, **kwargs),
            refit_from_start=stuck,  # its limbs stick where those did
        )  # fmt: skip
        timings["fit_loose_refit"] = fit.timings.get("fit_optimise", 0.0)
        if "fit_retry" in fit.timings:  # the refit's own stuck-limb refit
            timings["fit_retry"] = timings.get("fit_retry", 0.0) + fit.timings["fit_retry"]
    ref_body = None
    if ref is not None:
        fit, stature_m, ref_body = _reference_scale(
            model, fit, pose, mask, ref, stature_m, height_cm, sex, timings, warnings, step,
            prior_scale,
        )  # fmt: skip
    views, side_body, front_readings = "front", dropped_side, None
    with_prior = scale_source != "guessed"  # the ANSUR fusion applies (issue 6)
    if side_rgb is not None:  # issue 6: refine the shape on the side photo too
        from bodylens.body import fusion

        if with_prior:  # the fusion reads this fit too
            front_readings = fusion.fit_readings(model, _scaled_rest(model, fit, stature_m)[1])
        two = jobs.result(side_job)
        if two is None:
            side_kwargs["stature_m"] = stature_m  # a reference may have moved it
            two = fit_two_views(
                model, *side_args, **side_kwargs,
                progress=lambda f, m: step(0.2 + span * (1.0 + 0.3 * f), m),
            )  # fmt: skip
        timings["fit_front_start"] = two.front.timings.get("fit_optimise", 0.0)
        timings.update({k: v for k, v in two.front.timings.items() if k.startswith("side")})
        warnings += side_warnings
        side_body = _side_summary(two, warnings)
        if side_body["used"]:  # the joint fit keeps the shape prior at its own weight
            fit, views, prior_scale = two.front, "front_side", 1.0

    # --- measure on the neutral standing pose
    step(0.92, "measuring")
    from bodylens.body import measurements

    t = time.perf_counter()
    scale, rest = _scaled_rest(model, fit, stature_m)
    from bodylens.body import fusion  # issue 6: ANSUR prior fusion and calibrated sigma

    # A reference-derived stature feeds the prior as a noisy height (issue 6).
    prior_height = height_cm if scale_source != "reference" else stature_m * 100.0
    prior_sigma = 0.0 if scale_source != "reference" else REFERENCE_SCALE_SIGMA * prior_height
    # The fusion reads every table value, whatever was asked for: each computed once.
    names = list(dict.fromkeys(canonical))
    table = measurements.compute(model, rest, None if with_prior else names)
    cm = {n: table[n] for n in names}
    readings = fusion.fit_readings(model, rest, table) if with_prior else {}
    cm, sigmas, fused = fusion.apply(
        readings, cm, height_cm=prior_height, weight_kg=weight_kg, sex=sex, views=views,
        table_sigma={n: BY_NAME[n].sigma_cm for n in cm}, height_sigma_cm=prior_sigma,
        front_readings=front_readings,
    )  # fmt: skip
    timings["measure"] = time.perf_counter() - t

    if fit is not loose_of:
        loose = _loose_clothing_ratio(model, fit, mask)
    if loose > 0.15:
        warnings.append(
            "loose clothing suspected: the silhouette is much wider than the fitted body "
            f"({loose:.0%} extra area); girths may be underestimated or overestimated"
        )
    if fit.keypoint_error > 0.04:
        warnings.append("the body fit is poor (keypoints far from the fitted body)")

    values: dict[str, float] = {}
    details: list[MeasurementDetail] = []
    for req, name in zip(requested, canonical, strict=True):
        spec = BY_NAME[name]
        value = round(cm[name], 1)
        sigma = sigmas.get(name, spec.sigma_cm)  # issue 6: fused, calibrated sigma
        if scale_source == "guessed":
            sigma = math.hypot(sigma, GUESSED_SCALE_SIGMA * value)
        elif scale_source == "reference":  # every length scales with the derived stature
            sigma = math.hypot(sigma, REFERENCE_SCALE_SIGMA * value)
        values[req] = value
        details.append(MeasurementDetail(name, req, value, round(sigma, 1), spec.iso, spec.kind))
    nonzero = {k: round(v, 3) for k, v in fit.local_changes.items() if abs(v) > 0.01}
    body = {
        "model": "anny",
        "phenotype": {k: round(v, 3) for k, v in fit.phenotype.items()},
        "local_changes": nonzero,
        "stature_cm": round(stature_m * 100, 1),
        "scale": round(scale, 4),
        "camera": _camera(fit, scale, rgb.shape[1] if front.mirrored else None, front.scale),
        **({"photo_turned_deg": 90 * front.turns} if front.turns else {}),
        **({"fitted_size_px": [rgb.shape[1], rgb.shape[0]]} if front.scale != 1.0 else {}),
        **({"photos_swapped": True} if front.view != "photo" else {}),
        "fusion": fused,  # issue 6
        **({"reference": ref_body} if ref_body is not None else {}),
        **({"side": side_body} if side_body is not None else {}),
        "fit": {
            "losses": {k: round(v, 5) for k, v in fit.losses.items()},
            "keypoint_error": round(fit.keypoint_error, 4),
            "limb_error": round(fit.limb_error, 4),
            "stuck_limb_refit": fit.limb_refit,
            "loose_clothing_ratio": round(loose, 3),
            "shape_prior_scale": round(prior_scale, 2),
            "first_fit_stopped_early": first_stopped,  # loose already: see LOOSE_REFIT_RATIO
        },
    }
    mesh = None
    if with_mesh:
        mesh = BodyMesh(rest.vertices.astype(np.float32), model.faces.astype(np.int32))
    timings["total"] = time.perf_counter() - t_start
    step(1.0, "done")
    log.info(
        "measured %d values in %.2f s (fit %.2f s)",
        len(values),
        timings["total"],
        timings.get("fit_optimise", 0.0),
    )
    return MeasurementResult(values, details, warnings, scale_source, body, mesh, timings)


def _scaled_rest(model, fit, stature_m: float):
    """The fitted body in the neutral standing pose, scaled to ``stature_m``: (the scale, the
    rest body)."""
    rest = model.rest_body(fit.phenotype, fit.local_changes)
    scale = stature_m / float(rest.vertices[:, 2].max() - rest.vertices[:, 2].min())
    rest.vertices = rest.vertices * scale
    rest.bone_heads = rest.bone_heads * scale
    return scale, rest


# Photos are fitted at most this many pixels along their long side. MediaPipe reads a person
# at 256 px and the fit's outline grid has 320 cells (more for a person far away), so a phone
# photo's megapixels only cost time: a 4000 px (10 MP) copy of the bundled photo took 2.9 s
# and a 6000 px one 4.8 s, against 2.1 s at 1650 px. No benchmark photo is this large.
MAX_LONG_SIDE = 2048


def working_size(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    """The photo at most MAX_LONG_SIDE pixels along its long side (area-averaged), and the
    scale it was resized by (1.0 when it was not)."""
    import cv2

    h, w = rgb.shape[:2]
    if max(h, w) <= MAX_LONG_SIDE:
        return rgb, 1.0
    scale = MAX_LONG_SIDE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), scale


def canonical_orientation(rgb: np.ndarray) -> tuple[np.ndarray, bool]:
    """The photo, mirrored left-right when its brightness leans to the left, and whether it was.

    Why: the fit has nearby minima, so a photo and its mirror image (a phone's front camera
    mirrors selfies) used to give girths up to ~12 cm apart. A photo and its mirror image lean
    to opposite sides, so both come out as the very same pixels and the same measurements;
    rescaling or padding the photo evenly keeps the lean, and so the orientation. The lean is
    the brightness centroid's offset from the centre on a 64-column thumbnail."""
    import cv2

    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (64, max(1, round(64 * h / w))), interpolation=cv2.INTER_AREA)
    columns = small.astype(np.float64).mean(axis=(0, 2))
    x = np.linspace(-1.0, 1.0, columns.size)
    lean = float((x * columns).sum() / max(columns.sum(), 1e-9))
    # A mirror-symmetric photo (|lean| ~ rounding) keeps its orientation.
    if lean < -1e-9:
        return np.ascontiguousarray(rgb[:, ::-1]), True
    return rgb, False


def _camera(
    fit, scale: float, mirrored_width: int | None, work_scale: float = 1.0
) -> dict[str, Any]:
    """The fitted camera in the photo as sent (turned upright first, when ``photo_turned_deg``
    says so): a fit of the mirrored photo is mirrored back (x → width − x, translation
    x → −x, rotation vector (x, −y, −z)), and pixels of a photo fitted smaller
    (``working_size``) are scaled back."""
    px, py = fit.principal
    tx, ty, tz = (float(v) * scale for v in fit.translation)
    rx, ry, rz = (float(v) for v in fit.root_rotvec)
    if mirrored_width is not None:
        px, tx, ry, rz = mirrored_width - px, -tx, -ry, -rz
    return {
        "focal_px": round(fit.focal / work_scale, 1),
        "principal_px": [round(px / work_scale, 1), round(py / work_scale, 1)],
        "translation_m": [round(tx, 3), round(ty, 3), round(tz, 3)],
        "root_rotvec": [round(rx, 4), round(ry, 4), round(rz, 4)],
    }


def _reference_scale(
    model, fit, pose, mask, ref, stature_m, height_cm, sex, timings, warnings, step,
    prior_scale=1.0,
):  # fmt: skip
    """Issue 6: the stature the reference object implies for the fitted body. Without a
    height it becomes the scale (after one refit at that stature when it moved by more than
    REFERENCE_REFIT); with a height it is only reported, with a warning when they disagree.
    Returns (fit, stature_m, the ``body["reference"]`` summary)."""
    from bodylens.body.fit import fit_photo
    from bodylens.body.reference import camera_pitch_deg, stature_from_reference

    t = time.perf_counter()
    derived = stature_from_reference(model, fit, ref)
    pitch = camera_pitch_deg(fit)  # of the fit the reading comes from
    derived_cm = derived.stature_m * 100.0
    where = f"{ref.kind} at ({ref.center[0]:.0f}, {ref.center[1]:.0f}) px"
    if not HEIGHT_RANGE_CM[0] <= derived_cm <= HEIGHT_RANGE_CM[1]:
        message = (
            f"the reference object ({where}, {ref.px_per_mm:.3f} px/mm) implies a stature "
            f"of {derived_cm:.0f} cm; is it the object named, flat, and at the person's depth?"
        )
        if height_cm is None:
            raise Unprocessable(message, reference=ref.kind)
        warnings.append(message)
    refit_cm = None
    if height_cm is None and abs(derived.stature_m / stature_m - 1.0) > REFERENCE_REFIT:
        # Refit for the proportions only: the reading is kept from the first fit (re-reading
        # it on the refit was noisier: 3.8 % vs 2.0 % mean error on 9 benchmark renders); the
        # refit's own reading is reported as a diagnostic.
        step(0.55, "refitting at the reference's scale")
        fit = fit_photo(
            model, pose, mask, stature_m=derived.stature_m, sex=sex, prior_scale=prior_scale,
            progress=lambda f, m: step(0.55 + 0.35 * f, m),
        )  # fmt: skip
        timings["fit_refit"] = fit.timings.get("fit_optimise", 0.0)
        refit_cm = stature_from_reference(model, fit, ref).stature_m * 100.0
    timings["reference_scale"] = time.perf_counter() - t
    summary: dict[str, Any] = {
        **ref.to_json(),
        "depth": derived.depth,
        "depth_ratio": round(derived.depth_ratio, 4),
        "stature_cm": round(derived_cm, 1),
        "refits": int(refit_cm is not None),
        "refit_stature_cm": None if refit_cm is None else round(refit_cm, 1),
        "camera_pitch_deg": round(pitch, 1),
        "used_for_scale": height_cm is None,
    }
    if ref.foreshortening < 0.7:
        warnings.append(
            f"the {ref.kind} is strongly tilted (foreshortening {ref.foreshortening:.2f}); "
            "hold it flat, facing the camera"
        )
    if height_cm is None and abs(pitch) > REFERENCE_STEEP_PITCH_DEG:
        warnings.append(
            f"the camera seems to look {'down' if pitch > 0 else 'up'} steeply at the person "
            f"({abs(pitch):.0f}°): the fit reads the scale poorly then, so the stature may be "
            "off by more than usual; a photo taken at chest height, straight on, helps"
        )
    if height_cm is None:
        sigma_cm = REFERENCE_SCALE_SIGMA * derived_cm
        warnings.append(
            f"no height given: the scale comes from the {where}: {ref.px_per_mm:.3f} px/mm at "
            f"its depth, foreshortening {ref.foreshortening:.2f}, taken at the body's "
            f"{derived.depth}; stature {derived_cm:.1f} ± {sigma_cm:.1f} cm"
        )
        return fit, derived.stature_m, summary
    gap = derived_cm / height_cm - 1.0
    if abs(gap) > REFERENCE_DISAGREE:
        warnings.append(
            f"the {where} implies a stature of {derived_cm:.1f} cm, {gap:+.0%} from the "
            f"given height ({height_cm:g} cm); the given height is used"
        )
    return fit, stature_m, summary


def _loose_clothing_ratio(model, fit, mask: np.ndarray) -> float:
    """Extra silhouette area outside the fitted body, relative to the body's area.

    The body's silhouette is drawn from the fit's own vertex subsample (posed the fit's way,
    ~1 ms) splatted at 256 px and closed over the ~3 px vertex spacing: a fraction of the cost
    of rasterising the full mesh's 27k triangles, for a ratio compared with a 15 % threshold."""
    import cv2
    import torch

    from bodylens.body.fit import _camera_rotation

    with torch.no_grad():
        coeffs = model.coefficients(
            torch.tensor([list(fit.phenotype.values())], dtype=torch.float32),
            torch.tensor([list(fit.local_changes.values())], dtype=torch.float32),
        )
        verts, _ = model.posed(coeffs, torch.as_tensor(fit.bone_rotvecs, dtype=torch.float32)[None])
        rot = _camera_rotation(torch.as_tensor(fit.root_rotvec)[None].float())[0]
    cam = verts[0].numpy().astype(np.float64) @ rot.numpy().T.astype(np.float64)
    cam = cam + fit.translation
    uv = fit.focal * cam[:, :2] / cam[:, 2:3] + np.array(fit.principal) + fit.mask_shift_px
    h, w = mask.shape
    s = 256.0 / max(h, w)
    small = cv2.resize(mask.astype(np.uint8), (round(w * s), round(h * s)), cv2.INTER_NEAREST)
    body = np.zeros_like(small)
    px = np.round(uv * s).astype(int)
    ok = (px[:, 0] >= 0) & (px[:, 0] < body.shape[1]) & (px[:, 1] >= 0) & (px[:, 1] < body.shape[0])
    body[px[ok, 1], px[ok, 0]] = 1
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    body = cv2.dilate(
        cv2.morphologyEx(body, cv2.MORPH_CLOSE, disc, iterations=2), np.ones((3, 3), np.uint8)
    )
    extra = float(np.logical_and(small > 0, body == 0).sum())
    return extra / max(float(body.sum()), 1.0)


class _WorkerJobs:
    """The fits one ``measure`` call sends to the fit worker (``body.worker``, when
    ``FIT_WORKER``). While one runs there, it counts as a fit in flight (``fit.fit_threads``),
    so the fits here take one core."""

    def __init__(self, timings: dict) -> None:
        self._timings = timings

    def start(self, task: Callable, *args, **kwargs):
        """``task(model, *args, **kwargs)`` started in the worker, or None when it is off,
        not ready or busy. The poses go without their probability maps, which the fits do
        not read (for a 12 MP photo, 96 MB less to send)."""
        if not FIT_WORKER:
            return None
        from bodylens.body import fit as fitmod
        from bodylens.body import worker

        lean = [replace(a, mask=None) if isinstance(a, PoseResult) else a for a in args]
        share = fitmod.fit_threads()
        share.__enter__()
        job = worker.get_worker().submit(task, *lean, **kwargs)
        if job is None:
            share.__exit__(None, None, None)
        else:
            job.add_done_callback(lambda _: share.__exit__(None, None, None))
        return job

    def starter(self, task: Callable, *args, **kwargs) -> Callable[[], Callable[[], Any] | None]:
        """A function that ``start``s the task when called and returns a function that waits
        for its result (None: not started, fit here); for ``fit.fit_photo``."""

        def start() -> Callable[[], Any] | None:
            job = self.start(task, *args, **kwargs)
            return None if job is None else (lambda: self.result(job))

        return start

    def result(self, job) -> Any:
        """What ``job`` returned (its CPU time added to ``timings["worker_cpu"]``), or None
        when there was no job or the worker failed (the caller fits here)."""
        if job is None:
            return None
        try:
            result, cpu = job.result()
        except Exception as exc:  # the worker process died or was shut down
            log.warning("fit worker failed (%s); fitting here", type(exc).__name__)
            return None
        self._timings["worker_cpu"] = self._timings.get("worker_cpu", 0.0) + cpu
        return result


def _side_summary(two, warnings: list[str]) -> dict[str, Any]:
    """Issue 6: the ``body["side"]`` summary of a two-view fit (``views.fit_two_views``):
    whether it is used, and why not (``TwoViewFit.side_failed``: it could not match the side
    photo's silhouette, so the front photo's fit stands alone), with its warnings."""
    from bodylens.body.views import SIDE_FAILED_LOSS

    summary = {
        "used": not two.side_failed,
        "silhouette_loss": round(two.side_silhouette_loss, 4),
        "silhouette_loss_limit": SIDE_FAILED_LOSS,
        "keypoint_error": round(two.side_keypoint_error, 4),
    }
    if two.side_failed:
        warnings.append(
            "side photo: no body matching the front photo fits its outline (is it the same "
            "person, standing side-on with the arms down?); the measurements come from the "
            "front photo alone"
        )
    elif two.side_keypoint_error > 0.05:
        warnings.append("side photo: the body fit is poor (keypoints far from the fitted body)")
    return summary


def _clothing_skip(
    rgb, pose, mask, view: str, timings: dict, warnings: list[str], bags_only: bool = False
):
    """Issue 6: the outline pixels that are skirt, dress or bag (``body.clothing``; with
    ``bags_only``, a large bag only), so the fit goes under them; None when there are none."""
    from bodylens.body.clothing import garment_outline_skip

    t = time.perf_counter()
    skip = garment_outline_skip(rgb, pose, mask, bags_only=bags_only)
    timings["clothing" if view == "photo" else "side_clothing"] = time.perf_counter() - t
    if skip is None:
        return None
    if skip.outline_fraction > 0.05 or bags_only:  # a bag this large is always said
        prefix = "" if view == "photo" else f"{view}: "
        one = skip.garments == ["bag"]
        warnings.append(
            f"{prefix}{'a bag covers' if one else ' and '.join(skip.garments) + ' cover'} "
            f"{skip.outline_fraction:.0%} of the outline: the body is fitted under "
            f"{'it' if one else 'them'}, so hip and thigh girths lean on the body prior"
        )
    return skip.mask


@dataclass
class _Person:
    """One photo as fitted, and the person found in it."""

    rgb: np.ndarray  # at its working size, turned upright, in its canonical orientation
    pose: PoseResult
    mask: np.ndarray
    turns: int  # counter-clockwise quarter turns given to the photo as sent
    mirrored: bool  # then mirrored (``canonical_orientation``)
    scale: float  # its working size over its size as sent (``working_size``)
    view: str  # which photo it was sent as: "photo" (the front one) or "side photo"


def _find_person(rgb: np.ndarray, view: str, timings: dict, warnings: list[str]) -> _Person:
    """Pose and person mask of the most prominent person in one view ("photo" or "side
    photo"), the photo first brought to its working size (``working_size``), its levels
    spread if it is very dark or flat (``stretch_levels``), turned so that the person stands
    upright (``quarter_turns_to_upright``) and put in its canonical orientation; refuses a
    view with nobody or a cut-off person, naming the view."""
    from bodylens.detect.pose import detect_pose

    t = time.perf_counter()
    rgb, scale = working_size(rgb)
    stretched = stretch_levels(rgb)  # too dark or too flat: its levels spread first
    rgb = rgb if stretched is None else stretched

    def oriented_pose(photo: np.ndarray):
        oriented, mirrored = (
            canonical_orientation(photo) if CANONICAL_ORIENTATION else (photo, False)
        )
        pose = detect_pose(oriented, mirror_average=MIRROR_AVERAGED_POSE, search_small=True)
        return oriented, mirrored, pose

    oriented, mirrored, pose = oriented_pose(rgb)
    turns = quarter_turns_to_upright(pose) if pose is not None else 0
    if turns:  # lying or upside down: detect again on the photo as sent, turned upright
        turns = -turns % 4 if mirrored else turns  # a mirror image turns the other way
        oriented, mirrored, pose = oriented_pose(np.ascontiguousarray(np.rot90(rgb, turns)))
    timings["pose" if view == "photo" else "side_pose"] = time.perf_counter() - t
    prefix = "" if view == "photo" else f"{view}: "
    try:
        if pose is None:
            raise Unprocessable("no person found in the photo")
        mask, mask_warnings = _person_mask(pose)
        _check_visible(pose, mask)
    except Unprocessable as exc:
        if not prefix:
            raise
        message = exc.message.replace("in the photo", f"in the {view}")
        if message == exc.message:
            message = prefix + message
        raise Unprocessable(message, **exc.details) from None
    if stretched is not None:
        warnings.append(
            f"{prefix}the photo is very dark or flat: its levels were spread before "
            "measuring; a brighter photo, with more contrast, measures better"
        )
    if turns:
        how = {
            1: "on their side: the photo was turned a quarter turn counter-clockwise",
            2: "upside down: the photo was turned 180°",
            3: "on their side: the photo was turned a quarter turn clockwise",
        }[turns]
        warnings.append(
            f"{prefix}the person was {how} to stand them up (was its EXIF orientation lost?)"
        )
    warnings += [prefix + w for w in mask_warnings]
    rows = np.flatnonzero(mask.any(axis=1))
    share = (rows[-1] - rows[0] + 1) / mask.shape[0]
    if share < SMALL_PERSON_SHARE:
        warnings.append(
            f"{prefix}the person fills only {share:.0%} of the photo's height: measurements "
            "are less precise than from a photo taken closer (the person filling most of it)"
        )
    return _Person(oriented, pose, mask, turns, mirrored, scale, view)


# A photo whose levels (1st to 99th percentile) span fewer than this many of 256 is too dark or
# too flat for MediaPipe: the bundled photo at 10 % of its brightness showed nobody, and at 15 %
# of its contrast a person mask that read chest / waist / hip 114 / 115 / 123 cm (96 / 83 /
# 102 as sent). Spread to the full range first, they measure within 0.5 and 1.3 cm of it. Every
# CCP photo spans at least 183 and every benchmark render at least 166, so none is changed.
FLAT_LEVELS = 128


def stretch_levels(rgb: np.ndarray) -> np.ndarray | None:
    """The photo with its 1st-99th percentile levels spread over 0-255 when they span fewer
    than FLAT_LEVELS (an underexposed or hazy photo), else None. A global, monotonic map, so a
    photo and its mirror image still come out as mirror images."""
    import cv2

    low, high = np.percentile(rgb[::4, ::4], (1, 99))
    if high - low >= FLAT_LEVELS:
        return None
    ramp = (np.arange(256, dtype=np.float64) - low) * 255.0 / max(high - low, 1.0)
    table = np.clip(np.round(ramp), 0, 255).astype(np.uint8)
    return cv2.LUT(np.ascontiguousarray(rgb), table)


# Shoulder-to-shoulder distance over the torso's length in the image (``shoulder_ratio``):
# 0.68-0.9 on renders of people facing the camera, at most 0.17 on side-on renders (24 ANSUR
# bodies each). Below SIDE_ON a photo shows the person side-on; above FACING, facing it.
SIDE_ON_RATIO = 0.35
FACING_RATIO = 0.5


def shoulder_ratio(pose: PoseResult) -> float:
    """How wide the shoulders look against the torso's length: how much the person faces
    the camera."""
    shoulders = pose.point("left_shoulder") - pose.point("right_shoulder")
    torso = float(np.linalg.norm(_torso_axis(pose)))
    return float(np.linalg.norm(shoulders)) / max(torso, 1e-6)


def _torso_axis(pose: PoseResult) -> np.ndarray:
    """From the hips' midpoint to the shoulders' (image pixels)."""
    shoulders = (pose.point("left_shoulder") + pose.point("right_shoulder")) / 2.0
    hips = (pose.point("left_hip") + pose.point("right_hip")) / 2.0
    return shoulders - hips


def _side_on_warning(person: _Person, photo: str = "photo") -> list[str]:
    ratio = shoulder_ratio(person.pose)
    if ratio >= SIDE_ON_RATIO:
        return []
    return [
        f"the person is side-on in the {photo} (shoulders {ratio:.0%} of the torso's length "
        "apart): girths are read best from a photo facing the camera"
    ]


def _sort_views(front: _Person, side: _Person, front_warnings: list[str],
                side_warnings: list[str]):  # fmt: skip
    """The front and side photos in the roles their poses show, with their warnings: photos
    sent the other way round (the front one side-on, the side one facing the camera) are
    swapped; a side photo facing the camera like the front one is dropped (it cannot show the
    depth), with the ``body["side"]`` summary that says so. Returns (front, side or None,
    front warnings, side warnings, dropped side summary or None)."""
    front_ratio, side_ratio = shoulder_ratio(front.pose), shoulder_ratio(side.pose)
    prefix = "side photo: "
    if front_ratio < SIDE_ON_RATIO and side_ratio > FACING_RATIO:
        swapped_front = [w.removeprefix(prefix) for w in side_warnings]
        swapped_side = [prefix + w for w in front_warnings]
        swapped_front.append(
            f"the photos seem swapped: the front photo shows the person side-on (shoulders "
            f"{front_ratio:.0%} of the torso's length apart) and the side photo facing the "
            f"camera ({side_ratio:.0%}), so each was used as the other"
        )
        return side, front, swapped_front, swapped_side, None
    if front_ratio > FACING_RATIO and side_ratio > FACING_RATIO:
        front_warnings.append(
            f"side photo: the person faces the camera in it (shoulders {side_ratio:.0%} of the "
            f"torso's length apart, as in the front photo), so it cannot show the body's "
            "depth and was not used; the measurements come from the front photo alone"
        )
        dropped = {"used": False, "reason": "faces the camera",
                   "shoulder_ratio": round(side_ratio, 3)}  # fmt: skip
        return front, None, front_warnings, [], dropped
    return front, side, front_warnings + _side_on_warning(front, "front photo"), side_warnings, None


# A person shorter than this share of the photo's height is measured with a warning: on renders
# of ANSUR bodies at a fifth of the height, chest / waist / hip erred 0.5-1 cm more than at
# four fifths (docs/measurements.md, "A person far away").
SMALL_PERSON_SHARE = 0.3


# A torso leaning further than this from the image's vertical is taken for a photo on its side.
UPRIGHT_TOLERANCE_DEG = 45.0


def quarter_turns_to_upright(pose: PoseResult) -> int:
    """Counter-clockwise quarter turns (``np.rot90``'s k, 0-3) that stand the person upright.

    Why: a backend that resizes phone photos often drops the EXIF orientation, and the
    person then lies on their side. MediaPipe still finds them, and the fit, whose root
    rotation is free, gave a street photo's waist as 102 cm instead of 83. Turned upright,
    the photo is the same pixels as one sent upright, so it gets the same measurements.
    The direction is the torso's (hips to shoulders), which MediaPipe reads in every quarter
    turn of street photos (within 10° of the turn on 17 CCP photos)."""
    up_x, up_y = _torso_axis(pose).tolist()
    if math.hypot(up_x, up_y) < 1e-6:
        return 0
    lean = math.degrees(math.atan2(up_x, -up_y))  # clockwise from the image's up
    if abs(lean) <= UPRIGHT_TOLERANCE_DEG:
        return 0
    return round(lean / 90.0) % 4
