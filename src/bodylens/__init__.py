"""bodylens: body measurements, clothing masks, keypoints and pose scores from photos and
videos, offline on CPU.

The capabilities are plain functions; the CLI and HTTP service only translate to them.
Heavy modules (torch, mediapipe) are imported on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
