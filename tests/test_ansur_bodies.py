"""Realistic benchmark bodies: Anny fitted to ANSUR II subjects (needs the Anny cache)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bodylens.body import ansur
from bodylens.body.anny_fit_measurements import FIT_LOCAL, AnnyMeasurer, fit_subjects
from tests.conftest import shared_path

BODIES = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "ansur_bodies.json"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def measurer() -> AnnyMeasurer:
    return AnnyMeasurer()


def test_fit_reproduces_real_people(measurer):
    data = ansur.load_ansur(shared_path("data", "ansur2"))
    score = data.subset(ansur.split_masks(data)["score"])
    # A heavy man and a slim woman (90th / 10th BMI percentile of the split); the extremes
    # (BMI 42) fit worse, see docs/benchmarks/baseline.md for the whole set's residuals.
    pick = []
    for sex, q in (("male", 0.9), ("female", 0.1)):
        rows = np.flatnonzero(score.sex == sex)
        bmi = score.values["bmi"][rows]
        pick.append(rows[np.argmin(np.abs(bmi - np.quantile(bmi, q)))])
    subj = score.subset(np.array(pick))
    targets = {
        k: subj.values[k]
        for k in (
            "height",
            "weight",
            "chest_girth",
            "waist_girth",
            "hip_girth",
            "thigh_girth",
            "inside_leg",
        )
    }
    res = fit_subjects(measurer, targets, subj.sex, subj.values["age"], steps=100)
    err = {k: np.abs(res.measured[k] - v) for k, v in targets.items()}
    assert np.all(err["height"] < 1.0), err["height"]
    assert np.all(err["weight"] < 4.0), err["weight"]
    for k in ("chest_girth", "waist_girth", "hip_girth"):
        assert np.all(err[k] < 3.0), (k, err[k], subj.values["bmi"])


def test_shipped_bodies_are_scoring_subjects_and_reproducible(measurer):
    if not BODIES.is_file():
        pytest.skip("benchmarks/data/ansur_bodies.json not built yet")
    bodies = json.loads(BODIES.read_text())["bodies"]
    assert len(bodies) >= 200
    assert {b["sex"] for b in bodies} == {"male", "female"}
    assert all(ansur.split_of(b["subject_id"], b["sex"]) == "score" for b in bodies)
    assert len({b["subject_id"] for b in bodies}) == len(bodies)  # later draws pick others
    bmi = np.array([b["ansur"]["bmi"] for b in bodies])
    assert bmi.min() < 20 and bmi.max() > 35
    sample = bodies[:: len(bodies) // 4][:4]
    params = {
        "phenotype": torch.tensor(
            [[b["phenotype"][n] for n in measurer.pheno_labels] for b in sample],
            dtype=torch.float64,
        ),
        "local": torch.tensor(
            [[b["local_changes"][n] for n in FIT_LOCAL] for b in sample], dtype=torch.float64
        ),
    }
    with torch.no_grad():
        again = measurer.measure_params(params)
    for i, b in enumerate(sample):
        for name, value in b["mesh"].items():
            assert abs(float(again[name][i]) - value) < 0.05, name
