"""Construct Anny models quietly.

Anny skins with NVIDIA Warp, which prints an initialisation banner and module-load lines to
stdout on first use; that would corrupt `--json` output of the CLI, so every Anny instance is
built through `new_anny`, which lowers Warp's log level to warnings first.
"""

from __future__ import annotations

from typing import Any


def new_anny(**kwargs: Any):
    import warp

    warp.config.log_level = warp.LOG_WARNING
    import anny

    return anny.Anny(**kwargs)
