"""bodylens: body measurements, clothing masks, keypoints and pose scores from photos and
videos, offline on CPU.

The capabilities are plain functions; the CLI and HTTP service only translate to them.
Heavy modules (torch, mediapipe, anny) are imported on first use, so ``import bodylens`` is fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public functions, imported lazily: name -> "module:attribute".
_LAZY = {
    "measure": "bodylens.body.api:measure",
    "segment": "bodylens.parse.api:segment",
}
# Public submodules reachable as attributes (e.g. ``bodylens.hands.predict``).
_SUBMODULES = {"hands"}

__all__ = ["__version__", *_LAZY, *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, _, attr = _LAZY[name].partition(":")
        return getattr(importlib.import_module(module), attr)
    if name in _SUBMODULES:
        return importlib.import_module(f"bodylens.{name}")
    raise AttributeError(f"module 'bodylens' has no attribute {name!r}")
