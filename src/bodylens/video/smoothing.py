"""One Euro filter for landmark tracks, and the jitter measure used to check it helps.

The One Euro filter (Casiez et al., CHI 2012) is a low-pass filter whose cut-off rises with
speed: slow movement is smoothed hard (no jitter while the trainer holds a pose), fast
movement follows with little lag. It runs causally, so the same code could run live.
"""

from __future__ import annotations

import math

import numpy as np


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Filter arrays of any fixed shape, one sample per call.

    min_cutoff (Hz): smoothing at rest; beta: how fast the cut-off opens with speed (per unit of
    the signal per second); d_cutoff (Hz): smoothing of the speed estimate.
    """

    def __init__(
        self, fps: float, min_cutoff: float = 1.0, beta: float = 0.5, d_cutoff: float = 1.0
    ):
        self.dt = 1.0 / fps
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def reset(self) -> None:
        self._x = self._dx = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._x is None:
            self._x, self._dx = x.copy(), np.zeros_like(x)
            return x.copy()
        dx = (x - self._x) / self.dt
        self._dx = self._dx + _alpha(self.d_cutoff, self.dt) * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        self._x = self._x + _alpha(cutoff, self.dt) * (x - self._x)
        return self._x.copy()


def smooth_track(
    track: np.ndarray, fps: float, min_cutoff: float = 1.0, beta: float = 0.5
) -> np.ndarray:
    """Smooth a [F, ...] track; NaN frames (nobody there) are kept and restart the filter."""
    out = np.array(track, dtype=np.float64, copy=True)
    filt = OneEuroFilter(fps, min_cutoff=min_cutoff, beta=beta)
    for i in range(len(out)):
        if np.isnan(out[i]).any():
            filt.reset()
            continue
        out[i] = filt(out[i])
    return out


def jitter(track: np.ndarray) -> float:
    """Mean magnitude of the frame-to-frame acceleration (second difference) of a [F, J, D]
    track, in track units per frame²; frames next to a gap are ignored.

    Real movement of a person is smooth at 30 fps, so most of this number is detector noise.
    """
    track = np.asarray(track, dtype=np.float64)
    if len(track) < 3:
        return 0.0
    acc = track[2:] - 2 * track[1:-1] + track[:-2]
    norms = np.linalg.norm(acc, axis=-1)
    valid = ~np.isnan(norms).any(axis=tuple(range(1, norms.ndim)))
    if not valid.any():
        return 0.0
    return float(norms[valid].mean())
