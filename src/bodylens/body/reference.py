"""Metric scale from a reference object in the photo: a checkerboard or an ID-1 card.

Why: without the person's height a photo has no scale; a known object beside the person gives
pixels-per-mm at the object's depth. We fit the homography from the object's plane (mm) to the
image and read its local scale at the object's centre. A tilted object is foreshortened along one
axis only, so the larger singular value of the homography's Jacobian is the scale that holds for
an object facing the camera at that depth (``foreshortening`` reports the ratio of the two).

Known limit: the card is found as the most card-shaped quadrilateral outline; a pale card in
front of a pale, striped background can merge with it and be missed (clear error, not a wrong
scale, unless another card-shaped object is in view, which then wins: check ``center``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bodylens.errors import InputError, Unprocessable

# ISO/IEC 7810 ID-1 (bank cards, ID cards, driving licences).
CARD_MM = (85.60, 53.98)
CARD_ASPECT = CARD_MM[0] / CARD_MM[1]
# Inner-corner grids tried when the caller does not say which board it printed.
COMMON_PATTERNS = ((9, 6), (8, 6), (7, 7), (7, 5), (6, 4), (5, 4), (4, 3), (10, 7), (6, 9))
# Detection runs on an image whose long side is at most this; corners are refined at full size.
_DETECT_MAX_SIDE = 1280
# Cards whose short side spans fewer pixels than this get a wider edge-support band.
_SMALL_CARD_PX = 40


@dataclass(frozen=True)
class ReferenceScale:
    """Scale of the image at the reference object's depth."""

    kind: str  # "checkerboard" or "card"
    px_per_mm: float
    center: tuple[float, float]  # pixel position of the object's centre
    corners: np.ndarray  # (4, 2) outer corners in pixels, clockwise from top-left
    foreshortening: float  # smaller / larger scale axis; 1.0 = facing the camera

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "px_per_mm": round(self.px_per_mm, 4),
            "center": [round(c, 1) for c in self.center],
            "foreshortening": round(self.foreshortening, 3),
        }


def _check_image(rgb: np.ndarray) -> np.ndarray:
    if not isinstance(rgb, np.ndarray) or rgb.ndim not in (2, 3) or rgb.dtype != np.uint8:
        raise InputError("reference detection needs an HxW(x3) uint8 image")
    if min(rgb.shape[:2]) < 32:
        raise InputError("image too small to find a reference object")
    import cv2

    return rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _scale_from_homography(h: np.ndarray, xy_mm: tuple[float, float]) -> tuple[float, float]:
    """(larger, smaller) singular value of d(image)/d(plane) at plane point ``xy_mm``."""
    x, y = xy_mm
    p = h @ np.array([x, y, 1.0])
    u, v, w = p
    jac = np.array(
        [
            [(h[0, 0] * w - u * h[2, 0]) / w**2, (h[0, 1] * w - u * h[2, 1]) / w**2],
            [(h[1, 0] * w - v * h[2, 0]) / w**2, (h[1, 1] * w - v * h[2, 1]) / w**2],
        ]
    )
    s = np.linalg.svd(jac, compute_uv=False)
    return float(s[0]), float(s[1])


def _result(kind: str, plane_mm: np.ndarray, image_px: np.ndarray, size_mm: tuple[float, float]):
    import cv2

    h, _ = cv2.findHomography(plane_mm.astype(np.float64), image_px.astype(np.float64), 0)
    if h is None:
        raise Unprocessable(f"{kind} found but its geometry is degenerate")
    cx, cy = size_mm[0] / 2, size_mm[1] / 2
    big, small = _scale_from_homography(h, (cx, cy))
    outline = np.array([[0, 0], [size_mm[0], 0], [size_mm[0], size_mm[1]], [0, size_mm[1]]], float)
    quad = cv2.perspectiveTransform(outline[None], h)[0]
    center = cv2.perspectiveTransform(np.array([[[cx, cy]]], float), h)[0, 0]
    return ReferenceScale(kind, big, (float(center[0]), float(center[1])), quad, small / big)


