"""The shipped parser on real CCP photos: sane masks, the public API and the HF mask format."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import bodylens
from bodylens.parse.labels import ATR18, ATR18_TO_EVAL13, EVAL13_INDEX, IGNORE

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CCP = SHARED / "data" / "ccp"
pytestmark = pytest.mark.skipif(not CCP.is_dir(), reason=f"CCP data not found at {CCP}")
# Held-out validation photos (every 8th id): never seen in training.
VAL_IDS = ["0002", "0011", "0020"]


def decode_base64_mask(base64_string: str) -> np.ndarray:
    """What the analysts' notebook does with each mask of the HF answer."""
    mask_data = base64.b64decode(base64_string)
    mask_image = Image.open(io.BytesIO(mask_data))
    return np.array(mask_image)


@pytest.fixture(scope="module")
def truth13():
    from bodylens.parse.data import ccp_table

    table = ccp_table(CCP)
    out = {}
    for i in VAL_IDS:
        with Image.open(CCP / "labels" / f"{i}.png") as im:
            out[i] = table[np.asarray(im)]
    return out


def test_validation_ids_are_held_out():
    import torch

    from bodylens.parse.api import WEIGHTS
    from bodylens.parse.data import list_ids, validation_ids

    meta = torch.load(WEIGHTS, map_location="cpu", weights_only=True)["meta"]
    val = validation_ids(list_ids(CCP))
    assert meta["val_ids"] == val and len(val) == 113
    assert set(VAL_IDS) <= set(val)


def test_parser_on_real_photos_matches_the_labels(truth13):
    for image_id in VAL_IDS:
        result = bodylens.segment(CCP / "images" / f"{image_id}.jpg")
        truth = truth13[image_id]
        assert result.labels.shape == truth.shape and result.labels.dtype == np.uint8
        assert result.classes == ATR18 and result.pose_found
        pred13 = ATR18_TO_EVAL13[result.labels]
        keep = truth != IGNORE
        acc = (pred13[keep] == truth[keep]).mean()
        assert acc > 0.85, f"{image_id}: pixel accuracy {acc:.3f}"
        # The person is found where the labels put them (IoU of person vs background).
        person_p, person_t = pred13 > 0, truth > 0
        iou = (person_p & person_t & keep).sum() / ((person_p | person_t) & keep).sum()
        assert iou > 0.8, f"{image_id}: person IoU {iou:.3f}"
        present = result.present()
        assert "Face" in present and "Hair" in present and "Background" in present


def test_masks_partition_the_image_and_helpers_agree():
    result = bodylens.segment((CCP / "images" / "0011.jpg").read_bytes())
    masks = result.masks()
    stacked = np.stack(list(masks.values()))
    assert (stacked.sum(0) == 1).all()
    assert set(masks) == set(result.present())
    frac = result.fractions()
    assert sum(frac.values()) == pytest.approx(1.0, abs=1e-3)
    coarse = result.coarse()
    assert set(np.unique(coarse)) <= {0, 1, 2}
    assert (coarse == 2).sum() == (ATR18_TO_EVAL13[result.labels] == EVAL13_INDEX["Skin"]).sum()
    rgb = np.asarray(Image.open(CCP / "images" / "0011.jpg").convert("RGB"))
    over = result.overlay(rgb)
    assert over.shape[0] == rgb.shape[0] and over.shape[1] > rgb.shape[1]


def test_hf_format_decodes_like_the_notebook():
    rgb = np.asarray(Image.open(CCP / "images" / "0020.jpg").convert("RGB"))
    result = bodylens.segment(rgb)
    answer = result.to_hf()
    labels = [a["label"] for a in answer]
    assert labels == result.present() and len(set(labels)) == len(labels)
    total = np.zeros(rgb.shape[:2], np.int32)
    for item in answer:
        assert set(item) == {"score", "label", "mask"}
        assert item["score"] is None or 0.0 <= item["score"] <= 1.0
        mask = decode_base64_mask(item["mask"])
        assert mask.shape == rgb.shape[:2] and mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 255}
        assert (mask[result.mask(item["label"])] == 255).all()
        total += mask > 0
    assert (total == 1).all()


def test_no_person_still_answers():
    # A flat grey image: MediaPipe finds nobody; the parser must still answer sensibly.
    rgb = np.full((300, 200, 3), 128, np.uint8)
    result = bodylens.segment(rgb)
    assert result.labels.shape == (300, 200)
    assert result.pose_found is False
    # Mostly background, and the model is less sure of anything else it sees there.
    assert (result.labels == 0).mean() > 0.8
    others = [v for k, v in result.scores.items() if k != "Background"]
    assert all(v < result.scores["Background"] for v in others)


def test_a_person_pose_misses_is_still_parsed():
    """Without a pose, labels are kept where the selfie segmenter sees a person: a held-out
    photo parsed with no pose finds about the same person and mostly the same labels."""
    from bodylens.io.images import read_image_file
    from bodylens.parse.api import get_backend

    rgb = read_image_file(CCP / "images" / "0011.jpg")
    parser = get_backend("parser")
    with_pose, without = parser(rgb), parser(rgb, pose=None)
    assert without.pose_found is False
    person_with, person_without = with_pose.labels > 0, without.labels > 0
    iou = (person_with & person_without).sum() / (person_with | person_without).sum()
    assert iou > 0.85, f"person IoU with vs without pose {iou:.3f}"
    assert (with_pose.labels == without.labels).mean() > 0.9


def test_bad_input_is_a_clear_error():
    from bodylens.errors import InputError, UnsupportedMedia

    with pytest.raises(UnsupportedMedia):
        bodylens.segment(b"not an image at all")
    with pytest.raises(InputError):
        bodylens.segment(np.zeros((4, 4, 7), np.uint8))
