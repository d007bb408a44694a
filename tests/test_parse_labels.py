"""Label sets, the CCP -> 13-class map, the pose-based skin/shoe split, and the metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bodylens.parse.evaluate import Confusion, load_scoring_map
from bodylens.parse.labels import (
    ATR18,
    ATR18_INDEX,
    ATR18_TO_EVAL13,
    CCP_NAMES,
    EVAL13,
    EVAL13_INDEX,
    IGNORE,
    ccp_to_eval13,
    load_eval_map,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CCP = SHARED / "data" / "ccp"
needs_ccp = pytest.mark.skipif(not CCP.is_dir(), reason=f"CCP data not found at {CCP}")

ISSUE_ORDER = (
    "Background, Hat, Hair, Sunglasses, Upper-clothes, Skirt, Pants, Dress, Belt, Left-shoe, "
    "Right-shoe, Face, Left-leg, Right-leg, Left-arm, Right-arm, Bag, Scarf"
)


def test_atr18_order_is_the_segformer_clothes_order():
    assert ISSUE_ORDER.split(", ") == ATR18
    assert len(EVAL13) == 13 and EVAL13[10] == "Skin" and EVAL13[9] == "Shoes"


@needs_ccp
def test_builtin_maps_match_the_shipped_eval_map():
    data = load_eval_map(CCP / "eval_label_map.json")
    assert data["atr18_classes"] == ATR18
    assert [data["atr18_to_eval_index"][c] for c in ATR18] == ATR18_TO_EVAL13.tolist()
    assert json.loads((CCP / "label_names.json").read_text()) == CCP_NAMES
    table = ccp_to_eval13(data, CCP_NAMES)
    idx = {n: i for i, n in enumerate(CCP_NAMES)}
    assert table[idx["jeans"]] == EVAL13_INDEX["Pants"]
    assert table[idx["skin"]] == EVAL13_INDEX["Skin"]
    assert table[idx["sneakers"]] == EVAL13_INDEX["Shoes"]
    assert table[idx["purse"]] == EVAL13_INDEX["Bag"]
    assert table[idx["socks"]] == IGNORE
    assert table[idx["null"]] == EVAL13_INDEX["Background"]


@needs_ccp
def test_scoring_map_reads_the_ccp_file():
    sm = load_scoring_map(CCP / "eval_label_map.json")
    assert sm.classes == EVAL13
    pred = sm.pred_table(ATR18)
    assert pred[ATR18_INDEX["Left-arm"]] == pred[ATR18_INDEX["Face"]] == EVAL13_INDEX["Skin"]
    assert pred[ATR18_INDEX["Right-shoe"]] == EVAL13_INDEX["Shoes"]


def test_confusion_perfect_prediction_scores_one():
    truth = np.array([[0, 1, 2], [2, 2, IGNORE]])
    conf = Confusion(["a", "b", "c"])
    conf.update(truth.clip(max=2), truth)
    assert conf.miou() == 1.0 and conf.pixel_accuracy() == 1.0
    assert np.allclose(conf.f1(), 1.0)


def test_confusion_known_case_by_hand():
    truth = np.array([0, 0, 1, 1, IGNORE])
    pred = np.array([0, 1, 1, 1, 0])
    conf = Confusion(["a", "b"])
    conf.update(pred, truth)
    # class a: tp 1, fp 0, fn 1 -> IoU 1/2, F1 2/3; class b: tp 2, fp 1, fn 0 -> IoU 2/3, F1 4/5
    assert np.allclose(conf.iou(), [1 / 2, 2 / 3])
    assert np.allclose(conf.f1(), [2 / 3, 4 / 5])
    assert conf.pixel_accuracy() == pytest.approx(0.75)
    assert conf.matrix.tolist() == [[1, 1], [0, 2]]
    assert np.isnan(Confusion(["a", "b", "c"]).iou()).all()


@needs_ccp
def test_skin_and_shoes_split_by_pose_on_a_real_photo():
    from PIL import Image

    from bodylens.detect.pose import detect_pose
    from bodylens.io.images import read_image_file
    from bodylens.parse.data import ccp_table
    from bodylens.parse.geometry import split_eval13_to_atr18

    rgb = read_image_file(CCP / "images" / "0002.jpg")
    with Image.open(CCP / "labels" / "0002.png") as im:
        truth13 = ccp_table(CCP)[np.asarray(im)]
    pose = detect_pose(rgb)
    assert pose is not None
    atr = split_eval13_to_atr18(np.where(truth13 == IGNORE, 0, truth13), pose.keypoints)
    skin = truth13 == EVAL13_INDEX["Skin"]
    # Every skin pixel becomes Face or a limb, every shoe pixel a side; nothing else moves.
    limbs = [ATR18_INDEX[n] for n in ("Face", "Left-arm", "Right-arm", "Left-leg", "Right-leg")]
    assert np.isin(atr[skin], limbs).all()
    shoes = truth13 == EVAL13_INDEX["Shoes"]
    assert np.isin(atr[shoes], [ATR18_INDEX["Left-shoe"], ATR18_INDEX["Right-shoe"]]).all()
    assert (ATR18_TO_EVAL13[atr] == np.where(truth13 == IGNORE, 0, truth13)).all()
    # The face is around the nose, and the person's left wrist is on their Left-arm.
    x, y = pose.point("nose").astype(int)
    face = atr[max(0, y - 15) : y + 15, max(0, x - 15) : x + 15]
    assert (face == ATR18_INDEX["Face"]).sum() > 0.5 * (face != 0).sum() > 0
    for side in ("left", "right"):
        x, y = pose.point(f"{side}_wrist").astype(int)
        patch = atr[max(0, y - 25) : y + 25, max(0, x - 25) : x + 25]
        own, other = (
            ATR18_INDEX[f"{side.title()}-arm"],
            ATR18_INDEX[f"{'Right' if side == 'left' else 'Left'}-arm"],
        )
        assert (patch == own).sum() >= (patch == other).sum()
