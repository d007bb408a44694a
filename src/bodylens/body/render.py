"""A small CPU renderer for synthetic photos of known bodies (benchmarks and tests).

Painter's algorithm with OpenCV: triangles are sorted far to near and filled one by one with
Lambert shading, at twice the resolution and downsampled for anti-aliased edges. Bodies wear
painted-on (tight) clothes so the silhouette is the body's own; MediaPipe detects these renders.

Camera convention (OpenCV): x right, y down, z forward, pinhole with the principal point at the
image centre. `place_body` builds that camera for an Anny body (Z up, facing -Y).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Camera:
    """Pinhole camera; ``rotation``/``translation`` map body-frame points to camera frame."""

    width: int
    height: int
    focal: float
    rotation: np.ndarray  # (3, 3)
    translation: np.ndarray  # (3,)

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        return points @ self.rotation.T + self.translation

    def project(self, points: np.ndarray) -> np.ndarray:
        cam = self.to_camera(points)
        uv = self.focal * cam[:, :2] / cam[:, 2:3]
        return uv + np.array([self.width / 2.0, self.height / 2.0])


def _rot(axis: str, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def place_body(
    vertices: np.ndarray,
    width: int,
    height: int,
    *,
    focal: float,
    fill: float = 0.8,
    camera_height_m: float = 1.2,
    yaw_deg: float = 0.0,
    offset: tuple[float, float] = (0.0, 0.0),
) -> Camera:
    """A camera in front of the body aimed at its middle, the body ``fill`` of the height.

    The camera stands ``camera_height_m`` above the floor (so it looks up or down at the
    body, as a real photographer does); the body turns ``yaw_deg`` about the vertical;
    ``offset`` moves the body off-centre (fractions of the image width and height).
    """
    floor = float(vertices[:, 2].min())
    top = float(vertices[:, 2].max())
    mid = 0.5 * (top + floor)
    distance = focal * (top - floor) / (fill * height)
    dx = offset[0] * width * distance / focal
    dz = offset[1] * height * distance / focal
    eye = np.array([dx, -distance, floor + camera_height_m])
    target = np.array([dx, 0.0, mid + dz])
    forward = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(forward, np.array([0.0, 0.0, 1.0]))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    look = np.stack([right, down, forward])
    yaw = _rot("z", math.radians(yaw_deg))
    return Camera(width, height, focal, look @ yaw, -look @ eye)


def skin_and_clothes_colors(
    part: np.ndarray,
    rest_z: np.ndarray,
    faces: np.ndarray,
    rng: np.random.Generator,
    waist_z: float,
    ankle_z: float,
    neck_z: float,
) -> np.ndarray:
    """Per-face base colours: skin, a top, trousers or shorts, shoes."""
    skin = np.array(
        rng.choice(
            [[224, 188, 160], [198, 150, 120], [160, 110, 80], [110, 75, 55], [240, 205, 180]]
        )
    )
    top = rng.integers(20, 235, 3)
    bottom = rng.integers(10, 200, 3)
    shoes = rng.integers(0, 80, 3)
    fz = rest_z[faces].mean(axis=1)
    fpart = np.round(np.median(part[faces], axis=1)).astype(int)
    colors = np.tile(skin, (len(faces), 1)).astype(np.float64)
    sleeve = rng.uniform(0.0, 1.0) < 0.5
    torso = fpart == 0
    colors[torso & (fz < neck_z) & (fz >= waist_z)] = top
    colors[(fz < waist_z) & (fpart != 1) & (fpart != 2)] = bottom
    if sleeve:
        colors[((fpart == 1) | (fpart == 2)) & (fz > waist_z + 0.25)] = top
    colors[(fz < ankle_z + 0.02) & (fpart >= 3)] = shoes
    return colors


def dressed_colors(model, rest, rng: np.random.Generator) -> np.ndarray:
    """`skin_and_clothes_colors` for an Anny body at rest, with the clothing edges at its own
    waist (spine03), ankle (foot) and neck bones, so every render dresses bodies alike."""
    labels = model.bone_labels

    def z(bone: str) -> float:
        return float(rest.bone_heads[labels.index(bone), 2])

    return skin_and_clothes_colors(
        model.part, rest.vertices[:, 2], model.faces, rng,
        waist_z=z("spine03"), ankle_z=z("foot.R"), neck_z=z("neck01"),
    )  # fmt: skip


def _background(width: int, height: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    base = rng.integers(150, 245, 3).astype(np.float32)
    grad = np.linspace(0.9, 1.05, height, dtype=np.float32)[:, None, None]
    img = np.ones((height, width, 3), np.float32) * base * grad
    if kind == "plain":
        return np.clip(img, 0, 255).astype(np.uint8)
    if kind != "cluttered":
        raise ValueError(f"unknown background {kind!r}")
    img = img.astype(np.uint8)
    for _ in range(int(rng.integers(15, 35))):
        color = tuple(int(c) for c in rng.integers(0, 255, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(20, width // 2)), int(rng.integers(20, height // 2))
        shape = rng.integers(0, 3)
        if shape == 0:
            cv2.rectangle(img, (x, y), (x + w, y + h), color, -1)
        elif shape == 1:
            cv2.circle(img, (x, y), w // 3, color, -1)
        else:
            cv2.line(img, (x, y), (x + w, y + h), color, int(rng.integers(2, 12)))
    # A floor.
    floor_y = int(height * rng.uniform(0.75, 0.95))
    img[floor_y:] = (img[floor_y:] * 0.5 + rng.integers(60, 160, 3) * 0.5).astype(np.uint8)
    noise = rng.normal(0, 6, img.shape)
    return np.clip(cv2.GaussianBlur(img, (5, 5), 0) + noise, 0, 255).astype(np.uint8)


def render_body(
    vertices: np.ndarray,
    faces: np.ndarray,
    camera: Camera,
    *,
    face_colors: np.ndarray | None = None,
    background: str = "plain",
    rng: np.random.Generator | None = None,
    supersample: int = 2,
) -> np.ndarray:
    """RGB uint8 image (camera.height, camera.width, 3) of a body mesh in front of a background.

    vertices: (N, 3) in the body frame (metres); faces: (F, 3) triangles.
    """
    rng = rng or np.random.default_rng(0)
    w, h = camera.width, camera.height
    bg = _background(w, h, background, rng)
    s = supersample
    canvas = cv2.resize(bg, (w * s, h * s), interpolation=cv2.INTER_NEAREST)
    cam = camera.to_camera(np.asarray(vertices, dtype=np.float64))
    uv = camera.focal * cam[:, :2] / cam[:, 2:3] + np.array([w / 2.0, h / 2.0])
    tri_cam = cam[faces]
    normals = np.cross(tri_cam[:, 1] - tri_cam[:, 0], tri_cam[:, 2] - tri_cam[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    centres = tri_cam.mean(axis=1)
    # Keep triangles facing the camera (either winding: orient normals toward the viewer).
    facing = np.einsum("ij,ij->i", normals, centres)
    normals[facing > 0] *= -1.0
    light = np.array([-0.4, -0.5, -0.75])
    light /= np.linalg.norm(light)
    shade = 0.35 + 0.65 * np.clip(normals @ light, 0.0, 1.0)
    if face_colors is None:
        face_colors = np.tile(np.array([200.0, 170.0, 150.0]), (len(faces), 1))
    colors = np.clip(face_colors * shade[:, None], 0, 255).astype(np.uint8)
    order = np.argsort(-centres[:, 2])
    pts = np.round(uv[faces] * s * 16).astype(np.int32)  # 4 fractional bits
    for i in order:
        cv2.fillConvexPoly(canvas, pts[i], colors[i].tolist(), lineType=cv2.LINE_8, shift=4)
    return cv2.resize(canvas, (w, h), interpolation=cv2.INTER_AREA)


# --- reference objects (issue 6: metric scale from a card or a checkerboard in the photo) ------
# Textures are drawn at this many pixels per millimetre, then warped into the photo.
TEX_PX_PER_MM = 8.0


def board_texture(
    cols: int, rows: int, square_mm: float, px_per_mm: float = TEX_PX_PER_MM
) -> tuple[np.ndarray, tuple[float, float]]:
    """A printed board with ``cols`` x ``rows`` inner corners ((cols+1) x (rows+1) squares) and
    a white margin of one square; returns the texture and its size in mm."""
    sq = int(round(square_mm * px_per_mm))
    w, h = (cols + 3) * sq, (rows + 3) * sq
    tex = np.full((h, w, 3), 245, np.uint8)
    for j in range(rows + 1):
        for i in range(cols + 1):
            if (i + j) % 2 == 0:
                tex[(j + 1) * sq : (j + 2) * sq, (i + 1) * sq : (i + 2) * sq] = 20
    return tex, (w / px_per_mm, h / px_per_mm)


def card_texture(px_per_mm: float = TEX_PX_PER_MM) -> tuple[np.ndarray, tuple[float, float]]:
    """A bank-card look-alike (ISO/IEC 7810 ID-1): light body, 3 mm rounded corners, a dark
    stripe and some print; pixels outside the rounded body are exactly 0 (transparent)."""
    from bodylens.body.reference import CARD_MM

    w, h = (int(round(v * px_per_mm)) for v in CARD_MM)
    tex = np.zeros((h, w, 3), np.uint8)
    r = int(3.0 * px_per_mm)
    body = np.zeros((h, w), np.uint8)
    cv2.rectangle(body, (r, 0), (w - r, h), 255, -1)
    cv2.rectangle(body, (0, r), (w, h - r), 255, -1)
    for cx, cy in ((r, r), (w - r, r), (r, h - r), (w - r, h - r)):
        cv2.circle(body, (cx, cy), r, 255, -1)
    tex[body > 0] = (235, 232, 220)
    cv2.rectangle(tex, (0, int(0.25 * h)), (w, int(0.38 * h)), (40, 60, 120), -1)
    cv2.putText(tex, "1234 5678 9012", (int(0.1 * w), int(0.7 * h)), 0, 2.2, (60, 60, 60), 4)
    tex[body == 0] = 0
    return tex, CARD_MM


def paste_texture(
    img: np.ndarray,
    texture: np.ndarray,
    h_plane: np.ndarray,
    *,
    px_per_mm: float = TEX_PX_PER_MM,
    keep_black: bool = True,
) -> np.ndarray:
    """Warp a texture drawn at ``px_per_mm`` into the photo through the homography plane (mm)
    -> image (px). ``keep_black=False`` treats pure black texels as transparent (a card's
    rounded corners)."""
    s = np.diag([1 / px_per_mm, 1 / px_per_mm, 1.0])
    h = h_plane @ s
    size = (img.shape[1], img.shape[0])
    warped = cv2.warpPerspective(texture, h, size, flags=cv2.INTER_AREA)
    if keep_black:
        opaque = np.full(texture.shape[:2], 255, np.uint8)
    else:
        opaque = (texture.sum(axis=2) > 0).astype(np.uint8) * 255
    alpha = cv2.warpPerspective(opaque, h, size, flags=cv2.INTER_AREA).astype(np.float32)
    a = (alpha / 255.0)[..., None]
    return (img * (1 - a) + warped * a).astype(np.uint8)


def plane_homography(
    camera: Camera,
    center: np.ndarray,
    size_mm: tuple[float, float],
    *,
    yaw_deg: float = 0.0,
    pitch_deg: float = 0.0,
) -> np.ndarray:
    """Homography plane (mm, origin at the top-left corner) -> image (px) of a flat object of
    ``size_mm`` centred at ``center`` (body frame, metres), facing the camera and then turned
    ``yaw_deg`` about its vertical axis and ``pitch_deg`` about its horizontal one."""
    # The camera's right and down directions in the body frame: rows of the rotation.
    right, down = camera.rotation[0], camera.rotation[1]
    normal = np.cross(right, down)
    ry, rx = math.radians(yaw_deg), math.radians(pitch_deg)
    right_t = math.cos(ry) * right + math.sin(ry) * normal
    normal_t = np.cross(right_t, down)
    down_t = math.cos(rx) * down + math.sin(rx) * normal_t
    w, h = size_mm
    origin = np.asarray(center, float) - (w / 2000.0) * right_t - (h / 2000.0) * down_t
    k = np.array(
        [[camera.focal, 0, camera.width / 2.0], [0, camera.focal, camera.height / 2.0], [0, 0, 1]]
    )
    rot = camera.rotation
    m = np.column_stack([rot @ right_t / 1000.0, rot @ down_t / 1000.0, camera.to_camera(origin)])
    return k @ m


def add_reference(
    img: np.ndarray,
    camera: Camera,
    vertices: np.ndarray,
    *,
    kind: str = "card",
    where: str = "chest",
    wrists: np.ndarray | None = None,
    square_mm: float = 25.0,
    pattern: tuple[int, int] = (9, 6),
    height_frac: float = 0.72,
    yaw_deg: float = 0.0,
    pitch_deg: float = 0.0,
) -> tuple[np.ndarray, float]:
    """Draw a card or a checkerboard into a render of the posed body ``vertices``, at the body's
    depth, and return the image and the true px/mm at the object's centre (facing the camera).

    ``where``: "chest" flat against the front of the body, resting on its most prominent point
    under the object, ``height_frac`` of the stature up; "hand" held by its inner edge in one
    hand (``wrists``: the two wrist positions), on whichever side fits in the frame; "side"
    beside the body (arms included) in the trunk's mid-plane, ``height_frac`` up.
    Raises ValueError when the object does not fit in the frame."""
    if kind == "card":
        from bodylens.body.reference import CARD_MM

        tex, size_mm = card_texture()
        keep_black = False
        size_mm = CARD_MM
    elif kind == "checkerboard":
        tex, size_mm = board_texture(*pattern, square_mm)
        keep_black = True
    else:
        raise ValueError(f"unknown reference kind {kind!r}")
    x, y, z = vertices[:, 0], vertices[:, 1], vertices[:, 2]
    floor, top = float(z.min()), float(z.max())
    zc = floor + height_frac * (top - floor)
    half_w, half_h = size_mm[0] / 2000.0, size_mm[1] / 2000.0
    band = np.abs(z - zc) < half_h
    if where == "chest":
        trunk_x = float(np.median(x[np.abs(z - zc) < 0.05 * (top - floor)]))
        under = band & (np.abs(x - trunk_x) < half_w)
        candidates = [np.array([trunk_x, float(y[under].min()) - 0.003, zc])]
    elif where == "hand":
        if wrists is None:
            raise ValueError("where='hand' needs the wrist positions")
        candidates = [
            w + np.array([np.sign(w[0]) * (half_w + 0.03), 0.0, -0.3 * half_h])
            for w in sorted(np.asarray(wrists, float), key=lambda w: -w[0])
        ]
    elif where == "side":
        torso = np.abs(z - zc) < 0.05
        mid_y = 0.5 * float(y[torso].min() + y[torso].max())
        candidates = [
            np.array([sign * (float((sign * x[band]).max()) + half_w + 0.05), mid_y, zc])
            for sign in (1.0, -1.0)
        ]
    else:
        raise ValueError(f"unknown reference placement {where!r}")
    for center in candidates:
        corners = center + np.array(
            [[dx, 0.0, dz] for dx in (-half_w, half_w) for dz in (-half_h, half_h)]
        )
        uv = camera.project(corners)
        margin = 0.02 * camera.width
        low = uv.min(axis=0) > margin
        high = uv.max(axis=0) < np.array([camera.width, camera.height]) - margin
        if low.all() and high.all():
            break
    else:
        raise ValueError("the reference object does not fit in the frame")
    h_plane = plane_homography(camera, center, size_mm, yaw_deg=yaw_deg, pitch_deg=pitch_deg)
    out = paste_texture(img, tex, h_plane, keep_black=keep_black)
    depth_m = float(camera.to_camera(center)[2])
    return out, camera.focal / (depth_m * 1000.0)
