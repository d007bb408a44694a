"""The `bodylens` command as a user runs it: a fresh process, JSON on stdout and nothing else."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import DATA, REPO


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bodylens", *args],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip


def test_help_lists_every_command():
    out = _run("--help")
    assert out.returncode == 0
    for command in ("measure", "segment", "hands", "video-pose", "matte", "compare", "serve"):
        assert command in out.stdout


@pytest.mark.slow
def test_measure_json_stdout_is_pure_json():
    # Libraries underneath (Warp, MediaPipe) like to print banners; stdout must stay parseable.
    out = _run("measure", str(DATA / "ccp_0008.jpg"), "--height-cm", "180",
               "--measures", "waist,tour_poitrine", "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    body = json.loads(out.stdout)
    values = body.get("measurements", body)
    assert list(values) == ["waist", "tour_poitrine"]


def test_bad_input_exits_1_with_a_message(tmp_path):
    bad = tmp_path / "not-a-photo.jpg"
    bad.write_bytes(b"hello")
    out = _run("measure", str(bad), "--height-cm", "180")
    assert out.returncode == 1
    assert "error:" in out.stderr and "JPEG" in out.stderr
