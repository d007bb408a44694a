"""Combine a photo measurement with the ANSUR prior and report a calibrated ±σ.

Why: a shop needs to know how far to trust each number. The photo fit gives an estimate with a
rough σ; the ANSUR prior (``bodylens.body.ansur.conditional_prior``) gives what bodies of that
height/weight/width usually measure. Precision weighting of two Gaussians is the principled
combination; a single scale factor per measurement, fitted on the benchmark so that ±σ covers the
truth ~68 % of the time, makes the reported σ honest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

# 68.27 %: the share of a normal within ±1σ, the coverage a reported ±σ promises.
ONE_SIGMA = math.erf(1 / math.sqrt(2))


def combine(
    estimate: float, sigma: float, prior_mean: float, prior_sigma: float, scale: float = 1.0
) -> tuple[float, float]:
    """Precision-weighted mean of the photo estimate and the prior, and its σ × ``scale``.

    A zero σ on either side means that side is exact and wins outright.
    """
    if sigma < 0 or prior_sigma < 0 or scale <= 0:
        raise ValueError("sigmas must be >= 0 and scale > 0")
    if sigma == 0:
        return float(estimate), 0.0
    if prior_sigma == 0:
        return float(prior_mean), 0.0
    w_e, w_p = 1.0 / sigma**2, 1.0 / prior_sigma**2
    mean = (w_e * estimate + w_p * prior_mean) / (w_e + w_p)
    return float(mean), float(scale / math.sqrt(w_e + w_p))


def combine_all(
    estimates: Mapping[str, tuple[float, float]],
    prior: Mapping[str, tuple[float, float]],
    scales: Mapping[str, float] | None = None,
) -> dict[str, tuple[float, float]]:
    """``combine`` per measurement name; names without a prior keep the photo estimate."""
    scales = scales or {}
    out = {}
    for name, (est, sd) in estimates.items():
        if name in prior:
            out[name] = combine(est, sd, *prior[name], scale=scales.get(name, 1.0))
        else:
            out[name] = (float(est), float(sd) * scales.get(name, 1.0))
    return out


def coverage(errors: np.ndarray, sigmas: np.ndarray, k: float = 1.0) -> float:
    """Fraction of cases with |error| ≤ k·σ (target ≈ 0.68 for k = 1; accept 0.60–0.75)."""
    e = np.abs(np.asarray(errors, float))
    s = np.asarray(sigmas, float)
    if e.shape != s.shape or e.size == 0:
        raise ValueError("errors and sigmas must be non-empty and the same shape")
    return float(np.mean(e <= k * s))


def sigma_scale(errors: np.ndarray, sigmas: np.ndarray, target: float = ONE_SIGMA) -> float:
    """The factor that makes ``coverage(errors, scale·sigmas) == target`` on this sample."""
    ratio = np.abs(np.asarray(errors, float)) / np.maximum(np.asarray(sigmas, float), 1e-9)
    if ratio.size == 0:
        raise ValueError("need at least one error")
    return float(max(np.quantile(ratio, target), 1e-6))
