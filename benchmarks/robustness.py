"""Robustness of `bodylens.measure` on real photos (CCP street photos, no ground truth).

    PYTHONPATH=src python benchmarks/robustness.py [--n 6] [--height-cm 170] [--weight-kg 60]

The same photo flipped left-right, rescaled ×0.5 and ×2, or with 10 % extra margin on every side
(filled with the photo's border colour) must give the same measurements within 1 cm (issue 6).
Height is given (the same for every variant), so differences come from the pipeline only;
``--weight-kg`` gives a weight too, as a shop that knows it sends (the prior then pins the size,
and the photo moves the answer less).
Writes docs/benchmarks/robustness.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CCP = ROOT.parent / "shared" / "data" / "ccp" / "images"
DOC = ROOT / "docs" / "benchmarks" / "robustness.md"
# CCP photos tried in order; one whose original is refused (e.g. feet cut off) is reported.
DEFAULT_PHOTOS = (
    "0002.jpg",
    "0003.jpg",
    "0004.jpg",
    "0005.jpg",
    "0042.jpg",
    "0100.jpg",
    "0200.jpg",
    "0300.jpg",
)
# `--wide`: more street photos, every 8th from the first (coats, bags, loose tops included).
WIDE_PHOTOS = tuple(f"{i:04d}.jpg" for i in range(1, 200, 8))
WIDE_DOC = ROOT / "docs" / "benchmarks" / "robustness_wide.md"
TOLERANCE_CM = 1.0
MIRROR_AS_SENT = "mirror, fitted as sent (diagnostic)"
PIXEL_NOISE = "pixel noise, SD 2 levels (diagnostic)"
HEIGHT_NUDGE = "same photo, height +0.1 mm (diagnostic)"


def variants(rgb: np.ndarray) -> dict[str, np.ndarray]:
    import cv2

    h, w = rgb.shape[:2]
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    fill = [int(c) for c in np.median(border, axis=0)]
    pad_y, pad_x = int(round(0.1 * h)), int(round(0.1 * w))
    return {
        "flipped": np.ascontiguousarray(rgb[:, ::-1]),
        "x0.5": cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA),
        "x2": cv2.resize(rgb, (w * 2, h * 2), interpolation=cv2.INTER_CUBIC),
        "margin+10%": cv2.copyMakeBorder(
            rgb, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_CONSTANT, value=fill
        ),
    }


def main() -> int:
    import bodylens
    from bodylens.body import api
    from bodylens.body.api import canonical_orientation
    from bodylens.errors import BodylensError
    from bodylens.io.images import load_image

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", nargs="*", default=list(DEFAULT_PHOTOS))
    parser.add_argument("--n", type=int, default=None, help="use only the first N photos")
    parser.add_argument("--height-cm", type=float, default=170.0)
    parser.add_argument("--weight-kg", type=float, default=None, help="give a weight too")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--wide", action="store_true", help=f"the {len(WIDE_PHOTOS)} photos of WIDE_PHOTOS"
    )
    parser.add_argument(
        "--no-loose-refit",
        action="store_true",
        help="diagnostic: never refit for loose clothes (api.LOOSE_REFIT_RATIO = inf)",
    )
    args = parser.parse_args()
    if args.no_loose_refit:
        api.LOOSE_REFIT_RATIO = float("inf")
    photos = list(WIDE_PHOTOS) if args.wide else args.photos
    photos = photos[: args.n] if args.n else photos
    out_path = args.out or (WIDE_DOC if args.wide else DOC)
    if args.no_loose_refit and args.out is None:
        out_path = out_path.with_name(out_path.stem + "_no_refit.md")
    if args.weight_kg is not None and args.out is None:
        out_path = out_path.with_name(out_path.stem + "_weight.md")
    t0 = time.time()
    diffs: dict[str, dict[str, list[float]]] = {}
    per_photo: dict[str, dict[str, tuple[float, str]]] = {}
    failures: list[str] = []
    latencies = []

    def timed_measure(img, what: str, nudge_cm: float = 0.0) -> dict[str, float] | None:
        """Measurements of one photo variant (latency recorded), or None with the refusal noted."""
        try:
            t = time.perf_counter()
            values = bodylens.measure(
                img, height_cm=args.height_cm + nudge_cm, weight_kg=args.weight_kg
            ).values
            latencies.append(time.perf_counter() - t)
            return values
        except BodylensError as exc:
            failures.append(f"{what}: {exc.message}")
            return None

    for name in photos:
        if not (CCP / name).is_file():
            failures.append(f"{name}: not in the CCP folder")
            continue
        rgb = load_image(CCP / name)
        ref = timed_measure(rgb, f"{name} original")
        if ref is None:
            continue
        cases = variants(rgb)
        # Diagnostic: the mirror image fitted as sent, i.e. what the fit alone does with a
        # mirrored person (the product fits both orientations as the same pixels).
        canonical, _ = canonical_orientation(rgb)
        cases[MIRROR_AS_SENT] = np.ascontiguousarray(canonical[:, ::-1])
        # Diagnostic: noise no one can see, so any change is the fit's own sensitivity.
        noise = np.random.default_rng(1).normal(0.0, 2.0, rgb.shape)
        cases[PIXEL_NOISE] = np.clip(rgb + noise, 0, 255).astype(np.uint8)
        # Diagnostic: the very same pixels and detections, a height no tape could tell apart:
        # a change here is the optimisation alone ending elsewhere.
        cases[HEIGHT_NUDGE] = rgb
        for label, img in cases.items():
            api.CANONICAL_ORIENTATION = label != MIRROR_AS_SENT
            try:
                out = timed_measure(img, f"{name} {label}", 0.01 if label == HEIGHT_NUDGE else 0.0)
            finally:
                api.CANONICAL_ORIENTATION = True
            if out is None:
                continue
            for key, value in out.items():
                if key in ref and key != "height":
                    diffs.setdefault(label, {}).setdefault(key, []).append(abs(value - ref[key]))
            worst = max((abs(out[k] - ref[k]), k) for k in out if k in ref and k != "height")
            per_photo.setdefault(name, {})[label] = worst
        print(f"{name} done ({time.time() - t0:.0f} s)", flush=True)

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    import subprocess

    rev = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    lines = [
        "## Robustness on real photos (CCP, height "
        + ("given)" if args.weight_kg is None else "and weight given)")
        + (": more street photos" if args.wide else "")
        + (", no loose-clothes refit (diagnostic)" if args.no_loose_refit else ""),
        "",
        "Command: `PYTHONPATH=src python benchmarks/robustness.py"
        + (" --wide" if args.wide else "")
        + (" --no-loose-refit" if args.no_loose_refit else "")
        + (f" --weight-kg {args.weight_kg:g}" if args.weight_kg is not None else "")
        + f"` — {len(photos)} photos, "
        f"height {args.height_cm:g} cm"
        + (f", weight {args.weight_kg:g} kg" if args.weight_kg is not None else "")
        + f", code at {rev or '?'}; "
        f"{os.cpu_count()}-core CPU ({platform.machine()}), shared "
        f"(load average {load}); median latency per call "
        f"{np.median(latencies) if latencies else float('nan'):.1f} s.",
        "",
        f"Target: every measurement within {TOLERANCE_CM:g} cm of the original photo's.",
        "",
        "A photo and its mirror image are fitted as the same pixels "
        "(`body.api.canonical_orientation`), so `flipped` matches by construction. The "
        f"`{MIRROR_AS_SENT}` row switches that off for the mirror image: it is the fit's own "
        "sensitivity to a mirrored person, which the other variants still feel. The "
        f"`{PIXEL_NOISE}` row adds Gaussian noise no one can see to every pixel: what it "
        "moves is the fit falling into another minimum, not a different-looking photo. The "
        f"`{HEIGHT_NUDGE}` row keeps the pixels and the detections and moves only the given "
        "height by 0.1 mm: what changes is the optimisation alone taking another path, the "
        "floor under every other row.",
        "",
        "| variant | measurements compared | within 1 cm | mean abs diff | worst (measurement) |",
        "|---|---:|---:|---:|---|",
    ]
    for label, per in diffs.items():
        flat = [(d, k) for k, ds in per.items() for d in ds]
        values = np.array([d for d, _ in flat])
        worst = max(flat)
        lines.append(
            f"| {label} | {len(values)} | {np.mean(values <= TOLERANCE_CM):.0%} | "
            f"{values.mean():.2f} | {worst[0]:.2f} ({worst[1]}) |"
        )
    if diffs:
        lines += ["", "Per measurement, worst difference over photos and variants (cm):", ""]
        names = sorted({k for per in diffs.values() for k in per})
        for key in names:
            worst = max(max(per.get(key, [0.0])) for per in diffs.values())
            lines.append(f"- {key}: {worst:.2f}")
    if per_photo:
        labels = list(diffs)
        lines += [
            "",
            "Worst difference per photo (cm, measurement):",
            "",
            "| photo | " + " | ".join(labels) + " |",
            "|---|" + "---|" * len(labels),
        ]
        for name, row in per_photo.items():
            cells = [
                f"{row[lb][0]:.1f} ({row[lb][1]})" if lb in row else "refused" for lb in labels
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if failures:
        lines += ["", "Failures:", *(f"- {f}" for f in failures)]
    text = "\n".join(lines) + "\n"
    print(text)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
