"""Anny wrapper and tape-measure definitions on known bodies (needs the Anny cache)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bodylens.body import measurements

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model():
    from bodylens.body.model import get_body_model

    return get_body_model()


@pytest.fixture(scope="module")
def default_cm(model):
    return measurements.compute(model, model.rest_body())


def test_default_body_in_sane_ranges(default_cm):
    cm = default_cm
    assert 160 < cm["height"] < 166  # Anny's default body is ~162.6 cm
    assert 60 < cm["waist_girth"] < 80
    assert cm["underbust_girth"] < cm["chest_girth"] < cm["hip_girth"] + 5
    assert cm["waist_girth"] < cm["hip_girth"]
    assert 30 < cm["neck_girth"] < 40 and 50 < cm["head_girth"] < 60
    assert 35 < cm["shoulder_width"] < 46
    assert cm["ankle_girth"] < cm["calf_girth"] < cm["thigh_girth"]
    assert cm["wrist_girth"] < cm["upper_arm_girth"]
    assert 0.4 < cm["inside_leg"] / cm["height"] < 0.52
    assert cm["inside_leg"] < cm["waist_height"] < cm["height"]
    assert cm["waist_girth"] < cm["stomach_girth"] < cm["hip_girth"]
    assert cm["inside_leg"] + 15 < cm["outside_leg"] < cm["waist_height"] + 5
    assert 0.2 < cm["back_neck_to_waist"] / cm["height"] < 0.3
    assert 0.3 < cm["crotch_length"] / cm["height"] < 0.4


def test_lengths_follow_shape_controls(model, default_cm):
    """Each new length answers to the body part it measures and not to others."""
    names = ["back_neck_to_waist", "outside_leg", "crotch_length", "stomach_girth"]

    def changed(control: str) -> dict[str, float]:
        got = measurements.compute(model, model.rest_body(None, {control: 0.8}), names)
        return {n: got[n] - default_cm[n] for n in names}

    belly = changed("stomach-pregnant-incr")
    assert belly["stomach_girth"] > 5
    # The waist level of the lengths is the navel's, which a belly moves little (the
    # narrowest level moves up: it would have cut the back length by 7 cm).
    assert abs(belly["back_neck_to_waist"]) < 2.5
    legs = changed("measure-upperleg-height-incr")
    assert legs["outside_leg"] > 5
    assert abs(legs["back_neck_to_waist"]) < 0.5 and abs(legs["crotch_length"]) < 0.5
    back = changed("measure-napetowaist-dist-incr")
    assert back["back_neck_to_waist"] > 2
    hips = changed("measure-hips-circ-incr")
    assert 1 < hips["crotch_length"] < 8


def test_waist_matches_anny_anthropometry(model, default_cm):
    """Anny measures the waist along a fixed vertex loop; our tape (convex hull at the
    narrowest level) must agree within a few cm on the default body."""
    import anny

    rest = model.rest_body()
    theirs = 100 * float(
        anny.Anthropometry(model.anny).waist_circumference(torch.as_tensor(rest.vertices)[None])
    )
    assert abs(default_cm["waist_girth"] - theirs) < 5.0
    assert abs(default_cm["height"] - 100 * float(np.ptp(rest.vertices[:, 2]))) < 1e-6


def test_measurements_follow_shape_controls(model, default_cm):
    bigger = measurements.compute(
        model,
        model.rest_body(None, {"measure-waist-circ-incr": 0.8, "measure-hips-circ-incr": 0.8}),
        ["waist_girth", "hip_girth", "neck_girth"],
    )
    assert bigger["waist_girth"] > default_cm["waist_girth"] + 3
    assert bigger["hip_girth"] > default_cm["hip_girth"] + 3
    assert abs(bigger["neck_girth"] - default_cm["neck_girth"]) < 1.0
    heavy = measurements.compute(model, model.rest_body({"weight": 1.0}), ["chest_girth"])
    assert heavy["chest_girth"] > default_cm["chest_girth"] + 2


def test_reduced_fit_model_matches_anny(model):
    """The float32 subsample the fit optimises poses exactly like Anny's own forward."""
    from bodylens.body.model import FIT_BONES, FIT_LOCAL_CHANGES

    rng = np.random.default_rng(0)
    rot = rng.normal(0, 0.3, (len(FIT_BONES), 3))
    pheno = dict(gender=0.3, age=0.8, muscle=0.6, weight=0.7, height=0.4, proportions=0.5)
    local = {k: float(rng.uniform(-0.5, 0.5)) for k in FIT_LOCAL_CHANGES}
    full = model.posed_full(pheno, local, rot)
    coeffs = model.coefficients(
        torch.tensor([[pheno[k] for k in model.phenotype_labels]]),
        torch.tensor([[local[k] for k in FIT_LOCAL_CHANGES]]),
    )
    verts, _, _ = model.posed_fit(coeffs, model.deltas(torch.as_tensor(rot).float()[None]))
    assert np.abs(full[model.fit_index] - verts[0].detach().numpy()).max() < 1e-4


