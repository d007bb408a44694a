"""Segmentation scores: per-class IoU, mIoU, pixel accuracy, F1, confusion matrix."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bodylens.errors import InputError
from bodylens.parse.labels import COARSE3, EVAL13, EVAL13_TO_COARSE3, IGNORE

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


class Confusion:
    """Accumulates a confusion matrix (rows: truth, columns: prediction) over many images,
    so scores are dataset-level (pixels pooled), the usual way mIoU is reported."""

    def __init__(self, classes: list[str]) -> None:
        self.classes = list(classes)
        self.n = len(classes)
        self.matrix = np.zeros((self.n, self.n), dtype=np.int64)

    def update(self, pred: np.ndarray, truth: np.ndarray) -> None:
        pred = np.asarray(pred).ravel().astype(np.int64)
        truth = np.asarray(truth).ravel().astype(np.int64)
        if pred.shape != truth.shape:
            raise ValueError(f"prediction and truth differ in size: {pred.shape} vs {truth.shape}")
        keep = truth != IGNORE
        pred, truth = pred[keep], truth[keep]
        if truth.size and (truth.max() >= self.n or pred.max() >= self.n or pred.min() < 0):
            raise ValueError(f"labels outside 0..{self.n - 1}")
        self.matrix += np.bincount(truth * self.n + pred, minlength=self.n**2).reshape(
            self.n, self.n
        )

    def iou(self) -> np.ndarray:
        """Per-class IoU; NaN for a class absent from both truth and prediction."""
        tp = np.diag(self.matrix).astype(np.float64)
        denom = self.matrix.sum(0) + self.matrix.sum(1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, tp / denom, np.nan)

    def f1(self) -> np.ndarray:
        tp = np.diag(self.matrix).astype(np.float64)
        denom = self.matrix.sum(0) + self.matrix.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, 2 * tp / denom, np.nan)

    def miou(self) -> float:
        return float(np.nanmean(self.iou()))

    def pixel_accuracy(self) -> float:
        total = self.matrix.sum()
        return float(np.trace(self.matrix) / total) if total else float("nan")

    def report(self) -> dict:
        iou, f1 = self.iou(), self.f1()
        return {
            "classes": self.classes,
            "iou": {c: _num(v) for c, v in zip(self.classes, iou, strict=True)},
            "f1": {c: _num(v) for c, v in zip(self.classes, f1, strict=True)},
            "miou": _num(self.miou()),
            "mean_f1": _num(float(np.nanmean(f1))),
            "pixel_accuracy": _num(self.pixel_accuracy()),
            "confusion": self.matrix.tolist(),
        }


def _num(v: float) -> float | None:
    return None if v != v else round(float(v), 4)


def load_scoring_map(path: str | Path) -> ScoringMap:
    """Read a label-map JSON: CCP's ``eval_label_map.json`` (names via ``label_names.json``
    next to it) or the generic form ``{"eval_classes", "gt_to_eval_index": {index: eval},
    "pred_to_eval_index": {class name: eval}, "ignore_index"}``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the label map {path}: {exc}") from None
    classes = data.get("eval_classes")
    if not isinstance(classes, list) or not classes:
        raise InputError(f"{path}: no eval_classes list")
    ignore = int(data.get("ignore_index", IGNORE))
    gt = np.full(256, IGNORE, np.uint8)
    if "gt_to_eval_index" in data:
        for k, v in data["gt_to_eval_index"].items():
            gt[int(k)] = IGNORE if v == ignore else v
    elif "ccp_label_to_eval_index" in data:
        names_file = path.parent / "label_names.json"
        if not names_file.is_file():
            raise InputError(f"{path}: the CCP map needs label_names.json beside it")
        names = json.loads(names_file.read_text())
        mapping = data["ccp_label_to_eval_index"]
        for i, name in enumerate(names):
            if name not in mapping:
                raise InputError(f"{path}: CCP label {name!r} is not mapped")
            gt[i] = IGNORE if mapping[name] == ignore else mapping[name]
    else:
        raise InputError(f"{path}: needs gt_to_eval_index or ccp_label_to_eval_index")
    pred = data.get("pred_to_eval_index") or data.get("atr18_to_eval_index")
    if not isinstance(pred, dict):
        raise InputError(f"{path}: needs pred_to_eval_index (or atr18_to_eval_index)")
    return ScoringMap(list(classes), gt, {str(k): int(v) for k, v in pred.items()})


@dataclass
class ScoringMap:
    """How ground-truth indices and predicted class names both map onto the scoring classes."""

    classes: list[str]
    gt_table: np.ndarray  # 256 entries: ground-truth index -> scoring index (255 ignore)
    pred_names: dict[str, int]  # predicted class name -> scoring index

    def pred_table(self, pred_classes: list[str]) -> np.ndarray:
        missing = [c for c in pred_classes if c not in self.pred_names]
        if missing:
            raise InputError(f"the label map does not score the predicted classes {missing}")
        return np.array([self.pred_names[c] for c in pred_classes], np.uint8)


def evaluate_folder(
    images: Path,
    labels: Path,
    scoring: ScoringMap,
    predict: Callable[[np.ndarray], object],
    ids: list[str] | None = None,
    label_suffix: str = "",
    progress: bool = False,
) -> dict:
    """Score ``predict`` (RGB -> SegmentResult) on every image with a label PNG.

    ``labels/<stem><label_suffix>.png`` holds the truth of ``images/<stem>.<ext>``. Adds the
    clothes/skin/background scores when the scoring classes are the CCP 13.
    """
    from PIL import Image

    from bodylens.io.images import read_image_file

    files = sorted(p for p in Path(images).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    pairs = []
    for f in files:
        lab = Path(labels) / f"{f.stem}{label_suffix}.png"
        if lab.is_file() and (ids is None or f.stem in ids):
            pairs.append((f, lab))
    if not pairs:
        raise InputError(f"no image in {images} has a label PNG in {labels}")
    conf = Confusion(scoring.classes)
    is13 = scoring.classes == EVAL13
    coarse = Confusion(COARSE3) if is13 else None
    it = pairs
    if progress:
        from tqdm import tqdm

        it = tqdm(pairs, desc="evaluate", unit="img")
    seconds = 0.0
    for img_path, lab_path in it:
        rgb = read_image_file(img_path)
        with Image.open(lab_path) as im:
            truth = scoring.gt_table[np.asarray(im)]
        start = time.perf_counter()
        result = predict(rgb)
        seconds += time.perf_counter() - start
        pred = scoring.pred_table(result.classes)[result.labels]
        if pred.shape != truth.shape:
            raise InputError(f"{lab_path.name}: label size {truth.shape[::-1]} differs from image")
        conf.update(pred, truth)
        if coarse is not None:
            keep = truth != IGNORE
            coarse.update(EVAL13_TO_COARSE3[pred[keep]], EVAL13_TO_COARSE3[truth[keep]])
    report = conf.report()
    report["images"] = len(pairs)
    report["seconds_per_image"] = round(seconds / len(pairs), 4)
    if coarse is not None:
        report["coarse3"] = coarse.report()
    return report
