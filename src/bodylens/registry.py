"""One place that builds each model once and hands out the same instance afterwards.

Front ends never construct models themselves: they call ``registry.get(name)``. Loading is lazy,
thread-safe, and ``preload`` lets the server pay the cost at start-up instead of on a request.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

# Which module registers each model, so `get` works without the caller importing it first.
PROVIDERS = {
    "pose": "bodylens.detect.pose",
    "person_mask": "bodylens.detect.pose",
    "hands": "bodylens.detect.hands",
    "anny": "bodylens.body.model",
    "anny-video": "bodylens.video.mesh",
    "parser": "bodylens.parse.api",
}

_factories: dict[str, Callable[[], Any]] = {}
_instances: dict[str, Any] = {}
_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def register(name: str) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """Decorator: register a zero-argument factory under ``name``."""

    def wrap(factory: Callable[[], Any]) -> Callable[[], Any]:
        with _guard:
            _factories[name] = factory
            _locks.setdefault(name, threading.Lock())
        return factory

    return wrap


def get(name: str) -> Any:
    """The shared instance of model ``name``, built on first use."""
    if name in _instances:
        return _instances[name]
    if name not in _factories and name in PROVIDERS:
        importlib.import_module(PROVIDERS[name])
    if name not in _factories:
        raise KeyError(f"no model registered as {name!r}; known: {sorted(_factories)}")
    with _locks[name]:
        if name not in _instances:
            _instances[name] = _factories[name]()
    return _instances[name]


def loaded() -> list[str]:
    return sorted(_instances)


def preload(names: list[str]) -> None:
    for name in names:
        get(name)


def reset(name: str | None = None) -> None:
    """Forget instances (tests only)."""
    with _guard:
        if name is None:
            _instances.clear()
        else:
            _instances.pop(name, None)
