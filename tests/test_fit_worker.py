"""The fit worker process (``bodylens.body.worker``) does not outlive its parent.

Its numbers are checked against fitting in turn in tests/test_accuracy_views.py, and through
the live service in tests/test_serve_estimate.py."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

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
