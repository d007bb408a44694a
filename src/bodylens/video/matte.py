"""Remove the background of a video: a transparent VP9 WebM (and PNG frames on request).

Pipeline per frame, all on CPU:
1. MediaPipe selfie segmentation on a small copy of the frame (its network runs at 256 px).
   The network sees a crop around the person found in the previous frame, so a full-body
   performer fills its input (the whole frame is used while nobody is found).
2. Refinement at full resolution with a fast guided filter (He & Sun 2015) guided by the
   frame's luma, so the edge snaps to the real silhouette instead of the blurry upsampled one.
3. Temporal stabilisation: a per-pixel exponential average whose weight grows with the
   change, so flicker on a still outline is damped while a moving limb is followed at once
   (no ghost trails).
4. Optional colour grade, then RGBA → ``yuva420p`` VP9 (libvpx, realtime, row-mt).

Colour presets (``--color``):
- ``studio``: colours as shot (no grade); the default.
- ``v11``: the platform's "V11" grade, applied in this order on 8-bit RGB:
  brightness ``x + 0.08``, contrast ``(x - 0.5) * 1.12 + 0.5`` (x in [0, 1]);
  CIELAB lightness lift 52 (OpenCV 8-bit L in [0, 255]: ``L + 52 * (1 - L / 255)``, a
  lift in the lift/gamma/gain sense: black rises to 52, white stays); warmth ``R * 1.03``,
  ``B * 0.97``. Each step clips to [0, 255].
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bodylens.errors import InputError
from bodylens.io.video import WebMAlphaWriter, iter_frames, probe

Progress = Callable[[float, str], None]
COLOR_PRESETS = ("studio", "v11")
SEG_SIDE = 256  # the selfie network's input size; feeding more only costs resizing


def _lut(fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    x = np.arange(256, dtype=np.float64)
    return np.clip(np.round(fn(x)), 0, 255).astype(np.uint8)


class ColorGrade:
    """The V11 grade as three 8-bit lookups around one RGB→LAB→RGB round trip."""

    def __init__(
        self,
        brightness: float = 0.08,
        contrast: float = 1.12,
        lift: float = 52.0,
        warm_r: float = 1.03,
        warm_b: float = 0.97,
    ) -> None:
        self.bc = _lut(lambda x: ((x / 255 + brightness - 0.5) * contrast + 0.5) * 255)
        self.lift = _lut(lambda x: x + lift * (1 - x / 255))
        self.warm_r = _lut(lambda x: x * warm_r)
        self.warm_b = _lut(lambda x: x * warm_b)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        import cv2

        out = cv2.LUT(rgb, self.bc)
        lab = cv2.cvtColor(out, cv2.COLOR_RGB2LAB)
        lab[..., 0] = cv2.LUT(lab[..., 0], self.lift)
        out = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
        out[..., 0] = cv2.LUT(out[..., 0], self.warm_r)
        out[..., 2] = cv2.LUT(out[..., 2], self.warm_b)
        return out


def guided_upsample(
    guide: np.ndarray, mask: np.ndarray, radius: int = 4, eps: float = 1e-3
) -> np.ndarray:
    """Fast guided filter: fit ``mask ≈ a * luma + b`` locally at the mask's resolution, then
    apply the upsampled (a, b) to the full-resolution luma. guide: (H, W) float32 [0, 1];
    mask: (h, w) float32 [0, 1]. Returns (H, W) float32 [0, 1]."""
    import cv2

    h, w = mask.shape
    big_h, big_w = guide.shape
    small = cv2.resize(guide, (w, h), interpolation=cv2.INTER_AREA)
    k = (2 * radius + 1, 2 * radius + 1)
    mean_i = cv2.boxFilter(small, -1, k)
    mean_p = cv2.boxFilter(mask, -1, k)
    cov = cv2.boxFilter(small * mask, -1, k) - mean_i * mean_p
    var = cv2.boxFilter(small * small, -1, k) - mean_i * mean_i
    a = cov / (var + eps)
    b = mean_p - a * mean_i
    a = cv2.resize(cv2.boxFilter(a, -1, k), (big_w, big_h), interpolation=cv2.INTER_LINEAR)
    b = cv2.resize(cv2.boxFilter(b, -1, k), (big_w, big_h), interpolation=cv2.INTER_LINEAR)
    return np.clip(a * guide + b, 0.0, 1.0)


class MaskStabiliser:
    """Per-pixel adaptive exponential average of successive masks (see module docstring)."""

    def __init__(self, min_weight: float = 0.35, gain: float = 4.0) -> None:
        self.min_weight = min_weight
        self.gain = gain
        self.state: np.ndarray | None = None

    def __call__(self, mask: np.ndarray) -> np.ndarray:
        if self.state is None or self.state.shape != mask.shape:
            self.state = mask.copy()
            return self.state
        diff = mask - self.state
        weight = np.clip(np.abs(diff) * self.gain, self.min_weight, 1.0)
        self.state = self.state + weight * diff
        return self.state


@dataclass
class MatteResult:
    path: Path
    frames: int
    width: int
    height: int
    fps: float
    png_dir: Path | None


class Matter:
    """One video's matting state: a fresh segmenter (it keeps no state, but is not
    thread-safe), the stabiliser and the colour grade."""

    def __init__(
        self,
        color: str = "studio",
        *,
        edge_low: float = 0.15,
        edge_high: float = 0.85,
        stabilise: bool = True,
    ):
        from bodylens.detect.pose import PersonSegmenter

        if color not in COLOR_PRESETS:
            raise InputError(f"unknown colour preset {color!r}; use one of {list(COLOR_PRESETS)}")
        self._seg = PersonSegmenter()
        self.grade = ColorGrade() if color == "v11" else None
        # min_weight 1 turns the average off (kept for measuring what it buys).
        self.stabiliser = MaskStabiliser() if stabilise else MaskStabiliser(min_weight=1.0)
        # Contrast stretch of the refined matte: below edge_low is background, above
        # edge_high solid person; MediaPipe's probabilities are soft on both sides.
        self.edge_low, self.edge_high = edge_low, edge_high
        self._stretch = 1.0 / (edge_high - edge_low)
        self._box: tuple[int, int, int, int] | None = None

    def _roi(self, h: int, w: int) -> tuple[int, int, int, int]:
        """Crop (x0, y0, x1, y1) around last frame's person, or the whole frame."""
        if self._box is None:
            return 0, 0, w, h
        x0, y0, x1, y1 = self._box
        bw, bh = x1 - x0, y1 - y0
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        # Margins for limbs moving out of last frame's box (arms up, a step aside); never
        # narrower than 0.6 x height so a thin silhouette still gets side context.
        half_w = max(bw * 1.5, bh * 0.6, 64) / 2
        half_h = max(bh * 1.3, 64) / 2
        return (
            max(0, int(cx - half_w)),
            max(0, int(cy - half_h)),
            min(w, int(cx + half_w) + 1),
            min(h, int(cy + half_h) + 1),
        )

    def _segment(self, rgb: np.ndarray) -> np.ndarray:
        """Refined float alpha (H, W) of the crop chosen by ``_roi``."""
        import cv2

        h, w = rgb.shape[:2]
        x0, y0, x1, y1 = self._roi(h, w)
        crop = rgb[y0:y1, x0:x1]
        ch, cw = crop.shape[:2]
        scale = SEG_SIDE / max(ch, cw)
        size = (max(1, round(cw * scale)), max(1, round(ch * scale)))
        small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        low = self._seg(small)
        luma = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32) * (1 / 255)
        alpha = np.zeros((h, w), np.float32)
        alpha[y0:y1, x0:x1] = guided_upsample(luma, low, radius=2, eps=1e-3)
        return alpha

    def _main_person(self, alpha: np.ndarray) -> np.ndarray:
        """Keep the largest blob (and any at least a third its size), remember its box."""
        import cv2

        step = 4
        solid = (alpha[::step, ::step] > 0.5).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=8)
        if count <= 1:
            self._box = None
            return alpha
        areas = stats[1:, cv2.CC_STAT_AREA]
        keep = np.flatnonzero(areas >= areas.max() / 3) + 1
        kept = np.isin(labels, keep).astype(np.uint8)
        ys, xs = np.nonzero(kept)
        self._box = (
            xs.min() * step,
            ys.min() * step,
            xs.max() * step + step,
            ys.max() * step + step,
        )
        kept = cv2.dilate(kept, np.ones((7, 7), np.uint8))
        h, w = alpha.shape
        return alpha * cv2.resize(kept, (w, h), interpolation=cv2.INTER_NEAREST)

    def mask(self, rgb: np.ndarray) -> np.ndarray:
        """Alpha (H, W) uint8 for one RGB frame.

        The network sees a crop around the person found in the previous frame, so a full-body
        performer fills its 256 px input instead of a thin column of it; with no previous
        person, the whole frame finds them and a second pass on the crop refines them.
        """
        fresh = self._box is None
        alpha = self._main_person(self._segment(rgb))
        if fresh and self._box is not None:
            alpha = self._main_person(self._segment(rgb))
        alpha = self.stabiliser(alpha)
        out = np.clip((alpha - self.edge_low) * self._stretch, 0.0, 1.0) * 255 + 0.5
        return out.astype(np.uint8)

    def rgba(self, rgb: np.ndarray) -> np.ndarray:
        import cv2

        alpha = self.mask(rgb)
        color = self.grade(rgb) if self.grade else rgb
        rgba = cv2.cvtColor(color, cv2.COLOR_RGB2RGBA)  # SIMD; np.dstack is ~5x slower
        rgba[..., 3] = alpha
        return rgba

    def close(self) -> None:
        self._seg.close()


