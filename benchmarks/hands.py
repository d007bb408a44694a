"""Hand keypoints: PCK@0.2 on the annotated hands in ../shared/data/hands and latency.

    PYTHONPATH=src python benchmarks/hands.py [--repeat 10] [--out docs/benchmarks/hands.md]

Accuracy: every annotated hand of OneHand10K, CMU Panoptic, FreiHAND (COCO-style JSONs) and
InterHand2.6M (3D joints projected with the camera JSON) is compared with the hands that
``find_hands`` returns for the whole photo (no ground-truth box is given to the detector). A GT
hand is matched to the unused prediction with the smallest mean error; a point is correct when
it is within 0.2 x the hand size (longest side of the GT keypoint box). A missed hand or a
missing point counts as wrong. Both MediaPipe models (lite, full) are scored.

Latency: ``find_hands`` on the hand crops (OneHand10K, FreiHAND, InterHand images), and on
full-body 1920x1080 photos with the body-guided search (walking.mp4 frames upscaled from 720p,
and CCP street photos upscaled to 1080 px high and centred on a 1920 px wide canvas); median
and 90th percentile over ``--repeat`` runs per image, after one warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from bodylens.detect.hands import HandDetector, find_hands  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
HANDS = SHARED / "hands"
COCO_SETS = ["onehand10k", "panoptic", "freihand"]
NOTE_LATENCY = (
    "The slow hand crop is OneHand10K 33: the whole-image pass misses its small hand, so the "
    "body pose runs and the wrist crops find it. A 1080p photo costs one whole-image pass, "
    "then (when fewer than two hands are found) the pose on a 640 px copy and one crop per "
    "wrist until a hand is found. `predict(path)` adds decoding through bodylens.io.images "
    "(Pillow, EXIF, limits), which took several times cv2.imread's time on these JPEGs."
)
DEFAULT_MODEL = "lite"  # what bodylens uses (HandDetector's default model_complexity=0)
# InterHand2.6M joint order per hand: thumb tip..base, index tip..base, ..., little, wrist.
INTERHAND_TO_OPENPOSE = [20, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 19, 18, 17, 16]


@dataclass
class GTHand:
    dataset: str
    image: Path
    keypoints: np.ndarray  # (21, 2)
    valid: np.ndarray  # (21,) bool
    side: str | None = None  # the person's own left/right when the dataset says so

    @property
    def size(self) -> float:
        pts = self.keypoints[self.valid]
        return float(np.ptp(pts, axis=0).max())


def _image_for(dataset: str, file_name: str, image_id: int) -> Path | None:
    """Shared images are named mmpose_<set>_<id or file stem>.jpg."""
    by_id = HANDS / f"mmpose_{dataset}_{image_id}.jpg"
    if by_id.is_file():
        return by_id
    stem = Path(file_name).stem.replace(".flv", "")
    for suffix in ("_l", "_r"):
        stem = stem.removesuffix(suffix)
    candidates = sorted(HANDS.glob(f"mmpose_{dataset}_*.jpg"))
    stems = {p.stem.removeprefix(f"mmpose_{dataset}_"): p for p in candidates}
    if stem in stems:
        return stems[stem]
    prefixed = [s for s in stems if stem.startswith(s)]
    return stems[max(prefixed, key=len)] if prefixed else None


def load_coco(dataset: str) -> list[GTHand]:
    data = json.loads((HANDS / f"mmpose_{dataset}_test.json").read_text())
    images = {im["id"]: im for im in data["images"]}
    hands = []
    for ann in data["annotations"]:
        im = images[ann["image_id"]]
        path = _image_for(dataset, im["file_name"], im["id"])
        if path is None:
            continue  # the shared folder holds a subset of mmpose's test images
        kp = np.asarray(ann["keypoints"], dtype=np.float64).reshape(21, 3)
        side = None
        stem = Path(im["file_name"]).stem
        if dataset == "panoptic" and stem[-2:] in ("_l", "_r"):
            side = "left" if stem.endswith("_l") else "right"
        hands.append(GTHand(dataset, path, kp[:, :2], kp[:, 2] > 0, side))
    return hands


def load_interhand() -> list[GTHand]:
    data = json.loads((HANDS / "mmpose_interhand_data.json").read_text())
    cams = json.loads((HANDS / "mmpose_interhand_camera.json").read_text())
    joints = json.loads((HANDS / "mmpose_interhand_joint_3d.json").read_text())
    hands = []
    for im in data["images"]:
        path = HANDS / f"mmpose_interhand_{im['frame_idx']}.jpg"
        if not path.is_file():
            continue
        cap, cam, frame = str(im["capture"]), str(im["camera"]), str(im["frame_idx"])
        rec = joints[cap][frame]
        world = np.asarray(rec["world_coord"], dtype=np.float64)
        valid = np.asarray(rec["joint_valid"], dtype=bool).reshape(-1)
        rot = np.asarray(cams[cap]["camrot"][cam], dtype=np.float64)
        pos = np.asarray(cams[cap]["campos"][cam], dtype=np.float64)
        focal = np.asarray(cams[cap]["focal"][cam], dtype=np.float64)
        princ = np.asarray(cams[cap]["princpt"][cam], dtype=np.float64)
        cam_xyz = (rot @ (world - pos).T).T
        pix = cam_xyz[:, :2] / cam_xyz[:, 2:3] * focal + princ
        for side, offset in (("right", 0), ("left", 21)):
            idx = [offset + i for i in INTERHAND_TO_OPENPOSE]
            if valid[idx].sum() < 10:
                continue
            hands.append(GTHand("interhand", path, pix[idx], valid[idx], side))
    return hands


@dataclass
class Score:
    correct: int = 0
    total: int = 0
    hands: int = 0
    detected: int = 0
    side_right: int = 0
    side_known: int = 0
    errors: list[float] = field(default_factory=list)

    @property
    def pck(self) -> float:
        return self.correct / self.total if self.total else float("nan")


def evaluate(gts: list[GTHand], detector: HandDetector) -> dict[str, Score]:
    scores: dict[str, Score] = {}
    by_image: dict[Path, list[GTHand]] = {}
    for gt in gts:
        by_image.setdefault(gt.image, []).append(gt)
    for path, group in by_image.items():
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        preds = find_hands(rgb, detector=detector)
        pairs = []
        for gi, gt in enumerate(group):
            for pi, pred in enumerate(preds):
                err = np.linalg.norm(pred.keypoints - gt.keypoints, axis=1)[gt.valid].mean()
                pairs.append((float(err), gi, pi))
        matched: dict[int, int] = {}
        used: set[int] = set()
        for err, gi, pi in sorted(pairs):
            if gi not in matched and pi not in used and err < group[gi].size:
                matched[gi] = pi
                used.add(pi)
        for gi, gt in enumerate(group):
            keys = [gt.dataset, "all"] + (["issue sets"] if gt.dataset in COCO_SETS else [])
            for key in keys:
                s = scores.setdefault(key, Score())
                s.hands += 1
                s.total += int(gt.valid.sum())
                if gi not in matched:
                    continue
                pred = preds[matched[gi]]
                s.detected += 1
                dist = np.linalg.norm(pred.keypoints - gt.keypoints, axis=1)
                ok = (dist <= 0.2 * gt.size) & (pred.confidence > 0) & gt.valid
                s.correct += int(ok.sum())
                s.errors.append(float(dist[gt.valid].mean() / gt.size))
                if gt.side is not None:
                    s.side_known += 1
                    s.side_right += int(pred.side == gt.side)
    return scores


def _walking_frames(n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(SHARED / "video" / "walking.mp4"))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 100
    frames = []
    for k in range(n):
        cap.set(cv2.CAP_PROP_POS_FRAMES, int((k + 0.5) * total / n))
        ok, bgr = cap.read()
        if ok:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            frames.append(cv2.resize(rgb, (1920, 1080), interpolation=cv2.INTER_CUBIC))
    cap.release()
    return frames


def _ccp_photos(names: list[str]) -> list[np.ndarray]:
    out = []
    for name in names:
        bgr = cv2.imread(str(SHARED / "ccp" / "images" / name))
        if bgr is None:
            continue
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        scaled = cv2.resize(
            rgb, (round(rgb.shape[1] * 1080 / rgb.shape[0]), 1080), interpolation=cv2.INTER_CUBIC
        )
        canvas = cv2.copyMakeBorder(
            scaled, 0, 0, (1920 - scaled.shape[1]) // 2,
            1920 - scaled.shape[1] - (1920 - scaled.shape[1]) // 2, cv2.BORDER_REPLICATE,
        )  # fmt: skip
        out.append(canvas)
    return out


def time_images(images: list[np.ndarray], repeat: int, **kwargs) -> tuple[list[float], list[int]]:
    times, counts = [], []
    for rgb in images:
        counts.append(len(find_hands(rgb, **kwargs)))  # warm-up (and the hand count)
        for _ in range(repeat):
            t0 = time.perf_counter()
            find_hands(rgb, **kwargs)
            times.append(1e3 * (time.perf_counter() - t0))
    return times, counts


def _stats(times: list[float]) -> str:
    q = np.percentile(times, [50, 90])
    return f"{q[0]:.0f} ms median, {q[1]:.0f} ms p90 (n={len(times)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "hands.md"))
    args = parser.parse_args()
    if not HANDS.is_dir():
        print(f"no data at {HANDS}", file=sys.stderr)
        return 1

    gts = [h for ds in COCO_SETS for h in load_coco(ds)] + load_interhand()
    detectors = {"lite": HandDetector(model_complexity=0), "full": HandDetector(model_complexity=1)}
    lines = [
        "## Hand keypoints (issue 4)",
        "",
        f"Command: `PYTHONPATH=src python benchmarks/hands.py --repeat {args.repeat}`  ",
        f"Machine: {os.cpu_count()}-core CPU, no GPU ({platform.machine()}),"
        " **shared with other engineers' jobs while measured: timings are pessimistic**.  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        "### Accuracy: PCK@0.2 of the hand size (longest side of the GT keypoint box)",
        "",
        "Whole photos in, no GT boxes given; missed hands and missing points count as wrong.",
        "",
        "| model | set | hands | detected | PCK@0.2 | mean error / size | side correct |",
        "|---|---|---|---|---|---|---|",
    ]
    results = {}
    for name, det in detectors.items():
        scores = evaluate(gts, det)
        results[name] = scores
        for key in [*COCO_SETS, "issue sets", "interhand", "all"]:
            if key not in scores:
                continue
            s = scores[key]
            side = f"{s.side_right}/{s.side_known}" if s.side_known else "-"
            err = statistics.mean(s.errors) if s.errors else float("nan")
            row = (
                f"| {name} | {key} | {s.hands} | {s.detected} | {s.pck:.3f} | {err:.3f} | {side} |"
            )
            lines.append(row)
            print(row)

    lines += [
        "",
        "The shared folder holds 9 annotated hands of the issue's three sets (189 points) and 3 "
        "InterHand2.6M hands (2 images; 3D joints projected with the camera JSON), so one hard "
        "hand moves PCK by several points. MediaPipe's palm detector finds neither the grey "
        "thumbs-up of InterHand 2017 nor the second of the two pressed-together praying hands of "
        "InterHand 44669: both count as misses. FreiHAND's one hand loses its MCP joints (the "
        "dataset puts them deeper in the palm than MediaPipe). 'side correct' checks the "
        "person's left/right against Panoptic's _l/_r and InterHand's hand_type. The lite model "
        "is the default: better here (the full model slips on the small hand on the cello neck) "
        "and faster.",
    ]
    load_before = os.getloadavg()
    det = detectors[DEFAULT_MODEL]
    crop_paths = sorted({g.image for g in gts if g.dataset != "panoptic"})
    crop_images = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in crop_paths]
    crop_times, _ = time_images(crop_images, args.repeat, detector=det)
    per_crop = np.median(np.reshape(crop_times, (len(crop_images), args.repeat)), axis=1)
    big = _walking_frames(3) + _ccp_photos(["0002.jpg", "0005.jpg", "0010.jpg"])
    auto_times, auto_counts = time_images(big, args.repeat, detector=det)
    forced_times, forced_counts = time_images(big, args.repeat, detector=det, body_guided=True)
    # End to end as a PaddleHub user calls it: JPEG file in, decode, detect, draw (shared model).
    from bodylens.hands import predict

    e2e_times = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, rgb in enumerate(big):
            path = Path(tmp) / f"full_body_{i}.jpg"
            cv2.imwrite(
                str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]
            )
            paths.append(path)
        for path in paths:
            predict(str(path), visualization=False)
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                predict(str(path), visualization=False)
                e2e_times.append(1e3 * (time.perf_counter() - t0))
    load_after = os.getloadavg()

    issue = results[DEFAULT_MODEL]["issue sets"].pck
    crop_med = float(np.median(crop_times))
    forced_med = float(np.median(forced_times))
    e2e_med = float(np.median(e2e_times))

    def verdict(ok: bool) -> str:
        return "**hit**" if ok else "**missed**"

    per_image = ", ".join(
        f"{p.stem.removeprefix('mmpose_')} {t:.0f}"
        for p, t in zip(crop_paths, per_crop, strict=True)
    )
    lines += [
        "",
        f"### Latency ({DEFAULT_MODEL} model, one image at a time, after a warm-up)",
        "",
        "| input | images | hands found per image | latency | target |",
        "|---|---|---|---|---|",
        f"| hand crops, `find_hands(rgb)` (OneHand10K, FreiHAND, InterHand; 224-960 px) | "
        f"{len(crop_images)} | - | {_stats(crop_times)} | ≤ 60 ms |",
        f"| 1920x1080 full body, `find_hands(rgb)` default (body search when needed) | {len(big)} "
        f"| {auto_counts} | {_stats(auto_times)} | ≤ 250 ms |",
        f"| 1920x1080 full body, `find_hands(rgb, body_guided=True)` | {len(big)} | "
        f"{forced_counts} | {_stats(forced_times)} | ≤ 250 ms |",
        f"| 1920x1080 full body JPEG, `predict(path)` (decode + detect + draw) | {len(big)} | - | "
        f"{_stats(e2e_times)} | ≤ 250 ms |",
        "",
        f"Per hand crop (median ms): {per_image}. 1080p photos: 3 frames of walking.mp4 upscaled "
        "from 1280x720, CCP 0002/0005/0010 upscaled to 1080 px high on a 1920 px canvas.",
        "",
        NOTE_LATENCY,
        "",
        "Load average (1/5/15 min) before timing: "
        + "/".join(f"{v:.2f}" for v in load_before)
        + ", after: "
        + "/".join(f"{v:.2f}" for v in load_after)
        + ".",
        "",
        "### Targets",
        "",
        f"- PCK@0.2 ≥ 0.90 on OneHand10K + CMU Panoptic + FreiHAND: {issue:.3f} "
        f"({DEFAULT_MODEL} model) — {verdict(issue >= 0.90)}.",
        f"- ≤ 60 ms per hand crop: median {crop_med:.0f} ms — {verdict(crop_med <= 60)}.",
        f"- ≤ 250 ms per 1080p full-body photo with body-guided search: median {forced_med:.0f} ms "
        f"(forced search), {e2e_med:.0f} ms end to end from a JPEG — "
        f"{verdict(forced_med <= 250 and e2e_med <= 250)}.",
        "",
    ]
    for line in lines[-20:]:
        print(line)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
