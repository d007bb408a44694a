"""The fit's learned shape prior (real adults' Anny controls, from ANSUR II prior-split fits)."""

from __future__ import annotations

import json

import numpy as np
import torch

from bodylens.body import shape_prior
from bodylens.body.model import FIT_LOCAL_CHANGES


def test_shipped_prior_knows_real_torsos_are_deeper_than_anny():
    data = json.loads(shape_prior.PRIOR_FILE.read_text())
    assert data["names"] == list(shape_prior.PRIOR_PHENOTYPES) + list(FIT_LOCAL_CHANGES)
    for sex in ("male", "female", None):
        prior = shape_prior.load(sex)
        assert prior is not None
        assert np.allclose(prior.covariance, prior.covariance.T)
        assert np.linalg.eigvalsh(prior.covariance).min() > 0
        local = dict(zip(FIT_LOCAL_CHANGES, prior.local_mean, strict=True))
        # The fact the prior exists for: Anny's phenotypes alone are too shallow.
        assert local["torso-scale-depth-incr"] > 0.2
        assert local["hip-scale-depth-incr"] > 0.1
        assert np.all(np.abs(prior.local_mean) < 1)
    assert data["male"]["n"] >= 300 and data["female"]["n"] >= 300
    female = shape_prior.load("female").mean
    male = shape_prior.load("male").mean
    assert not np.allclose(female, male, atol=0.02)


def test_unseen_controls_follow_the_seen_ones_through_the_covariance():
    """Minimising the penalty over the depth controls alone, the others held, must land on
    the Gaussian's conditional mean: that is how a front photo's widths set the depth."""
    prior = shape_prior.load("male")
    mean, precision = prior.torch_terms()
    names = list(shape_prior.PRIOR_PHENOTYPES) + list(FIT_LOCAL_CHANGES)
    hidden = [names.index("torso-scale-depth-incr"), names.index("hip-scale-depth-incr")]
    seen = [i for i in range(len(names)) if i not in hidden]
    rng = np.random.default_rng(0)
    x = prior.mean + rng.normal(0, 1, len(names)) @ np.linalg.cholesky(prior.covariance).T
    cov = prior.covariance
    expected = prior.mean[hidden] + cov[np.ix_(hidden, seen)] @ np.linalg.solve(
        cov[np.ix_(seen, seen)], x[seen] - prior.mean[seen]
    )

    z = torch.tensor(x, dtype=torch.float32)
    depth = torch.zeros(2, requires_grad=True)
    opt = torch.optim.LBFGS([depth], max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        full = z.clone()
        full[hidden] = depth
        n = len(shape_prior.PRIOR_PHENOTYPES)
        loss = shape_prior.penalty(full[None, :n], full[None, n:], mean, precision)
        loss.backward()
        return loss

    opt.step(closure)
    assert np.allclose(depth.detach().numpy(), expected, atol=2e-3)
    assert shape_prior.penalty(mean[None, :4], mean[None, 4:], mean, precision).item() < 1e-9


def test_learn_is_per_sex_and_pooled():
    rng = np.random.default_rng(1)
    names = list(shape_prior.PRIOR_PHENOTYPES) + list(FIT_LOCAL_CHANGES)
    bodies = []
    for i in range(60):
        sex = "male" if i % 2 else "female"
        v = rng.normal(0.3 if sex == "male" else -0.3, 0.1, len(names))
        row = dict(zip(names, v, strict=True))
        bodies.append(
            {
                "sex": sex,
                "phenotype": {k: row[k] for k in shape_prior.PRIOR_PHENOTYPES},
                "local_changes": {k: row[k] for k in FIT_LOCAL_CHANGES},
            }
        )
    out = shape_prior.learn(bodies)
    assert out["male"]["n"] == 30 and out["any"]["n"] == 60
    assert np.mean(out["male"]["mean"]) > 0.2 > -0.2 > np.mean(out["female"]["mean"])
    assert abs(np.mean(out["any"]["mean"])) < 0.05
