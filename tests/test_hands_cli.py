"""`bodylens hands`: the PaddleHub-style command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from bodylens.cli import main

ROOT = Path(__file__).resolve().parents[1]
HANDS = ROOT.parent / "shared" / "data" / "hands"
pytestmark = pytest.mark.skipif(
    not HANDS.is_dir(), reason=f"shared hand photos not found at {HANDS}"
)
PANOPTIC = HANDS / "mmpose_panoptic_005880453.jpg"


def test_cli_subprocess_prints_all_hand_peaks_and_writes_nothing(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "bodylens", "hands", "--input_path", str(PANOPTIC)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.strip().splitlines()[0]
    peaks = json.loads(first)["all_hand_peaks"]
    assert len(peaks) == 2 and all(len(p) == 21 and len(p[0]) == 2 for p in peaks)
    assert "left hand" in proc.stderr and "right hand" in proc.stderr
    assert list(tmp_path.iterdir()) == [], "nothing may be written without --save_path"


def test_cli_json_and_save_path(tmp_path, capsys):
    out_dir = tmp_path / "drawn"
    code = main(["hands", "--input_path", str(PANOPTIC), "--save_path", str(out_dir), "--json"])
    assert code == 0
    body = json.loads(capsys.readouterr().out)
    assert [h["side"] for h in body["hands"]] == ["left", "right"]
    first = body["hands"][0]
    assert len(first["keypoints"]) == 21 and len(first["world"][0]) == 3
    assert len(first["confidence"]) == 21
    assert body["all_hand_peaks"][0] == first["openpose"]
    saved = Path(body["saved"])
    assert saved.parent == out_dir and saved.suffix == ".png"
    drawn = cv2.imread(str(saved))
    assert drawn.shape == cv2.imread(str(PANOPTIC)).shape


def test_cli_no_visualization_saves_nothing(tmp_path, capsys):
    out_dir = tmp_path / "drawn"
    code = main(
        ["hands", "--input_path", str(PANOPTIC), "--save_path", str(out_dir), "--no-visualization"]
    )
    assert code == 0
    assert len(json.loads(capsys.readouterr().out.splitlines()[0])["all_hand_peaks"]) == 2
    assert not out_dir.exists()


def test_cli_image_without_hands(tmp_path, capsys):
    photo = tmp_path / "empty_stage.png"
    bgr = cv2.imread(str(PANOPTIC))
    cv2.imwrite(str(photo), np.ascontiguousarray(bgr[400:, :500]))  # floor and chair legs
    assert main(["hands", "--input_path", str(photo)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out.splitlines()[0]) == {"all_hand_peaks": []}
    assert "no hands found" in captured.err


def test_cli_bad_input_exits_1_with_a_message(tmp_path, capsys):
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a picture")
    assert main(["hands", "--input_path", str(text)]) == 1
    assert "not a JPEG, PNG or WebP" in capsys.readouterr().err
    assert main(["hands", "--input_path", str(tmp_path / "missing.jpg")]) == 1
    assert "no such image file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["hands", "--input_path", str(PANOPTIC), "--scale", "big"])
