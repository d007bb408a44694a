"""`bodylens segment` on a folder with a corrupt file, and `bodylens eval segment`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bodylens.cli import main

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CCP = SHARED / "data" / "ccp"
pytestmark = pytest.mark.skipif(not CCP.is_dir(), reason=f"CCP data not found at {CCP}")


def test_batch_goes_on_past_a_corrupt_file(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    for i in ("0002", "0029"):
        shutil.copy(CCP / "images" / f"{i}.jpg", src / f"{i}.jpg")
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (src / "notes.txt").write_text("not an image, not listed")
    out = tmp_path / "out"
    code = main(["segment", str(src), "--out", str(out), "--overlay", "--workers", "2"])
    assert code == 1  # one failure -> non-zero, but the others were written
    captured = capsys.readouterr()
    assert "broken.jpg" in captured.err
    assert "segmented 2 of 3 images, 1 failed" in captured.out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["done"] == 2 and summary["failed"] == 1
    assert summary["errors"][0]["file"].endswith("broken.jpg")
    assert "could not be decoded" in summary["errors"][0]["error"]
    assert summary["images_per_second"] > 0
    for i in ("0002", "0029"):
        labels = np.asarray(Image.open(out / f"{i}_labels.png"))
        with Image.open(CCP / "images" / f"{i}.jpg") as im:
            assert labels.shape == (im.height, im.width)
        assert labels.max() < len(summary["classes"]) and (labels > 0).mean() > 0.1
        assert (out / f"{i}_overlay.png").is_file()
    assert not (out / "broken_labels.png").exists()


def test_single_file_and_missing_path(tmp_path, capsys):
    out = tmp_path / "one"
    assert main(["segment", str(CCP / "images" / "0011.jpg"), "--out", str(out),
                 "--no-progress"]) == 0  # fmt: skip
    assert (out / "0011_labels.png").is_file()
    assert main(["segment", str(tmp_path / "nope"), "--out", str(out)]) == 1
    assert "no such file or folder" in capsys.readouterr().err


def test_eval_segment_on_three_validation_photos(tmp_path, capsys):
    ids = tmp_path / "ids.txt"
    ids.write_text("0002\n0011\n0020\n")
    report = tmp_path / "report.json"
    code = main(["eval", "segment", "--images", str(CCP / "images"), "--labels",
                 str(CCP / "labels"), "--label-map", str(CCP / "eval_label_map.json"),
                 "--ids", str(ids), "--json", str(report)])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "mIoU" in out and "clothes/skin/background" in out
    data = json.loads(report.read_text())
    assert data["images"] == 3
    assert data["pixel_accuracy"] > 0.85
    assert data["coarse3"]["miou"] > 0.7
    conf = np.array(data["confusion"])
    assert conf.shape == (13, 13) and conf.sum() > 3 * 400_000
