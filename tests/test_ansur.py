"""ANSUR II statistics: the size-calculator baseline, the Gaussian priors, the subject split and
the shipped statistics file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bodylens.body import ansur
from bodylens.body.uncertainty import ONE_SIGMA, combine, combine_all, coverage, sigma_scale
from bodylens.errors import InputError
from tests.conftest import shared_path

CWH = ("chest_girth", "waist_girth", "hip_girth")


@pytest.fixture(scope="module")
def data() -> ansur.AnsurData:
    return ansur.load_ansur(shared_path("data", "ansur2"))


def test_shipped_stats_work_without_the_survey(monkeypatch):
    """The runtime reads only bodylens/data/ansur_stats.json, never ../shared."""

    def no_survey(*_a, **_k):
        raise AssertionError("the survey must not be read at run time")

    monkeypatch.setattr(ansur, "load_ansur", no_survey)
    monkeypatch.setattr(ansur, "default_root", no_survey)
    ansur.shipped_models.cache_clear()
    out = ansur.predict_baseline(178.0, 80.0, "male")
    chest, sd = out["chest_girth"]
    assert 95 < chest < 110 and 2.0 < sd < 4.5
    assert out["height"] == (178.0, 0.0)
    obj = json.loads(ansur.STATS_PATH.read_text())
    assert "ANSUR II" in obj["source"] and set(obj["models"]) == {"male", "female"}
    assert ansur.STATS_PATH.stat().st_size < 100_000


def test_baseline_cross_validation_matches_published_numbers(data):
    """Issue 6 quotes chest 2.8, waist 3.6, hip 2.1 cm for this regression on ANSUR (5-fold)."""
    cv = ansur.cross_validate_baseline(data, CWH, k=5)
    assert 2.5 < cv["chest_girth"]["mae"] < 3.1
    assert 3.2 < cv["waist_girth"]["mae"] < 4.0
    assert 1.9 < cv["hip_girth"]["mae"] < 2.4
    for name in CWH:
        assert 0.62 < cv[name]["coverage"] < 0.75  # its own ±σ is calibrated


def test_split_is_deterministic_disjoint_and_stats_use_prior_only(data):
    masks = ansur.split_masks(data)
    assert not np.any(masks["score"] & masks["prior"])
    assert 0.17 < masks["score"].mean() < 0.23
    assert ansur.split_of(10027, "male") == ansur.split_of("10027", "male")
    shipped = ansur.shipped_models()
    rebuilt = ansur.fit_models(data.subset(masks["prior"]))
    for sex in ansur.SEXES:
        assert shipped[sex].n == rebuilt[sex].n == int(np.sum(masks["prior"] & (data.sex == sex)))
        np.testing.assert_allclose(shipped[sex].mean, rebuilt[sex].mean, atol=1e-3)
    # Scored on the held-out score split, the shipped model does as well as in CV.
    score = data.subset(masks["score"])
    for name in CWH:
        pred = np.array(
            [
                ansur.predict_baseline(h, w, s)[name][0]
                for h, w, s in zip(
                    score.values["height"], score.values["weight"], score.sex, strict=True
                )
            ]
        )
        mae = np.mean(np.abs(pred - score.values[name]))
        assert mae < {"chest_girth": 3.2, "waist_girth": 4.1, "hip_girth": 2.5}[name]


def test_prior_sigma_shrinks_with_more_knowns():
    steps = [
        {"height": 170.0},
        {"height": 170.0, "weight": 72.0},
        {"height": 170.0, "weight": 72.0, "waist_breadth": (31.0, 1.0), "hip_breadth": (35.0, 1.0)},
        {
            "height": 170.0,
            "weight": 72.0,
            "waist_breadth": (31.0, 1.0),
            "hip_breadth": (35.0, 1.0),
            "waist_depth": (23.0, 1.0),
            "chest_depth": (24.0, 1.0),
        },
    ]
    for sex in ansur.SEXES:
        sigmas = [ansur.conditional_prior(k, sex) for k in steps]
        for name in (*CWH, "chest_depth", "thigh_girth"):
            seq = [s[name][1] for s in sigmas]
            assert all(b <= a + 1e-9 for a, b in zip(seq, seq[1:], strict=False)), (name, seq)
        assert sigmas[-1]["waist_girth"][1] < 0.7 * sigmas[0]["waist_girth"][1]


def test_correlated_reading_errors_count_for_less():
    """Two independent variables (prior N(0, 1) each), both read as +1 with σ 1. Independent
    errors: each posterior mean is 1/2. Errors correlated by ρ: part of b's high reading is
    taken as the shared error, so a moves to 1 / (2 + ρ) (exact Gaussian algebra)."""
    g = ansur.Gaussian(("a", "b"), np.zeros(2), np.eye(2), 100)
    known = {"a": (1.0, 1.0), "b": (1.0, 1.0)}
    assert g.condition(known)[0][0] == pytest.approx(0.5)
    for rho in (0.5, -0.5):
        corr = (("b", "a", "other"), np.array([[1, rho, 0], [rho, 1, 0], [0, 0, 1.0]]))
        mean, cov, _ = g.condition(known, corr)
        assert mean[0] == pytest.approx(1 / (2 + rho)) and mean[1] == pytest.approx(mean[0])
    # Unnamed observations stay independent; exact knowns are unaffected.
    assert g.condition(known, (("x", "y"), np.eye(2)))[0][0] == pytest.approx(0.5)
    assert g.condition({"a": 1.0, "b": (1.0, 1.0)}, corr)[0][0] == pytest.approx(1.0)


def test_prior_means_follow_the_person():
    light = ansur.predict_baseline(175, 60, "male")
    heavy = ansur.predict_baseline(175, 100, "male")
    for name in CWH:
        assert heavy[name][0] > light[name][0] + 10
    # A photo showing a wide waist raises the waist estimate above the calculator's.
    wide = ansur.conditional_prior({"height": 175, "weight": 80, "waist_breadth": (36.0, 1.0)}, "m")
    assert wide["waist_girth"][0] > ansur.predict_baseline(175, 80, "male")["waist_girth"][0] + 3
    # Unknown sex: a 160 cm, 55 kg body is explained mostly by the female model.
    mixed = ansur.predict_baseline(160, 55, None)["hip_girth"][0]
    female = ansur.predict_baseline(160, 55, "female")["hip_girth"][0]
    male = ansur.predict_baseline(160, 55, "male")["hip_girth"][0]
    assert abs(mixed - female) < abs(mixed - male)


def test_bad_input_is_a_clear_error():
    with pytest.raises(InputError, match="unknown measurement"):
        ansur.conditional_prior({"elbow_girth": 30.0}, "male")
    with pytest.raises(InputError, match="sex"):
        ansur.predict_baseline(170, 70, "x")
    with pytest.raises(InputError, match="height_cm"):
        ansur.predict_baseline(17, 70, "male")
    with pytest.raises(InputError, match="finite"):
        ansur.conditional_prior({"height": float("nan")}, "male")


def test_uncertainty_combination_and_coverage():
    mean, sd = combine(100.0, 2.0, 90.0, 2.0)
    assert mean == pytest.approx(95.0) and sd == pytest.approx(2 / np.sqrt(2))
    assert combine(100.0, 0.0, 90.0, 2.0) == (100.0, 0.0)
    out = combine_all(
        {"waist_girth": (80.0, 1.0), "knee_girth": (38.0, 1.5)}, {"waist_girth": (90.0, 3.0)}
    )
    assert 80 < out["waist_girth"][0] < 82 and out["knee_girth"] == (38.0, 1.5)
    rng = np.random.default_rng(0)
    err = rng.normal(0, 2.0, 20000)
    assert coverage(err, np.full_like(err, 2.0)) == pytest.approx(ONE_SIGMA, abs=0.01)
    # Over-confident σ (1.0 for errors of σ 2.0): the fitted scale restores 68 %.
    k = sigma_scale(err, np.full_like(err, 1.0))
    assert k == pytest.approx(2.0, rel=0.03)
    assert coverage(err, np.full_like(err, k)) == pytest.approx(ONE_SIGMA, abs=0.005)
    with pytest.raises(ValueError):
        coverage(np.zeros(3), np.zeros(2))
