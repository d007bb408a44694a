"""Fuse photo measurements with the ANSUR II prior: data fills in what the photos cannot see.

Why: a front photo shows widths, not depths, so a photo-fitted girth carries a large error that
is partly predictable from height, weight, sex and the other girths. The ANSUR II per-sex
Gaussian (``bodylens.body.ansur``) conditioned on the exact inputs (height, weight when given)
and on the photo readings as noisy observations ``(value, σ)`` is exactly the precision-weighted
combination of photo and data, with the correlations between measurements taken into account.

Definitions: the prior speaks ANSUR's definitions (e.g. waist at the navel), the product's
measurement table its own (natural waist). So the photo readings given to the prior are taken on
the fitted body with ANSUR's definitions (``anny_fit_measurements.AnnyMeasurer``), and the
correction the prior makes in ANSUR terms is carried over to the table's value of the same
measurement on the same body: ``table + (fused_ansur − photo_ansur)``.

Calibration: the photo readings' bias and σ per measurement and per view set ("front",
"front_side"; photo readings of a fitted body run systematically small or large), the learned
corrections of the ANSUR answer and of the returned table values, and the σ scales that make
±σ cover ~68 %, come from the calibration set of the synthetic ANSUR benchmark
(``benchmarks/measure_ansur.py --calibrate``) and ship in
``bodylens/data/fusion_calibration.json``; without that file, conservative defaults are used.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from bodylens.body.anny_fit_measurements import ANSUR_SHARED
from bodylens.body.ansur import NoiseCorrelation

log = logging.getLogger(__name__)

CALIBRATION_PATH = Path(__file__).resolve().parents[1] / "data" / "fusion_calibration.json"
VIEWS = ("front", "front_side")
# Photo readings (ANSUR definitions on the fitted body) handed to the prior. Breadths and
# depths are left out: a mesh band's extent is not ANSUR's caliper landmark.
READINGS = ANSUR_SHARED
# Readings further than this many σ from the height (+ weight) prediction are down-weighted.
# Conditioning on all readings jointly beat one reading per measurement on the benchmark
# (chest 2.9 vs 3.2 cm front+side); 1.5 beat 2.0 and no down-weighting.
ROBUST_Z = 1.5
# Table measurements whose ANSUR counterpart has the same name (the correction carries over).
FUSED = READINGS
# A learned correction may move a value by at most this many SD of what it leaves on the
# calibration set (``stack_correction``; the calibration fits the σ scale on corrections capped
# the same way, ``benchmarks/measure_ansur.py``).
CORRECTION_CAP_SD = 3.0
# Table measurements taken where ANSUR takes another measurement: that one's correction (and σ)
# carries over. The stomach girth is taken at the navel, ANSUR's waist level.
CARRIED = {"stomach_girth": "waist_girth"}
# Default photo σ (cm; weight kg) per view set, about 1.25 × the single-photo MAE on the
# issue-2 synthetic benchmark; the two-view girths are assumed ~40 % better.
_DEFAULT_SIGMA = {
    "front": {
        "chest_girth": 4.8,
        "waist_girth": 5.0,
        "hip_girth": 4.4,
        "neck_girth": 2.4,
        "thigh_girth": 3.0,
        "calf_girth": 2.9,
        "ankle_girth": 1.2,
        "wrist_girth": 1.0,
        "shoulder_width": 2.2,
        "arm_length": 2.3,
        "inside_leg": 2.0,
        "weight": 7.0,
    },
}
_DEFAULT_SIGMA["front_side"] = {
    k: v * (0.6 if k.endswith("girth") or k == "weight" else 1.0)
    for k, v in _DEFAULT_SIGMA["front"].items()
}


@dataclass
class Calibration:
    """Per view set: the fit's size bias per reading (photo ≈ offset + ratio × truth: a fit's
    bias grows with size, though not in proportion), σ of the corrected reading
    ((photo − offset) / ratio − truth), the correlation of those errors between readings,
    and the output σ scale.

    Why the correlation: one fitted body reads its girths wrong together (a fit that came
    out too broad reads chest, waist and hip all large), so three readings are not three
    independent witnesses. Treating them as such over-trusts the photo; with the measured
    correlation the prior can tell a broad body from a broad fit."""

    ratio: dict[str, dict[str, float]]
    sigma: dict[str, dict[str, float]]
    scale: dict[str, dict[str, float]]
    source: str = "defaults"
    # views -> {"names": [...], "matrix": [[...]]}; absent: independent errors.
    corr: dict[str, dict] = field(default_factory=dict)
    offset: dict[str, dict[str, float]] = field(default_factory=dict)
    # mode ("front", "front_noweight", ...) -> sex ("male", "female", "any") -> correction
    # model (see ``stack_correction``); absent: the Gaussian answer as it is.
    stack: dict[str, dict[str, dict]] = field(default_factory=dict)
    # The same for the values ``measure`` returns (the table's definitions), each model with
    # its σ scale per measurement; absent: the ANSUR correction carried over, as it is.
    table: dict[str, dict[str, dict]] = field(default_factory=dict)

    def corrected(self, views: str, name: str, reading: float) -> tuple[float, float] | None:
        """A photo reading with the fit's size bias removed, and its σ (None: uncalibrated)."""
        s = self.sigma.get(views, {}).get(name)
        if s is None:
            return None
        ratio = self.ratio.get(views, {}).get(name, 1.0)
        return (reading - self.offset.get(views, {}).get(name, 0.0)) / ratio, s

    def noise_correlation(self, views: str) -> NoiseCorrelation | None:
        c = self.corr.get(views)
        return (tuple(c["names"]), np.asarray(c["matrix"], float)) if c else None


