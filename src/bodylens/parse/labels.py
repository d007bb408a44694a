"""Label sets of the clothing parser and the maps between them.

The parser answers in the 18 SegFormer-clothes/ATR classes (what users' notebooks decode). It is
trained on CCP (59 labels, one ``skin`` label, no left/right), so the network predicts the
13-class CCP scoring set and the 18-class map is recovered with body geometry (see
``parse.geometry``). The 13-class set is the one ``eval_label_map.json`` defines for scoring.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

ATR18 = [
    "Background", "Hat", "Hair", "Sunglasses", "Upper-clothes", "Skirt", "Pants", "Dress",
    "Belt", "Left-shoe", "Right-shoe", "Face", "Left-leg", "Right-leg", "Left-arm",
    "Right-arm", "Bag", "Scarf",
]  # fmt: skip
ATR18_INDEX = {name: i for i, name in enumerate(ATR18)}

EVAL13 = [
    "Background", "Hat", "Hair", "Sunglasses", "Upper-clothes", "Skirt", "Pants", "Dress",
    "Belt", "Shoes", "Skin", "Bag", "Scarf",
]  # fmt: skip
EVAL13_INDEX = {name: i for i, name in enumerate(EVAL13)}
IGNORE = 255

# The privacy team's view: background, bare skin, and "clothes" = every other person pixel
# (garments, accessories and hair), so the three classes cover every labelled pixel.
COARSE3 = ["Background", "Clothes", "Skin"]
EVAL13_TO_COARSE3 = np.array([0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1], dtype=np.uint8)

# 18 ATR classes -> 13 scoring classes (the shoes merge, face and limbs merge into Skin).
ATR18_TO_EVAL13 = np.array(
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 10, 10, 10, 10, 10, 11, 12], dtype=np.uint8
)

# Colours for overlays and legends (RGB), one per ATR class; background is never drawn.
ATR18_COLORS = np.array(
    [
        [0, 0, 0], [128, 0, 0], [255, 140, 0], [255, 255, 0], [220, 20, 60], [199, 21, 133],
        [65, 105, 225], [148, 0, 211], [139, 69, 19], [0, 128, 128], [0, 200, 200],
        [255, 200, 150], [60, 179, 113], [154, 205, 50], [255, 105, 180], [255, 182, 193],
        [112, 128, 144], [0, 191, 255],
    ],
    dtype=np.uint8,
)  # fmt: skip

_DEFAULT_MAP = Path(__file__).resolve().parents[3].parent / "shared/data/ccp/eval_label_map.json"


def load_eval_map(path: str | Path) -> dict:
    """Read an ``eval_label_map.json`` and check it matches the built-in label sets."""
    data = json.loads(Path(path).read_text())
    if list(data.get("eval_classes", [])) != EVAL13:
        raise ValueError(f"{path}: eval_classes differ from the built-in 13-class set")
    if "atr18_classes" in data and list(data["atr18_classes"]) != ATR18:
        raise ValueError(f"{path}: atr18_classes differ from the built-in 18-class set")
    return data


def ccp_to_eval13(eval_map: dict, ccp_names: list[str]) -> np.ndarray:
    """A 256-entry lookup table: CCP label index -> 13-class index (255 = ignore)."""
    table = np.full(256, IGNORE, dtype=np.uint8)
    mapping = eval_map["ccp_label_to_eval_index"]
    for i, name in enumerate(ccp_names):
        if name not in mapping:
            raise ValueError(f"CCP label {name!r} has no entry in the evaluation map")
        table[i] = mapping[name]
    return table


# CCP has no separate left/right or face/limb classes: its 59 labels map onto the 13-class set
# exactly as the scoring map says. This table (built from the map shipped with the data, and
# frozen here so the package works without the data folder) is what the trainer uses.
CCP_NAMES = [
    "null", "accessories", "bag", "belt", "blazer", "blouse", "bodysuit", "boots", "bra",
    "bracelet", "cape", "cardigan", "clogs", "coat", "dress", "earrings", "flats", "glasses",
    "gloves", "hair", "hat", "heels", "hoodie", "intimate", "jacket", "jeans", "jumper",
    "leggings", "loafers", "necklace", "panties", "pants", "pumps", "purse", "ring", "romper",
    "sandals", "scarf", "shirt", "shoes", "shorts", "skin", "skirt", "sneakers", "socks",
    "stockings", "suit", "sunglasses", "sweater", "sweatshirt", "swimwear", "t-shirt", "tie",
    "tights", "top", "vest", "wallet", "watch", "wedges",
]  # fmt: skip
