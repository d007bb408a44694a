"""A second process for body fits that do not depend on the one this process is running.

Why: with a side photo, ``measure`` fits the front photo alone, and, apart from it, a shorter
front fit followed by the two-view fit (``views.fit_two_views``); and a fit whose limbs stick
is followed by a refit that reads only that verdict (``fit.stuck_limb_refit``). A fit is
thousands of small torch ops driven from Python: two fits in two threads of one process take
turns at the GIL and finished no sooner than one after the other on two cores, while two
processes run them side by side. The arithmetic is the same in either process (and at one or
two torch threads), so the measurements are too.

For a long-running process (the service, ``Settings.fit_worker``): the worker holds a second
copy of the body model (~0.8 GB) and takes a few seconds to start, so it is started in the
background by the first request that has a fit for it and used once it is ready; until then,
while it is busy with another request's fit, or if it has died, the fit runs here as before.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

_worker: FitWorker | None = None
_guard = threading.Lock()


def _start_in_child() -> None:
    """Process initialiser: one torch thread (the parent fits on the other core), the model
    built once from the warm cache, and a watch that ends this process with its parent."""
    import torch

    threading.Thread(target=_exit_with_parent, daemon=True).start()

    from bodylens.body import fit
    from bodylens.body.model import get_body_model

    fit.FIT_MAX_THREADS = 1
    torch.set_num_threads(1)
    get_body_model()


def _exit_with_parent() -> None:
    """A parent killed outright (SIGKILL, the OOM killer) leaves the executor's queue open in
    this process, which would then wait on it forever, holding its copy of the model."""
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is not None:
        wait([parent.sentinel])
        os._exit(0)


def _ready() -> bool:
    return True


def _run_in_child(task, args: tuple, kwargs: dict):
    """``task(model, *args, **kwargs)`` on the shared model; returns its result and the CPU
    seconds it took."""
    from bodylens.body.model import get_body_model

    cpu = time.process_time()
    result = task(get_body_model(), *args, **kwargs)
    return result, time.process_time() - cpu


class FitWorker:
    """One spawned process that runs fits (functions of the body model), one at a time."""

    def __init__(self) -> None:
        # spawn, not fork: this process already runs torch's and MediaPipe's thread pools,
        # which a forked child would inherit in an unusable state.
        context = multiprocessing.get_context("spawn")
        self._pool = cf.ProcessPoolExecutor(1, mp_context=context, initializer=_start_in_child)
        self._busy = threading.Lock()
        self.broken = False  # the process died: ``get_worker`` starts another
        self.failed_start = False  # it never started: not retried (it would fail again)
        self._started = self._pool.submit(_ready)
        self._started.add_done_callback(self._check_start)

    def ready(self) -> bool:
        """Whether the process has started and built its model (never blocks)."""
        return self._started.done() and self._started.exception() is None

    def submit(self, task: Callable, *args, **kwargs) -> cf.Future | None:
        """Start ``task(model, *args, **kwargs)`` in the worker (``task``: a module-level
        function, sent by name); its future gives (result, CPU seconds). None when the worker
        is not ready or already fitting: the caller fits here instead."""
        if not self.ready() or not self._busy.acquire(blocking=False):
            return None
        try:
            future = self._pool.submit(_run_in_child, task, args, kwargs)
        except (RuntimeError, cf.BrokenExecutor):  # shut down or died: fit here
            self.broken = True
            self._busy.release()
            return None
        future.add_done_callback(self._done)
        return future

    def _check_start(self, future: cf.Future) -> None:
        if future.exception() is not None:
            log.warning("fit worker failed to start: %s", type(future.exception()).__name__)
            self.failed_start = True

    def _done(self, future: cf.Future) -> None:
        if isinstance(future.exception(), cf.BrokenExecutor):
            self.broken = True
        self._busy.release()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def get_worker(start: bool = True) -> FitWorker | None:
    """The shared worker, started on first call (in the background) when ``start``."""
    global _worker
    with _guard:
        if _worker is not None and _worker.broken:
            log.warning("fit worker died; starting another")
            _worker.close()
            _worker = None
        if _worker is None and start:
            _worker = FitWorker()
        return _worker


def wait_ready(timeout_s: float) -> bool:
    """Block until the shared worker (started if need be) is ready, up to ``timeout_s``
    (benchmarks and tests; requests never wait for it)."""
    worker = get_worker()
    deadline = time.monotonic() + timeout_s
    while not worker.ready() and not worker.failed_start and time.monotonic() < deadline:
        time.sleep(0.05)
    return worker.ready()


def shutdown() -> None:
    """Stop the worker (tests, and a service shutting down)."""
    global _worker
    with _guard:
        if _worker is not None:
            _worker.close()
        _worker = None
