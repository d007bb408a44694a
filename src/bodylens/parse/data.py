"""CCP training data: read, map to the 13-class set, run MediaPipe pose once and cache it.

Pose and person masks cost ~0.1 s a photo, so the trainer computes them once into
``~/.cache/bodylens/ccp_prep/`` (never into the repository) and reuses them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bodylens.parse.labels import ccp_to_eval13, load_eval_map

log = logging.getLogger(__name__)

# Network input size (width, height): CCP photos are ~550x830, i.e. 2:3 portrait.
INPUT_SIZE = (256, 384)
CACHE_DIR = Path.home() / ".cache" / "bodylens" / "ccp_prep"


def default_ccp_dir() -> Path:
    return Path(__file__).resolve().parents[3].parent / "shared" / "data" / "ccp"


def validation_ids(ids: list[str]) -> list[str]:
    """The held-out split: every 8th photo in sorted id order (113 of 904)."""
    return sorted(ids)[::8]


@dataclass
class Prepared:
    """Arrays at the network input size for every photo, in ``ids`` order."""

    ids: list[str]
    rgb: np.ndarray  # (N, H, W, 3) uint8
    person: np.ndarray  # (N, H, W) uint8 0..255, MediaPipe person probability
    label: np.ndarray  # (N, H, W) uint8, 13-class, 255 = ignore
    keypoints: np.ndarray  # (N, 33, 2) float32, pixels at the input size
    visibility: np.ndarray  # (N, 33) float32, 0 where no pose was found


def list_ids(ccp_dir: Path) -> list[str]:
    ids = sorted(p.stem for p in (ccp_dir / "images").glob("*.jpg"))
    return [i for i in ids if (ccp_dir / "labels" / f"{i}.png").is_file()]


def read_label13(ccp_dir: Path, image_id: str, table: np.ndarray) -> np.ndarray:
    from PIL import Image

    with Image.open(ccp_dir / "labels" / f"{image_id}.png") as im:
        return table[np.asarray(im)]


def ccp_table(ccp_dir: Path) -> np.ndarray:
    names = json.loads((ccp_dir / "label_names.json").read_text())
    return ccp_to_eval13(load_eval_map(ccp_dir / "eval_label_map.json"), names)


def prepare(ccp_dir: Path, cache_dir: Path = CACHE_DIR, progress: bool = True) -> Prepared:
    """Load (or build) the cached arrays for all CCP photos."""
    import cv2

    from bodylens.detect.pose import detect_pose
    from bodylens.io.images import read_image_file

    ids = list_ids(ccp_dir)
    key = hashlib.sha1(("\n".join(ids) + repr(INPUT_SIZE)).encode()).hexdigest()[:12]
    path = cache_dir / f"ccp_{key}.npz"
    if path.is_file():
        z = np.load(path)
        return Prepared(ids, z["rgb"], z["person"], z["label"], z["keypoints"], z["visibility"])
    table = ccp_table(ccp_dir)
    w, h = INPUT_SIZE
    n = len(ids)
    rgb = np.zeros((n, h, w, 3), np.uint8)
    person = np.zeros((n, h, w), np.uint8)
    label = np.zeros((n, h, w), np.uint8)
    kps = np.zeros((n, 33, 2), np.float32)
    vis = np.zeros((n, 33), np.float32)
    it = ids
    if progress:
        from tqdm import tqdm

        it = tqdm(ids, desc="pose on CCP", unit="img")
    for i, image_id in enumerate(it):
        img = read_image_file(ccp_dir / "images" / f"{image_id}.jpg")
        ih, iw = img.shape[:2]
        rgb[i] = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        lab = read_label13(ccp_dir, image_id, table)
        label[i] = cv2.resize(lab, (w, h), interpolation=cv2.INTER_NEAREST)
        pose = detect_pose(img)
        if pose is None:
            continue
        kps[i] = pose.keypoints * np.array([w / iw, h / ih], np.float32)
        vis[i] = pose.visibility
        if pose.mask is not None:
            m = cv2.resize(pose.mask, (w, h), interpolation=cv2.INTER_LINEAR)
            person[i] = np.clip(m * 255 + 0.5, 0, 255).astype(np.uint8)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, rgb=rgb, person=person, label=label, keypoints=kps, visibility=vis)
    tmp.rename(path)
    log.info("cached CCP arrays in %s", path)
    return Prepared(ids, rgb, person, label, kps, vis)
