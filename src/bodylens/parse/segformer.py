"""A SegFormer checkpoint from a local folder (``transformers``, optional extra ``segformer``).

For users who already have e.g. SegFormer-B3-clothes on disk: same interface and answer format
as our parser; the class names come from the checkpoint's ``id2label``. Never downloads.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from bodylens.errors import InputError
from bodylens.parse.api import SegmentResult


class SegformerParser:
    name = "segformer"

    def __init__(self, model_dir: str | Path) -> None:
        try:
            import transformers  # noqa: F401
        except ImportError:
            raise InputError(
                "the segformer backend needs transformers: pip install 'bodylens[segformer]'"
            ) from None
        from transformers import AutoModelForSemanticSegmentation, SegformerImageProcessor

        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise InputError(f"no SegFormer checkpoint (config.json) in {model_dir}")
        self.model = AutoModelForSemanticSegmentation.from_pretrained(  # user-supplied
            model_dir, local_files_only=True
        ).eval()
        if (model_dir / "preprocessor_config.json").is_file():
            self.processor = SegformerImageProcessor.from_pretrained(  # user-supplied
                model_dir, local_files_only=True
            )
        else:
            self.processor = SegformerImageProcessor()
        id2label = self.model.config.id2label
        self.classes = [str(id2label.get(i, id2label.get(str(i), i))) for i in range(len(id2label))]

    def __call__(self, rgb: np.ndarray) -> SegmentResult:
        import torch
        from torch.nn import functional as F

        inputs = self.processor(images=rgb, return_tensors="pt")
        with torch.inference_mode():
            logits = self.model(**inputs).logits
            logits = F.interpolate(logits, size=rgb.shape[:2], mode="bilinear",
                                   align_corners=False)  # fmt: skip
            prob, labels = logits[0].softmax(0).max(0)
        labels = labels.to(torch.uint8).numpy()
        n = len(self.classes)
        sums = np.bincount(labels.ravel(), weights=prob.numpy().ravel(), minlength=n)
        counts = np.bincount(labels.ravel(), minlength=n)
        scores = {self.classes[i]: round(float(sums[i] / counts[i]), 4)
                  for i in range(n) if counts[i]}  # fmt: skip
        return SegmentResult(labels, list(self.classes), scores, self.name)


_cache: dict[Path, SegformerParser] = {}
_lock = threading.Lock()


def get_segformer(model_dir: object = None) -> SegformerParser:
    """One shared instance per checkpoint folder."""
    if model_dir is None:
        raise InputError("the segformer backend needs a checkpoint folder (model_dir)")
    key = Path(str(model_dir)).resolve()
    with _lock:
        if key not in _cache:
            _cache[key] = SegformerParser(key)
        return _cache[key]
