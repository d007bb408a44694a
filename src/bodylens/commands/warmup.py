"""`bodylens warmup`: build the one-off model caches now rather than on the first request.

The Anny body model builds a ~1 GB cache on its first instantiation (about 100 s); CI, Docker
images and service start-up call this once so no user request pays for it.
"""

from __future__ import annotations

import argparse
import time


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("warmup", help="build model caches (Anny) and load every model once")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from bodylens import registry
    from bodylens.serve.app import preload_names

    console = Console(stderr=True)
    for name in preload_names():
        started = time.perf_counter()
        with console.status(f"loading {name} (first run builds caches, can take minutes)"):
            registry.get(name)
        console.print(f"[green]ok[/] {name} in {time.perf_counter() - started:.1f}s")
    return 0
