"""Body geometry from MediaPipe landmarks: conditioning maps for the network and the split of
bare skin into Face / arms / legs and of shoes into left / right.

CCP labels all bare skin as one class and never says left or right, so the network predicts
the 13-class scoring set and these rules recover the 18 ATR classes from the pose. Left/right
follow the person's own sides (MediaPipe's convention, also CIHP's).
"""

from __future__ import annotations

import numpy as np
import torch

from bodylens.parse.labels import ATR18_INDEX, EVAL13_INDEX

# Segments (pairs of MediaPipe landmark indices) of each conditioning channel; left and right
# are merged so that a horizontally flipped training image keeps consistent channels.
CHANNEL_SEGMENTS: list[list[tuple[int, int]]] = [
    [(0, 7), (0, 8), (7, 8), (9, 10), (2, 5)],  # head
    [(11, 12), (23, 24), (11, 23), (12, 24), (11, 24), (12, 23)],  # torso
    [(11, 13), (12, 14)],  # upper arms
    [(13, 15), (14, 16)],  # forearms
    [(15, 17), (15, 19), (15, 21), (16, 18), (16, 20), (16, 22)],  # hands
    [(23, 25), (24, 26)],  # thighs
    [(25, 27), (26, 28)],  # shins
    [(27, 29), (29, 31), (27, 31), (28, 30), (30, 32), (28, 32)],  # feet
]
N_POSE_CHANNELS = len(CHANNEL_SEGMENTS)
_SEG_A = torch.tensor([a for segs in CHANNEL_SEGMENTS for a, _ in segs])
_SEG_B = torch.tensor([b for segs in CHANNEL_SEGMENTS for _, b in segs])
_SEG_RANGES = []
for _segs in CHANNEL_SEGMENTS:
    _lo = _SEG_RANGES[-1][1] if _SEG_RANGES else 0
    _SEG_RANGES.append((_lo, _lo + len(_segs)))

# Skin/shoe split groups, by ATR class. "Face" includes the neck (nose to mid-shoulder), so
# skin at a neckline goes to Face rather than to an arm.
_NECK = (0, 33)  # 33 = virtual mid-shoulder point appended below
SKIN_GROUPS: dict[str, list[tuple[int, int]]] = {
    "Face": [(0, 7), (0, 8), (7, 8), (9, 10), _NECK],
    "Left-arm": [(11, 13), (13, 15), (15, 17), (15, 19), (15, 21)],
    "Right-arm": [(12, 14), (14, 16), (16, 18), (16, 20), (16, 22)],
    "Left-leg": [(23, 25), (25, 27), (27, 29), (27, 31)],
    "Right-leg": [(24, 26), (26, 28), (28, 30), (28, 32)],
}
SHOE_GROUPS: dict[str, list[tuple[int, int]]] = {
    "Left-shoe": [(25, 27), (27, 29), (29, 31), (27, 31)],
    "Right-shoe": [(26, 28), (28, 30), (30, 32), (28, 32)],
}


def body_scale(keypoints: np.ndarray) -> float:
    """A body length in pixels (torso or shoulder width), to size Gaussians per person."""
    sh = np.linalg.norm(keypoints[11] - keypoints[12])
    hip_mid = (keypoints[23] + keypoints[24]) / 2
    sh_mid = (keypoints[11] + keypoints[12]) / 2
    return float(max(sh, np.linalg.norm(hip_mid - sh_mid), 1.0))


def pose_maps(
    keypoints: torch.Tensor, visibility: torch.Tensor, scale: torch.Tensor, size: tuple[int, int]
) -> torch.Tensor:
    """(B, 8, H, W) soft stick maps in [0, 1], one channel per body part.

    keypoints: (B, 33, 2) pixel coordinates in the (H, W) frame; visibility (B, 33);
    scale (B,) body length in the same pixels. A batch item without a pose gets zeros
    (pass visibility 0).
    """
    h, w = size
    b = keypoints.shape[0]
    ys = torch.arange(h, dtype=torch.float32) + 0.5
    xs = torch.arange(w, dtype=torch.float32) + 0.5
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(1, 1, -1, 2)
    sigma = (0.12 * scale).clamp(min=2.0).view(b, 1, 1)
    # All segments in one pass, then each channel takes the max over its own segments.
    d2 = _segment_distance2(keypoints[:, _SEG_A], keypoints[:, _SEG_B], grid)  # (B, S, HW)
    weight = torch.minimum(visibility[:, _SEG_A], visibility[:, _SEG_B]).unsqueeze(-1)
    val = torch.exp(-d2 / (2 * sigma**2)) * weight
    out = [val[:, lo:hi].amax(dim=1) for lo, hi in _SEG_RANGES]
    return torch.stack(out, dim=1).reshape(b, N_POSE_CHANNELS, h, w)