@lru_cache(maxsize=1)
def calibration() -> Calibration:
    default = Calibration({}, {v: dict(_DEFAULT_SIGMA[v]) for v in VIEWS}, {})
    if not CALIBRATION_PATH.is_file():
        return default
    obj = json.loads(CALIBRATION_PATH.read_text())
    return Calibration(
        obj.get("ratio", {}),
        {v: {**default.sigma[v], **obj.get("sigma", {}).get(v, {})} for v in VIEWS},
        obj.get("scale", {}),
        obj.get("source", str(CALIBRATION_PATH.name)),
        obj.get("corr", {}),
        obj.get("offset", {}),
        obj.get("stack", {}),
        obj.get("table", {}),
    )


def mode_of(views: str, with_weight: bool) -> str:
    """The calibration's key for a view set with or without a given weight."""
    return views if with_weight else f"{views}_noweight"


def stack_features(
    fused: dict[str, float],
    readings: dict[str, float],
    height_cm: float,
    weight_kg: float | None,
    front_readings: dict[str, float] | None = None,
) -> dict[str, float]:
    """What the learned correction sees: the Gaussian answer, every photo reading (breadths and
    depths too, which the Gaussian leaves out; the table's values too, ``readings_of``), the
    height and the weight when given.

    ``front_readings`` (front+side only): the same readings of the front photo fitted alone.
    Why: the two fits err partly apart (their girth errors correlate ~0.7), so the
    correction that sees both took the scored bodies' chest / waist MAE with a weight from
    1.82 / 1.60 to 1.61 / 1.50 cm, calibrated on the same 1,199 bodies (docs/measurements.md)."""
    out = {f"fused:{n}": v for n, v in fused.items()}
    out.update({f"photo:{k}": v for k, v in readings.items() if k != "height"})
    if front_readings is not None:
        out.update({f"front:{k}": v for k, v in front_readings.items() if k != "height"})
    out["height"] = float(height_cm)
    if weight_kg is not None:
        out["weight"] = float(weight_kg)
    return out


