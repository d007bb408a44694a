"""Import MediaPipe once, without the deprecation noise its protobuf use prints on every run."""

from __future__ import annotations

import os
import warnings
from types import ModuleType


def mediapipe() -> ModuleType:
    # TFLite/absl read these at load time; they only lower C++ log chatter, never errors.
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="google.protobuf")
        import mediapipe as mp
    # The protobuf warning fires lazily on first use, so filter it for the process too.
    warnings.filterwarnings(
        "ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated", category=UserWarning
    )
    return mp
