"""The fit worker process (``bodylens.body.worker``): a one-photo fit's stuck-limb refit run
there gives the numbers of fitting in turn, and the worker does not outlive its parent.

The two-view fit run there is checked in tests/test_accuracy_views.py, and through the live
service in tests/test_serve_estimate.py."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from tests.conftest import DATA


def test_a_stuck_limb_refit_from_the_worker_gives_the_same_numbers(monkeypatch):
    """CCP 0004 (a hand in a pocket) leaves a limb stuck after its first fit, so the refit
    that the service started in the worker beside it is used: the very answer of fitting both
    in turn."""
    from bodylens.body import api, worker
    from bodylens.body.api import measure

    photo = DATA / "ccp_0004.jpg"
    here = measure(photo, height_cm=170)
    assert "fit_retry" in here.timings  # the photo needs the refit
    monkeypatch.setattr(api, "FIT_WORKER", True)
    try:
        assert worker.wait_ready(timeout_s=240)
        there = measure(photo, height_cm=170)
    finally:
        worker.shutdown()
    assert there.timings.get("worker_cpu", 0.0) > 0 and "worker_cpu" not in here.timings
    assert there.values == here.values and there.warnings == here.warnings
    assert there.body["fit"] == here.body["fit"]


PARENT = """
from bodylens.body import worker

if __name__ == "__main__":
    assert worker.wait_ready(timeout_s=240)
    print(*worker.get_worker()._pool._processes, flush=True)
    input()
"""


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting for whoever adopted it to reap it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_killed_parent_takes_its_worker_with_it():
    """A server killed outright (SIGKILL, the OOM killer) must not leave its worker, and the
    0.8 GB body model it holds, running."""
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert pids and all(_running(p) for p in pids)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 30
    while any(_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_running(p) for p in pids)