def stack_correction(
    model: dict | None, features: dict[str, float], own: dict[str, float] | None = None
) -> dict[str, float]:
    """Additive corrections (cm; kg for weight) to the Gaussian answer from a ridge model
    fitted on the calibration set (``benchmarks/measure_ansur.py --calibrate``).

    ``own`` (a table model, ``Calibration.table``): each measurement's own table value, the
    last input of its regression (standardised by ``own_mean``/``own_sd``); a measurement
    without one is not corrected. So a value never depends on which others were asked for.

    Why: the Gaussian fusion is linear in readings whose errors are not quite Gaussian or
    equally biased for every body; a regression of the truth's residual on all readings,
    fitted on renders of prior-split subjects, takes 3-25 % off the headline girths' error
    on the scored bodies (docs/BENCHMARKS.md), at some cost in stability on real photos
    (docs/measurements.md). Inputs are standardised and clipped to ±4 SD and each correction
    to ±3 residual SD, so an unusual photo cannot be pushed far by it.

    A model needs every input it was fitted on (``fit_readings``; with a side photo, the front
    photo's fitted alone too): ValueError names the missing ones rather than leave part of
    the correction out."""
    if not model:
        return {}
    missing = [k for k in model["features"] if k not in features]
    if missing:
        hint = " (front_readings: the front photo fitted alone)" if any(
            k.startswith("front:") for k in missing
        ) else ""  # fmt: skip
        raise ValueError(f"the learned correction needs readings the call lacks: "
                         f"{', '.join(missing[:4])}{hint}")  # fmt: skip
    shared = [features[k] for k in model["features"]]
    out = {}
    for name, coef in model["coef"].items():
        if own is not None and name not in own:
            continue
        x, mean, sd = shared, model["mean"], model["sd"]
        if own is not None:
            x = [*x, own[name]]
            mean, sd = [*mean, model["own_mean"][name]], [*sd, model["own_sd"][name]]
        z = np.clip((np.asarray(x, float) - mean) / np.asarray(sd), -4.0, 4.0)
        limit = CORRECTION_CAP_SD * model["residual_sd"][name]
        out[name] = float(np.clip(model["intercept"][name] + z @ np.asarray(coef), -limit, limit))
    return out


@lru_cache(maxsize=1)
def _measurer():
    """ANSUR-definition tape measures on Anny meshes, sharing the loaded Anny model."""
    from bodylens.body.anny_fit_measurements import AnnyMeasurer
    from bodylens.body.model import get_body_model

    return AnnyMeasurer(get_body_model().anny)


def photo_readings(vertices: np.ndarray, bone_heads: np.ndarray) -> dict[str, float]:
    """ANSUR-definition measurements (cm) and mass (kg) of a full rest body already scaled to
    its stature (vertices (V, 3) and bone heads (J, 3), metres)."""
    import torch

    from bodylens.body.anny_fit_measurements import DENSITY

    m = _measurer()
    v = torch.as_tensor(vertices, dtype=torch.float64)[None]
    heads = torch.as_tensor(bone_heads, dtype=torch.float64)[None]
    with torch.no_grad():
        mass = m.volume(v) * DENSITY
        out = m.measure(v[:, m.sub], heads, mass)
    return {k: float(t[0]) for k, t in out.items()}


TABLE_PREFIX = "table:"


def readings_of(ansur: dict[str, float], table: dict[str, float]) -> dict[str, float]:
    """One fitted body's readings as the fusion takes them: its ANSUR-definition values
    (``photo_readings``) and every value of the measurement table, keyed ``table:<name>``."""
    out = dict(ansur)
    out.update({f"{TABLE_PREFIX}{k}": v for k, v in table.items() if k != "height"})
    return out


def fit_readings(model, rest, table: dict[str, float] | None = None) -> dict[str, float]:
    """``readings_of`` a fitted rest body already scaled to its stature (``api.measure``);
    ``table``: its values of every table measurement, when already computed.
    Every table value is read, whatever was asked for, so that the learned corrections, which
    read them all, give each value independently of the others asked for."""
    from bodylens.body import measurements

    ansur = photo_readings(rest.vertices, rest.bone_heads)
    return readings_of(ansur, table if table is not None else measurements.compute(model, rest))