def _segment_distance2(a: torch.Tensor, b: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Squared distance from each grid point to each segment a-b: (B, S, HW)."""
    a = a.unsqueeze(2)  # (B, S, 1, 2)
    ab = b.unsqueeze(2) - a
    ap = grid - a
    t = ((ap * ab).sum(-1) / (ab * ab).sum(-1).clamp(min=1e-6)).clamp(0, 1)
    closest = a + t.unsqueeze(-1) * ab
    return ((grid - closest) ** 2).sum(-1)


def _with_neck(keypoints: np.ndarray) -> np.ndarray:
    return np.vstack([keypoints, (keypoints[11] + keypoints[12]) / 2])


def _nearest_group(
    points: np.ndarray, keypoints: np.ndarray, groups: dict[str, list[tuple[int, int]]]
) -> np.ndarray:
    """Index (into ``groups``) of the group whose nearest segment is closest to each point."""
    kp = torch.from_numpy(_with_neck(keypoints).astype(np.float32))
    pts = torch.from_numpy(points.astype(np.float32)).view(1, 1, -1, 2)
    best = []
    for segments in groups.values():
        ia = torch.tensor([s[0] for s in segments])
        ib = torch.tensor([s[1] for s in segments])
        d2 = _segment_distance2(kp[ia].unsqueeze(0), kp[ib].unsqueeze(0), pts)
        best.append(d2.amin(dim=1)[0])
    return torch.stack(best).argmin(dim=0).numpy()


def split_eval13_to_atr18(
    label13: np.ndarray, keypoints: np.ndarray | None, step: int = 4
) -> np.ndarray:
    """Turn a 13-class map into the 18 ATR classes using the pose (or a fallback without one).

    The nearest-part search runs on a grid ``step`` pixels apart, only at the grid cells that
    hold pixels of the class, and each pixel takes its cell's part: a few milliseconds per
    photo, since skin and shoes cover a few percent of it.
    """
    lut = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 16, 17], dtype=np.uint8)
    out = lut[label13]
    h, w = label13.shape
    skin = label13 == EVAL13_INDEX["Skin"]
    shoes = label13 == EVAL13_INDEX["Shoes"]
    if not skin.any() and not shoes.any():
        return out
    if keypoints is None:
        _fallback_split(out, skin, shoes)
        return out
    # Grid points at step//2 + k*step; the last row/column of cells also takes the pixels
    # past the last full cell.
    rows, cols = len(range(step // 2, h, step)), len(range(step // 2, w, step))
    for mask, groups in ((skin, SKIN_GROUPS), (shoes, SHOE_GROUPS)):
        ys, xs = np.nonzero(mask)
        if not len(ys):
            continue
        cell = np.minimum(ys // step, rows - 1) * cols + np.minimum(xs // step, cols - 1)
        cells, pixel_cell = np.unique(cell, return_inverse=True)
        pts = np.stack([cells % cols, cells // cols], axis=1) * step + step // 2 + 0.0
        part = _nearest_group(pts, keypoints, groups)
        ids = np.array([ATR18_INDEX[name] for name in groups], dtype=np.uint8)
        out[ys, xs] = ids[part[pixel_cell]]
    return out


def _fallback_split(out: np.ndarray, skin: np.ndarray, shoes: np.ndarray) -> None:
    """No pose: top of the person is the face, the rest splits by image side (frontal view:
    the person's left is on the image's right)."""
    h, w = out.shape
    person = out > 0
    ys, xs = np.nonzero(person)
    top, bottom = ys.min(), ys.max()
    cx = float(xs.mean())
    yy, xx = np.mgrid[0:h, 0:w]
    left = xx >= cx
    height = max(bottom - top, 1)
    face = yy < top + 0.2 * height
    upper = yy < top + 0.55 * height
    out[skin & face] = ATR18_INDEX["Face"]
    out[skin & ~face & upper & left] = ATR18_INDEX["Left-arm"]
    out[skin & ~face & upper & ~left] = ATR18_INDEX["Right-arm"]
    out[skin & ~upper & left] = ATR18_INDEX["Left-leg"]
    out[skin & ~upper & ~left] = ATR18_INDEX["Right-leg"]
    out[shoes & left] = ATR18_INDEX["Left-shoe"]
    out[shoes & ~left] = ATR18_INDEX["Right-shoe"]