def detect_checkerboard(
    rgb: np.ndarray, square_mm: float, pattern: tuple[int, int] | None = None
) -> ReferenceScale:
    """Find a printed checkerboard with squares of ``square_mm``; ``pattern`` = inner corners
    (columns, rows), or None to try the common boards."""
    import cv2

    if not square_mm or square_mm <= 0:
        raise InputError("square_mm must be a positive size in millimetres")
    gray = _check_image(rgb)
    factor = min(1.0, _DETECT_MAX_SIDE / max(gray.shape))
    small = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    patterns = [tuple(pattern)] if pattern else list(COMMON_PATTERNS)
    for cols, rows in patterns:
        if cols < 2 or rows < 2:
            raise InputError("pattern needs at least 2x2 inner corners")
        found, corners = cv2.findChessboardCornersSB(
            small, (cols, rows), flags=cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_EXHAUSTIVE
        )
        if not found:
            flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
            found, corners = cv2.findChessboardCorners(small, (cols, rows), flags=flags)
        if found:
            break
    else:
        raise Unprocessable(
            "no checkerboard found (tried inner-corner grids "
            + ", ".join(f"{c}x{r}" for c, r in patterns)
            + "); make the whole board visible, flat and in focus"
        )
    corners = corners.reshape(-1, 2) / factor
    win = max(3, int(round(0.25 * _median_spacing(corners, cols))))
    corners = cv2.cornerSubPix(
        gray,
        corners.reshape(-1, 1, 2).astype(np.float32),
        (win, win),
        (-1, -1),
        (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 40, 0.01),
    ).reshape(-1, 2)
    grid = np.array([[i * square_mm, j * square_mm] for j in range(rows) for i in range(cols)])
    # Report the inner-corner area: its centre is the board's centre.
    return _result("checkerboard", grid, corners, ((cols - 1) * square_mm, (rows - 1) * square_mm))


def _median_spacing(corners: np.ndarray, cols: int) -> float:
    d = np.linalg.norm(np.diff(corners.reshape(-1, cols, 2), axis=1), axis=-1)
    return float(np.median(d))


def _order_quad(pts: np.ndarray) -> np.ndarray:
    """Clockwise from the top-left corner (image coordinates, y down)."""
    c = pts.mean(axis=0)
    ang = np.arctan2(pts[:, 1] - c[1], pts[:, 0] - c[0])
    pts = pts[np.argsort(ang)]
    start = int(np.argmin(pts.sum(axis=1)))
    return np.roll(pts, -start, axis=0)


def _edge_support(edges: np.ndarray, quad: np.ndarray) -> float:
    """Share of points along the quad's sides that lie on an edge: real rectangles score ~1."""
    h, w = edges.shape
    hits = total = 0
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        for t in np.linspace(0.1, 0.9, 24):
            x, y = (a + t * (b - a)).round().astype(int)
            total += 1
            hits += bool(0 <= x < w and 0 <= y < h and edges[y, x])
    return hits / total


