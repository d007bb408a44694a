"""What real adults' Anny shape controls look like, as a prior inside the photo fit.

Why: a front photo shows widths, not depths, and Anny's phenotypes alone give torsos that are
too shallow for real adults' widths (Anny fitted to ANSUR II subjects needs torso depth +0.46
on average). Left at zero, the depth controls make every front fit too small in the girths.
This prior is a Gaussian over the fit's free phenotype values and its local controls, learned
from Anny bodies fitted to ANSUR II *prior-split* subjects (``benchmarks/build_ansur_bodies.py
--split prior``; the benchmark scores other subjects). What the photo cannot see (depth) then
follows what it can (widths, body type) through the learned correlations, instead of zero.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from bodylens.body.model import FIT_LOCAL_CHANGES

PRIOR_FILE = Path(__file__).resolve().parent.parent / "data" / "shape_prior.json"
# The phenotype values the fit leaves free of other priors (gender and age have their own).
PRIOR_PHENOTYPES = ("muscle", "weight", "height", "proportions")
# Shrink the covariance toward its diagonal and floor the SDs: ~600 bodies per sex for a
# 25-dimensional Gaussian leave a few directions too tight to trust.
SHRINK = 0.2
MIN_SD = 0.03


@dataclass(frozen=True)
class ShapePrior:
    """Gaussian over ``PRIOR_PHENOTYPES`` + ``FIT_LOCAL_CHANGES`` (one sex, or both pooled)."""

    mean: np.ndarray
    covariance: np.ndarray

    @property
    def local_mean(self) -> np.ndarray:
        return self.mean[len(PRIOR_PHENOTYPES) :]

    def torch_terms(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and precision as float32 tensors, for ``penalty``."""
        precision = np.linalg.inv(self.covariance)
        return (
            torch.as_tensor(self.mean, dtype=torch.float32),
            torch.as_tensor(precision, dtype=torch.float32),
        )


def penalty(
    free_phenotype: torch.Tensor, local: torch.Tensor, mean: torch.Tensor, precision: torch.Tensor
) -> torch.Tensor:
    """Half the squared Mahalanobis distance of the shape (batch 1) from the prior's mean."""
    d = torch.cat([free_phenotype[0], local[0]]) - mean
    return 0.5 * d @ precision @ d


def learn(bodies: list[dict]) -> dict:
    """Per-sex and pooled Gaussians from fitted bodies (``ansur_prior_bodies.json`` rows)."""
    rows = np.array(
        [
            [b["phenotype"][k] for k in PRIOR_PHENOTYPES]
            + [b["local_changes"][k] for k in FIT_LOCAL_CHANGES]
            for b in bodies
        ]
    )
    sexes = np.array([b["sex"] for b in bodies])
    out: dict = {
        "about": "Anny shape prior: Gaussian over phenotype (muscle, weight, height, "
        "proportions) and the fit's local controls, from Anny bodies fitted to ANSUR II "
        "prior-split subjects (bodylens.body.shape_prior)",
        "names": list(PRIOR_PHENOTYPES) + list(FIT_LOCAL_CHANGES),
    }
    for key, sel in (("male", sexes == "male"), ("female", sexes == "female"), ("any", None)):
        x = rows if sel is None else rows[sel]
        cov = np.cov(x, rowvar=False)
        cov = (1 - SHRINK) * cov + SHRINK * np.diag(np.diag(cov))
        cov += np.eye(len(cov)) * MIN_SD**2
        out[key] = {"n": len(x), "mean": x.mean(0).round(5).tolist(), "cov": cov.round(7).tolist()}
    return out


@lru_cache(maxsize=4)
def load(sex: str | None) -> ShapePrior | None:
    """The prior for ``sex`` (pooled when unknown); None when the file is missing or was built
    for other controls (the fit then keeps its plain pull of the local controls to zero)."""
    if not PRIOR_FILE.exists():
        return None
    data = json.loads(PRIOR_FILE.read_text())
    if data["names"] != list(PRIOR_PHENOTYPES) + list(FIT_LOCAL_CHANGES):
        return None
    part = data.get(sex or "any", data["any"])
    return ShapePrior(np.array(part["mean"]), np.array(part["cov"]))
