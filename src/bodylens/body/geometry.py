"""Tape-measure geometry on a triangle mesh: plane sections, their loops, convex-hull girths.

A tape around a body part follows the convex hull of the part's cross-section (it bridges
concavities such as the gap between the breasts), so a girth is the perimeter of the 2D convex
hull of a plane section, restricted to the loop(s) of the part being measured.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import ConvexHull, QhullError


def plane_basis(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = normal / np.linalg.norm(normal)
    helper = np.array([1.0, 0.0, 0.0]) if abs(n[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(n, helper)
    u /= np.linalg.norm(u)
    w = np.cross(n, u)
    return n, u, w


def section_loops(
    vertices: np.ndarray, faces: np.ndarray, point: np.ndarray, normal: np.ndarray
) -> list[np.ndarray]:
    """3D points of each connected loop where the plane (point, normal) cuts the faces."""
    n = normal / np.linalg.norm(normal)
    d = (vertices - point) @ n
    # A face crosses when one or two of its corners are below the plane (boolean counts are
    # several times cheaper than min/max over the face distances; girths call this a lot).
    below = (d < 0)[faces].sum(axis=1, dtype=np.int8)
    crossing = (below > 0) & (below < 3)
    tri = faces[crossing]
    if len(tri) == 0:
        return []
    dt = d[tri]
    # For each triangle, the two edges whose ends lie on opposite sides of the plane.
    edges_a = np.stack([tri[:, 0], tri[:, 1], tri[:, 2]], axis=1)
    edges_b = np.stack([tri[:, 1], tri[:, 2], tri[:, 0]], axis=1)
    da = np.stack([dt[:, 0], dt[:, 1], dt[:, 2]], axis=1)
    db = np.stack([dt[:, 1], dt[:, 2], dt[:, 0]], axis=1)
    cut = (da < 0) != (db < 0)
    rows, cols = np.nonzero(cut)
    a, b = edges_a[rows, cols], edges_b[rows, cols]
    ta, tb = da[rows, cols], db[rows, cols]
    t = ta / (ta - tb)
    pts = vertices[a] + t[:, None] * (vertices[b] - vertices[a])
    # Identify each cut point by its (undirected) edge so neighbouring triangles share it.
    key = np.minimum(a, b).astype(np.int64) * (len(vertices) + 1) + np.maximum(a, b)
    uniq, inv = np.unique(key, return_inverse=True)
    upts = np.zeros((len(uniq), 3))
    upts[inv] = pts
    # Segments: consecutive cut points of the same triangle.
    order = np.argsort(rows, kind="stable")
    rows_s, inv_s = rows[order], inv[order]
    starts = np.flatnonzero(np.r_[True, rows_s[1:] != rows_s[:-1]])
    counts = np.diff(np.r_[starts, len(rows_s)])
    pair = starts[counts == 2]
    i, j = inv_s[pair], inv_s[pair + 1]
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(len(uniq), len(uniq)))
    n_comp, labels = connected_components(graph, directed=False)
    return [upts[labels == c] for c in range(n_comp) if np.sum(labels == c) >= 3]


def _chains(points: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Lower and upper convex hull chains of 2D points, each ordered by increasing first
    coordinate (Andrew's monotone chain)."""
    pts = np.unique(np.round(points, 9), axis=0)
    pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]

    def cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[np.ndarray] = []
    upper: list[np.ndarray] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) >= 0:
            upper.pop()
        upper.append(p)
    return lower, upper


def _length(chain: list[np.ndarray] | np.ndarray) -> float:
    c = np.asarray(chain)
    return float(np.linalg.norm(np.diff(c, axis=0), axis=1).sum()) if len(c) > 1 else 0.0


def hull_perimeter_2d(points: np.ndarray) -> float:
    """Perimeter of the convex hull of 2D points: qhull, ~10x faster than the monotone chain
    (a fit's measurements take ~50 girths); points all on one line go round it both ways."""
    pts = np.unique(np.round(points, 9), axis=0)
    if len(pts) < 3:
        return 0.0
    try:
        return float(ConvexHull(pts).area)  # in 2D, qhull's "area" is the perimeter
    except QhullError:
        lower, upper = _chains(pts)
        return _length(lower) + _length(upper)


def outline_length(points: np.ndarray) -> float:
    """Length of the upper convex envelope of 2D points (a, b) from the smallest to the largest
    a: a tape laid along an outline on the side of large b, bridging its hollows."""
    return _length(_chains(points)[1])


def girth(
    vertices: np.ndarray,
    faces: np.ndarray,
    point: np.ndarray,
    normal: np.ndarray,
    *,
    nearest_loop: bool,
) -> float:
    """Convex-hull girth of a plane section (metres).

    ``nearest_loop``: keep only the loop closest to ``point`` (a limb); otherwise all loops of
    ``faces`` together (the trunk, where a tape also bridges both legs at hip level).
    """
    loops = section_loops(vertices, faces, point, normal)
    if not loops:
        return 0.0
    if nearest_loop:
        dist = [np.linalg.norm(lp.mean(axis=0) - point) for lp in loops]
        pts = loops[int(np.argmin(dist))]
    else:
        pts = np.concatenate(loops)
    _, u, w = plane_basis(normal)
    rel = pts - point
    return hull_perimeter_2d(np.stack([rel @ u, rel @ w], axis=1))