def _card_candidates(gray: np.ndarray) -> list[tuple[float, np.ndarray]]:
    """(score, quad) of card-shaped convex quadrilaterals with straight, well-supported sides,
    best first. Several edge thresholds, because a pale card on a pale wall has weak edges."""
    import cv2

    area_img = gray.shape[0] * gray.shape[1]
    blur = cv2.GaussianBlur(gray, (5, 5), 0)
    weak_edges = cv2.Canny(blur, 10, 30)
    support_edges = cv2.dilate(weak_edges, np.ones((3, 3), np.uint8))
    # A small card (a full-body photo at 2-3 m: ~40 x 25 px) has its outline 1-2 px off the
    # edges, a large share of its size: it may pass on a wider band (but still scores on the
    # narrow one, so it does not outrank a well-outlined card).
    support_edges_small = cv2.dilate(weak_edges, np.ones((5, 5), np.uint8))
    # Outlines from edge maps at several thresholds, and from iso-brightness levels (a pale card
    # merges with pale stripes behind it in an edge map, not at the right brightness cut).
    masks = [
        cv2.dilate(cv2.Canny(blur, lo, hi), np.ones((3, 3), np.uint8))
        for lo, hi in ((30, 90), (12, 36), (60, 180))
    ]
    # Closing bridges a printed stripe running across the card, which splits its body in two.
    close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (11, 11))
    for level in np.unique(np.percentile(blur, np.arange(40, 100, 4)).round()):
        for mask in ((blur > level), (blur <= level)):
            mask = (mask * 255).astype(np.uint8)
            masks.extend((mask, cv2.morphologyEx(mask, cv2.MORPH_CLOSE, close)))
    out = []
    for mask in masks:
        contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        for cnt in contours:
            area = cv2.contourArea(cnt)
            if area < 0.0003 * area_img or area > 0.5 * area_img:
                continue
            hull = cv2.convexHull(cnt)
            quad = cv2.approxPolyDP(hull, 0.03 * cv2.arcLength(hull, True), True)
            if len(quad) != 4:
                continue
            q = _order_quad(quad.reshape(4, 2).astype(np.float64))
            sides = np.linalg.norm(q - np.roll(q, -1, axis=0), axis=1)
            if sides.min() < 8:
                continue
            long_, short = sorted(((sides[0] + sides[2]) / 2, (sides[1] + sides[3]) / 2))[::-1]
            aspect = long_ / short
            # Opposite sides of a card seen at moderate tilt stay within ~35 % of each other.
            parallel = max(
                sides[0] / sides[2], sides[2] / sides[0], sides[1] / sides[3], sides[3] / sides[1]
            )
            if parallel > 1.35 or abs(np.log(aspect / CARD_ASPECT)) > 0.2:
                continue
            support = _edge_support(support_edges, q)
            if support < 0.75 and not (
                short < _SMALL_CARD_PX and _edge_support(support_edges_small, q) >= 0.75
            ):
                continue
            fill = cv2.contourArea(cnt) / max(cv2.contourArea(q.astype(np.float32)), 1.0)
            score = (
                2.0 * support
                - abs(np.log(aspect / CARD_ASPECT))
                - 0.3 * np.log(parallel)
                - 0.5 * abs(1 - min(fill, 1.0))
            )
            out.append((score, q))
    out.sort(key=lambda t: -t[0])
    return out