def matte_video(
    path: str | Path,
    out: str | Path,
    *,
    color: str = "studio",
    png_dir: str | Path | None = None,
    size: tuple[int, int] | None = None,
    crf: int = 30,
    progress: Progress | None = None,
    on_frame: Callable[[int, np.ndarray], None] | None = None,
) -> MatteResult:
    """Write ``out`` (VP9 WebM with alpha) with the background of ``path`` removed.

    size: optional output (width, height), e.g. to match a player's layout.
    on_frame: called with (index, RGBA) for every frame (tests, previews).
    Encoding runs in a second thread (libvpx releases the GIL), overlapping segmentation.
    """
    import queue

    import cv2

    out = Path(out)
    if out.suffix.lower() != ".webm":
        raise InputError("the output must be a .webm file (VP9 with alpha)")
    info = probe(path)
    width, height = size or (info.width, info.height)
    width -= width % 2
    height -= height % 2
    png = Path(png_dir) if png_dir else None
    if png:
        png.mkdir(parents=True, exist_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    matter = Matter(color)
    pending: queue.Queue = queue.Queue(maxsize=8)
    failure: list[BaseException] = []

    def encoder(writer: WebMAlphaWriter) -> None:
        try:
            while (item := pending.get()) is not None:
                writer.write(item)
        except BaseException as exc:  # surfaced to the caller after join
            failure.append(exc)
            while pending.get() is not None:
                pass

    expected = max(1, info.total_frames)
    count = 0
    with WebMAlphaWriter(out, width, height, info.rate, crf=crf) as writer:
        thread = threading.Thread(target=encoder, args=(writer,), daemon=True)
        thread.start()
        try:
            for i, rgb in enumerate(iter_frames(path, size=(width, height), prefetch=4)):
                rgba = matter.rgba(rgb)
                if failure:
                    break
                pending.put(rgba)
                if on_frame:
                    on_frame(i, rgba)
                if png:
                    bgra = cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA)
                    cv2.imwrite(
                        str(png / f"frame_{i:06d}.png"), bgra, [cv2.IMWRITE_PNG_COMPRESSION, 1]
                    )
                count = i + 1
                if progress and count % 10 == 0:
                    progress(min(0.99, count / expected), f"matte: frame {count}/{expected}")
        finally:
            pending.put(None)
            thread.join()
            matter.close()
    if failure:
        raise failure[0]
    return MatteResult(out, count, width, height, info.fps, png)