def split_readings(readings: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """(ANSUR-definition values, table values) of ``readings_of``'s dict."""
    n = len(TABLE_PREFIX)
    ansur = {k: v for k, v in readings.items() if not k.startswith(TABLE_PREFIX)}
    return ansur, {k[n:]: v for k, v in readings.items() if k.startswith(TABLE_PREFIX)}


@dataclass
class FusionResult:
    """Fused table values with σ (cm), and the mass/BMI estimate."""

    values: dict[str, tuple[float, float]]  # canonical table name -> (value, σ)
    mass_kg: tuple[float, float]
    bmi: tuple[float, float]
    weight_source: str  # "given" | "estimated"
    ansur: dict[str, tuple[float, float]] = field(default_factory=dict)  # ANSUR definitions
    readings: dict[str, float] = field(default_factory=dict)  # ANSUR-definition photo readings


def fuse(
    table_cm: dict[str, float],
    readings: dict[str, float],
    *,
    height_cm: float,
    weight_kg: float | None,
    sex: str | None,
    views: str = "front",
    table_sigma: dict[str, float] | None = None,
    cal: Calibration | None = None,
    height_sigma_cm: float = 0.0,
    front_readings: dict[str, float] | None = None,
) -> FusionResult:
    """Combine photo measurements with ANSUR's prior given height (+ weight, + sex).

    table_cm: the fitted body's values from the measurement table, those to return; readings:
    the same body with ANSUR's definitions and every table value (``fit_readings``). Without a
    weight the photo body's mass is a noisy reading, and the posterior weight and BMI are the
    estimates. ``height_sigma_cm`` > 0
    makes the height a noisy observation too (a stature derived from a reference object).
    ``front_readings``: with ``views`` "front_side", the readings of the front photo fitted
    alone, which the learned front+side correction reads too (ValueError without them).
    """
    from bodylens.body.ansur import _normalise_sex, conditional_prior

    if views not in VIEWS:
        raise ValueError(f"views must be one of {VIEWS}")
    cal = cal or calibration()
    known: dict[str, float | tuple[float, float]] = {
        "height": (float(height_cm), float(height_sigma_cm)) if height_sigma_cm > 0
        else float(height_cm)
    }  # fmt: skip
    if weight_kg is not None:
        known["weight"] = float(weight_kg)
    elif "weight" in readings and (c := cal.corrected(views, "weight", readings["weight"])):
        known["weight"] = c
    # Robustness: a reading far from what height (+ weight) predicts is more likely a failed
    # fit than an unusual body, so its σ grows with the distance beyond ROBUST_Z.
    base = conditional_prior(dict(known), sex)
    for name in READINGS:
        c = cal.corrected(views, name, readings[name]) if name in readings else None
        if c is not None:
            value, sd = c
            z = abs(value - base[name][0]) / math.hypot(sd, base[name][1])
            known[name] = (value, sd * max(1.0, z / ROBUST_Z))
    post = conditional_prior(known, sex, noise_corr=cal.noise_correlation(views))
    mode = mode_of(views, weight_kg is not None)
    group = _normalise_sex(sex) or "any"
    stack_model = cal.stack.get(mode, {}).get(group)
    table_model = cal.table.get(mode, {}).get(group)
    means = {n: post[n][0] for n in (*FUSED, "weight")}
    # The learned correction of the Gaussian answer.
    feats = stack_features(
        {n: means[n] for n in FUSED}, readings, height_cm, weight_kg,
        front_readings if views == "front_side" else None,
    )  # fmt: skip
    for name, delta in stack_correction(stack_model, feats).items():
        means[name] += delta
    scales = cal.scale.get(f"{mode}|{group}", cal.scale.get(mode, cal.scale.get(views, {})))
    table_sigma = table_sigma or {}
    values: dict[str, tuple[float, float]] = {}
    for name, value in table_cm.items():
        source = CARRIED.get(name, name)
        if source in FUSED and source in readings:
            values[name] = (value + means[source] - readings[source], post[source][1])
        else:
            values[name] = (value, table_sigma.get(name, 2.0))
    # The learned correction of the returned (table-definition) values, with their own σ scale;
    # without one, the ANSUR σ scale stands in for the same (or the carried) measurement.
    deltas = stack_correction(table_model, feats, own={n: v[0] for n, v in values.items()})
    for name, (value, sd) in values.items():
        if table_model and name in table_model["scale"]:
            values[name] = (value + deltas.get(name, 0.0), sd * table_model["scale"][name])
        else:
            values[name] = (value, sd * scales.get(CARRIED.get(name, name), 1.0))
    if weight_kg is not None:
        mass = (float(weight_kg), 0.0)
        bmi = (mass[0] / (height_cm / 100.0) ** 2, 0.0)
    else:
        mass = (means["weight"], post["weight"][1] * scales.get("weight", 1.0))
        shift = (means["weight"] - post["weight"][0]) / (height_cm / 100.0) ** 2
        bmi = (post["bmi"][0] + shift, post["bmi"][1] * scales.get("weight", 1.0))
    ansur_defs = {n: (means[n], post[n][1] * scales.get(n, 1.0)) for n in FUSED}
    return FusionResult(
        values,
        mass,
        bmi,
        "given" if weight_kg is not None else "estimated",
        ansur_defs,
        dict(readings),
    )


def apply(
    readings: dict[str, float],
    table_cm: dict[str, float],
    *,
    height_cm: float | None,
    weight_kg: float | None,
    sex: str | None,
    views: str,
    table_sigma: dict[str, float],
    height_sigma_cm: float = 0.0,
    front_readings: dict[str, float] | None = None,
) -> tuple[dict[str, float], dict[str, float], dict[str, object]]:
    """What ``api.measure`` calls: fused values and σ per name of ``table_cm`` (the values asked
    for), plus a JSON-ready summary (mass/BMI estimate, the raw photo values) for the result's
    ``body`` section. ``readings`` / ``front_readings``: ``fit_readings`` of the fitted body and,
    with a side photo, of the front photo fitted alone.

    Without a given height the prior is not applied (its strongest input would be a guess)."""
    if height_cm is None:
        return dict(table_cm), dict(table_sigma), {"applied": False}
    res = fuse(
        table_cm,
        readings,
        height_cm=height_cm,
        weight_kg=weight_kg,
        sex=sex,
        views=views,
        table_sigma=table_sigma,
        height_sigma_cm=height_sigma_cm,
        front_readings=front_readings,
    )
    summary: dict[str, object] = {
        "applied": True,
        "views": views,
        "prior": "ANSUR II per-sex Gaussian | height"
        + (f" (± {height_sigma_cm:.1f} cm)" if height_sigma_cm > 0 else "")
        + (" + weight" if weight_kg else ""),
        "calibration": calibration().source,
        "weight_source": res.weight_source,
        "mass_kg": [round(res.mass_kg[0], 1), round(res.mass_kg[1], 1)],
        "bmi": [round(res.bmi[0], 1), round(res.bmi[1], 1)],
        **_raw_values("photo", readings),
    }
    if front_readings is not None and views == "front_side":
        summary.update(_raw_values("front_photo", front_readings))
    values = {k: v[0] for k, v in res.values.items()}
    sigmas = {k: v[1] for k, v in res.values.items()}
    return values, sigmas, summary


def _raw_values(prefix: str, readings: dict[str, float]) -> dict[str, dict[str, float]]:
    """``<prefix>_table_cm`` and ``<prefix>_ansur_cm``: a fitted body's own values, rounded."""
    ansur, table = split_readings(readings)
    return {
        f"{prefix}_table_cm": {k: round(v, 2) for k, v in table.items()},
        f"{prefix}_ansur_cm": {k: round(v, 2) for k, v in ansur.items()},
    }