def _refine_quad(gray: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Corners as intersections of lines fitted to sub-pixel edge points along each side.

    Real cards have rounded corners and Canny contours sit a pixel or two off the true edge;
    the strongest gradient across the straight middle of each side does not.
    """
    import cv2
    from scipy.ndimage import map_coordinates

    img = cv2.GaussianBlur(gray.astype(np.float32), (3, 3), 0)
    lines = []
    for i in range(4):
        a, b = quad[i], quad[(i + 1) % 4]
        ab = b - a
        length = float(np.linalg.norm(ab))
        if length < 8:
            return quad
        d = ab / length
        normal = np.array([-d[1], d[0]])
        reach = max(3.0, 0.06 * length)
        offs = np.linspace(-reach, reach, int(4 * reach) + 1)
        pts = []
        for t in np.linspace(0.15, 0.85, 40):
            base = a + t * ab
            line = base[None] + offs[:, None] * normal[None]
            prof = map_coordinates(img, [line[:, 1], line[:, 0]], order=1, mode="nearest")
            grad = np.abs(np.gradient(prof))
            k = int(np.argmax(grad))
            if 0 < k < len(grad) - 1:
                den = grad[k - 1] - 2 * grad[k] + grad[k + 1]
                k = k + (0.5 * (grad[k - 1] - grad[k + 1]) / den if den != 0 else 0.0)
            pts.append(base + np.interp(k, np.arange(len(offs)), offs) * normal)
        pts_arr = np.asarray(pts, np.float32)
        vx, vy, x0, y0 = cv2.fitLine(pts_arr, cv2.DIST_HUBER, 0, 0.01, 0.01).ravel()
        lines.append((np.array([x0, y0], float), np.array([vx, vy], float)))
    out = []
    for i in range(4):
        (p1, d1), (p2, d2) = lines[i - 1], lines[i]
        m = np.array([d1, -d2]).T
        if abs(np.linalg.det(m)) < 1e-6:
            return quad
        t = np.linalg.solve(m, p2 - p1)
        out.append(p1 + t[0] * d1)
    return np.array(out)


def detect_card(rgb: np.ndarray) -> ReferenceScale:
    """Find an ISO/IEC 7810 ID-1 card (85.60 × 53.98 mm): the most card-shaped quadrilateral.

    Keep the card flat, fully visible and contrasting with what is behind it.
    """
    import cv2

    gray = _check_image(rgb)
    factor = min(1.0, _DETECT_MAX_SIDE / max(gray.shape))
    small = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    cands = _card_candidates(small)
    if not cands:
        raise Unprocessable(
            "no ID-1 card (85.60 x 53.98 mm) found; hold it flat, fully visible, against a "
            "contrasting background"
        )
    quad = _refine_quad(gray, cands[0][1] / factor)
    sides = np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1)
    w, h = CARD_MM
    if sides[0] + sides[2] < sides[1] + sides[3]:  # card stands upright (portrait)
        w, h = h, w
    plane = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
    return _result("card", plane, quad, (w, h))


def detect_reference(
    rgb: np.ndarray,
    kind: str = "auto",
    square_mm: float | None = None,
    pattern: tuple[int, int] | None = None,
) -> ReferenceScale:
    """``kind``: "checkerboard" (needs ``square_mm``), "card", or "auto" (board if
    ``square_mm`` is given, else card)."""
    if kind == "auto":
        kind = "checkerboard" if square_mm else "card"
    if kind == "checkerboard":
        if square_mm is None:
            raise InputError("a checkerboard reference needs its square size in mm")
        return detect_checkerboard(rgb, square_mm, pattern)
    if kind == "card":
        return detect_card(rgb)
    raise InputError(f"reference kind must be 'checkerboard', 'card' or 'auto', got {kind!r}")


@dataclass(frozen=True)
class ReferenceStature:
    """The metric stature a reference object implies for a fitted body."""

    stature_m: float
    depth: str  # "front surface" (over the body), "holding hand" (next to it), or "mid-plane"
    depth_ratio: float  # object depth / body mid-plane depth (< 1: nearer the camera)
    metres_per_unit: float  # metric size of one fitted-model unit


def camera_pitch_deg(fit) -> float:
    """How far the fitted camera looks down at the body, in degrees (negative: up)."""
    import torch

    from bodylens.body.fit import _camera_rotation

    rot = _camera_rotation(torch.as_tensor(np.asarray(fit.root_rotvec, np.float32))[None])[0]
    return float(np.degrees(np.arcsin(-float(rot[2, 2]))))


def stature_from_reference(model, fit, ref: ReferenceScale) -> ReferenceStature:
    """Metric stature of a fitted body from a reference object at about the person's depth.

    The fit's camera is a pinhole (``fit.focal`` px, body at ``fit.translation``): a model
    length L at depth z spans focal·L/z px, and at the object's depth one millimetre spans
    ``ref.px_per_mm`` px. The fitted focal is assumed, and how far the fit puts the body (and
    how much it tilts it: the camera's pitch is weakly observed) trades off against it, so
    reading focal / z at the object's fitted depth proved biased (~-3 % on the synthetic
    benchmark, with a focal 0.75-1.3x the assumed one). What the fit does reproduce is the
    image: the body's image height over its fitted height along the camera's vertical axis
    is the pixels per model unit at the body (weak perspective), and only the object's depth
    *relative* to the body's mid-plane is taken from the fitted geometry.

    Which depth: an object that overlaps the fitted body in the image is taken to be held
    against it, so at the body's front surface there (nearer the camera than the body's
    middle by half the torso depth: ~4 % at 2.5 m, which would otherwise shrink the body);
    an object next to the body in the image is taken to be held by the body part beside it
    (a hand: the median depth of the fitted vertices within reach); one further away, to be
    in the body's mid-plane at its height (half-way between the front and the back of the
    trunk in that image row).
    """
    import cv2
    import torch

    from bodylens.body.fit import _camera_rotation

    verts = model.posed_full(fit.phenotype, fit.local_changes, fit.bone_rotvecs)
    rot = _camera_rotation(torch.as_tensor(fit.root_rotvec)[None].float())[0]
    cam = verts @ rot.numpy().T.astype(np.float64) + fit.translation
    z = cam[:, 2]
    uv = fit.focal * cam[:, :2] / cam[:, 2:3] + np.array(fit.principal)
    # The body's cross-section at the object's image row (clamped to the body): a camera
    # looking down sees the feet further away than the chest, so depth depends on the height.
    top, bottom = float(uv[:, 1].min()), float(uv[:, 1].max())
    row = min(max(ref.center[1], top + 0.1 * (bottom - top)), bottom - 0.1 * (bottom - top))
    band = np.abs(uv[:, 1] - row) < 0.03 * (bottom - top)
    trunk = band & (model.part == 0)
    section = z[trunk] if trunk.sum() >= 20 else z[band]
    z_mid = 0.5 * float(np.percentile(section, 2) + np.percentile(section, 98))

    width, height = (int(round(2 * c)) for c in fit.principal)
    footprint = np.zeros((height, width), np.uint8)
    cv2.fillConvexPoly(
        footprint, np.round(np.asarray(ref.corners) * 4).astype(np.int32), 1, shift=2
    )
    px = np.round(uv).astype(int)
    ok = (px[:, 0] >= 0) & (px[:, 0] < width) & (px[:, 1] >= 0) & (px[:, 1] < height)
    inside = np.zeros(len(uv), bool)
    inside[ok] = footprint[px[ok, 1], px[ok, 0]] > 0
    # Fitted-body vertices next to the object in the image: the hand or arm holding it.
    reach = 0.05 * (bottom - top) + 0.5 * float(np.ptp(np.asarray(ref.corners)[:, 0]))
    gap = cv2.distanceTransform((1 - footprint).astype(np.uint8), cv2.DIST_L2, 3)
    near = np.zeros(len(uv), bool)
    near[ok] = gap[px[ok, 1], px[ok, 0]] < reach
    # Against the body means against the trunk: an arm the fit bent towards the camera under
    # the object would otherwise pull the depth forward.
    on_trunk = inside & (model.part == 0)
    if on_trunk.sum() >= 5:
        # Nearest surface under the object (a low percentile: robust to a stray vertex).
        z_ref, depth = float(np.percentile(z[on_trunk], 2)), "front surface"
    elif near.sum() >= 20:
        z_ref, depth = float(np.median(z[near])), "holding hand"
    else:
        z_ref, depth = z_mid, "mid-plane"
    # Weak perspective: pixels per model unit of the whole body = its image height over its
    # height along the camera's vertical axis. At the body's mid-plane one millimetre spans
    # px_per_mm · z_ref / z_mid pixels (the object is nearer when in front of it).
    px_per_unit = float(np.ptp(uv[:, 1])) / float(np.ptp(cam[:, 1]))
    depth_ratio = z_ref / z_mid
    metres_per_unit = px_per_unit / (ref.px_per_mm * depth_ratio * 1000.0)
    rest = model.rest_body(fit.phenotype, fit.local_changes)
    raw_stature = float(rest.vertices[:, 2].max() - rest.vertices[:, 2].min())
    return ReferenceStature(raw_stature * metres_per_unit, depth, depth_ratio, metres_per_unit)
