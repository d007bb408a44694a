"""One known body rendered to a photo, shared by the measurement tests (needs the Anny cache)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PHENOTYPE = dict(gender=0.2, age=0.8, muscle=0.5, weight=0.6, height=0.55, proportions=0.5)
LOCAL = {"measure-waist-circ-incr": 0.3, "measure-hips-circ-incr": -0.2}


@dataclass
class KnownBody:
    image: np.ndarray  # RGB uint8
    truth: dict[str, float]  # the measurement table on the true rest body, cm
    cam: object  # body.render camera
    verts: np.ndarray  # posed full-resolution vertices (the camera's world frame)


def render_known_body(width: int, height: int, fill: float, background: str) -> KnownBody:
    """A slightly heavy, mostly male body, arms a little out, front view from 1.3 m high."""
    from bodylens.body import measurements
    from bodylens.body.model import FIT_BONES, get_body_model
    from bodylens.body.render import dressed_colors, place_body, render_body

    model = get_body_model()
    rest = model.rest_body(PHENOTYPE, LOCAL)
    truth = measurements.compute(model, rest)
    pose = np.zeros((len(FIT_BONES), 3))
    pose[FIT_BONES.index("upperarm01.L"), 1] = 0.15
    pose[FIT_BONES.index("upperarm01.R"), 1] = -0.15
    verts = model.posed_full(PHENOTYPE, LOCAL, pose)
    rng = np.random.default_rng(3)
    colors = dressed_colors(model, rest, rng)
    cam = place_body(verts, width, height, focal=1000.0, fill=fill, camera_height_m=1.3)
    image = render_body(verts, model.faces, cam, face_colors=colors, background=background, rng=rng)
    return KnownBody(image, truth, cam, verts)