def test_phenotype_weights_match_anny_with_gradients(model):
    """The fit's one-shot phenotype interpolation gives Anny's blendshape coefficients and
    the same gradients, on anchors (a fit starts at 0.5) and at the range ends too."""
    from anny.models.phenotype import phenotype_blendshape_weights

    from bodylens.body.model import _anchor_dict

    m = model.anny
    gen = torch.Generator().manual_seed(5)
    pheno = torch.rand(32, len(model.phenotype_labels), generator=gen)
    pheno[0] = 0.5
    pheno[1, 0], pheno[2, 1], pheno[3, 2] = 0.0, 1.0, 1.0
    anchors = {k: v.float() for k, v in _anchor_dict(m).items()}
    mask = m.stacked_phenotype_blend_shapes_mask.float()
    projection = m.phenotype_blendshape_projection.float()
    ours_in, anny_in = pheno.clone().requires_grad_(), pheno.clone().requires_grad_()
    ours = model.phenotype_weights(ours_in) @ model.t_pheno_projection
    theirs = phenotype_blendshape_weights(
        anny_in, model.phenotype_labels, anchors, mask, extrapolate=False
    )
    theirs = theirs @ projection
    assert float((ours - theirs).detach().abs().max()) < 1e-5
    weights = torch.randn(ours.shape, generator=gen)
    (ours * weights).sum().backward()
    (theirs * weights).sum().backward()
    assert float(anny_in.grad.abs().max()) > 0.1  # the check has something to compare
    assert float((ours_in.grad - anny_in.grad).abs().max()) < 1e-4


def test_rotvec_to_rotmat_matches_roma_and_is_smooth_at_zero():
    import roma

    from bodylens.body.model import rotvec_to_rotmat

    gen = torch.Generator().manual_seed(7)
    v = torch.randn(4, 13, 3, generator=gen)
    v[0, 0] = 0.0  # a fit's bones start unrotated: the gradient there must be the first order
    ours_in, roma_in = v.clone().requires_grad_(), v.clone().requires_grad_()
    ours, theirs = rotvec_to_rotmat(ours_in), roma.rotvec_to_rotmat(roma_in)
    assert float((ours - theirs).detach().abs().max()) < 1e-5
    weights = torch.randn(ours.shape, generator=gen)
    (ours * weights).sum().backward()
    (theirs * weights).sum().backward()
    assert torch.isfinite(ours_in.grad).all()
    assert float((ours_in.grad - roma_in.grad).abs().max()) < 1e-4
    assert float(ours_in.grad[0, 0].abs().max()) > 0.01


def test_grouped_posing_matches_anny_kinematics(model):
    """The fit's 13-group posing must equal Anny's full 104-bone chain for any shape/pose."""
    from bodylens.body.model import FIT_BONES, FIT_LOCAL_CHANGES

    gen = torch.Generator().manual_seed(3)
    phenotype = torch.rand(2, 6, generator=gen)
    local = torch.rand(2, len(FIT_LOCAL_CHANGES), generator=gen) - 0.5
    bones = (torch.rand(2, len(FIT_BONES), 3, generator=gen) - 0.5) * 0.8
    coeffs = model.coefficients(phenotype, local)
    with torch.no_grad():
        verts, kps, rest = model.posed_fit(coeffs, model.deltas(bones))
        frame = model.pose_frame(coeffs)
        fast_v, fast_k = model.posed_groups(frame, rest, bones)
    assert float((fast_v - verts).abs().max()) < 1e-5
    assert float((fast_k - kps).abs().max()) < 1e-5
    # and it really poses: a bent elbow moves the wrist keypoint
    assert float((fast_k - model.posed_groups(frame, rest, bones * 0)[1]).abs().max()) > 0.05


def test_fit_keypoints_sit_where_mediapipe_puts_landmarks(model):
    """The fit's keypoints follow MediaPipe's landmark placement (learned on other bodies),
    while measurements keep Anny's anatomical COCO keypoints."""
    from bodylens.body.fit import _ANNY_IDX, _MP_IDX
    from bodylens.detect.pose import detect_pose
    from tests.known_body import render_known_body

    learned = model.t_kp[_ANNY_IDX]
    assert torch.allclose(learned.sum(1), torch.ones(len(_ANNY_IDX)), atol=1e-4)  # affine
    assert not torch.equal(learned, model.t_kp_coco[_ANNY_IDX])
    body = render_known_body(900, 1200, 0.75, "cluttered")
    full = model.keypoints_full(body.verts)
    sub = body.verts[model.fit_index]
    assert np.allclose(full, model.t_kp_coco.double().numpy() @ sub)
    pose = detect_pose(body.image)
    height_px = np.ptp(body.cam.project(sub)[:, 1])
    errors = {}
    for name, weights in (("anny", model.t_kp_coco), ("learned", model.t_kp)):
        uv = body.cam.project(weights.double().numpy() @ sub)[_ANNY_IDX]
        errors[name] = np.linalg.norm(uv - pose.keypoints[_MP_IDX], axis=1).mean() / height_px
    assert errors["learned"] < 0.8 * errors["anny"], errors
