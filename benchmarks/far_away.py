"""A person far from the camera: the same bodies rendered filling less and less of the frame.

    PYTHONPATH=src python benchmarks/far_away.py [--n 16] [--fills 0.8 0.3 0.2]

Renders and benchmarks elsewhere show the person filling 60-90 % of the frame's height, as a
shop's instructions ask. Customers also send wide shots: the person small in a large photo.
Here each body (Anny fitted to an ANSUR II score-split subject, as in measure_ansur.py) is
rendered in one pose, one lighting and one 1080 x 1440 frame, at each fill (the body's height
over the frame's), the camera moved back to make it so. Height and sex given, one front photo,
no weight. A refused photo ("no person found") counts as a miss and is left out of the MAE.
Writes docs/benchmarks/far_away.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
BODIES = ROOT / "benchmarks" / "data" / "ansur_bodies.json"
DOC = ROOT / "docs" / "benchmarks" / "far_away.md"
NAMES = ["chest_girth", "waist_girth", "hip_girth", "thigh_girth", "neck_girth", "arm_length"]
WIDTH, HEIGHT = 1080, 1440


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--fills", type=float, nargs="+", default=[0.8, 0.3, 0.2])
    ap.add_argument("--out", type=Path, default=DOC)
    args = ap.parse_args(argv)

    from measure_synthetic import sample_pose

    from bodylens.body import measurements
    from bodylens.body.api import measure
    from bodylens.body.model import get_body_model
    from bodylens.body.render import dressed_colors, place_body, render_body
    from bodylens.errors import BodylensError

    model = get_body_model()
    bodies = json.loads(BODIES.read_text())["bodies"]
    rng = np.random.default_rng(args.seed)
    errors: dict[float, list[list[float]]] = {f: [] for f in args.fills}
    refused: dict[float, int] = {f: 0 for f in args.fills}
    latency: dict[float, list[float]] = {f: [] for f in args.fills}
    warned: dict[float, int] = {f: 0 for f in args.fills}
    loads = []
    for i in range(args.n):
        body = bodies[i * 7 % len(bodies)]  # spread over the draw
        phenotype, local = body["phenotype"], body["local_changes"]
        pose = sample_pose(rng)
        rest = model.rest_body(phenotype, local)
        truth = measurements.compute(model, rest)
        verts = model.posed_full(phenotype, local, pose)
        focal = rng.uniform(0.9, 1.1) * HEIGHT
        camera_height, yaw = rng.uniform(0.9, 1.6), rng.uniform(-10, 10)
        look = int(rng.integers(0, 1000))
        colors = dressed_colors(model, rest, np.random.default_rng(look))
        line = []
        for fill in args.fills:
            cam = place_body(verts, WIDTH, HEIGHT, focal=focal, fill=fill, yaw_deg=yaw,
                             camera_height_m=camera_height, offset=(0.0, 0.0))  # fmt: skip
            img = render_body(verts, model.faces, cam, face_colors=colors, background="plain",
                              rng=np.random.default_rng(look))  # fmt: skip
            t = time.perf_counter()
            try:
                res = measure(img, height_cm=round(truth["height"], 1), sex=body["sex"])
            except BodylensError as exc:
                refused[fill] += 1
                line.append(f"{fill}: refused ({exc.message})")
                continue
            latency[fill].append(time.perf_counter() - t)
            loads.append(os.getloadavg()[0])
            warned[fill] += any("of the photo's height" in w for w in res.warnings)
            err = [res.values[n] - truth[n] for n in NAMES]
            errors[fill].append(err)
            line.append(f"{fill}: " + " ".join(f"{e:+5.1f}" for e in err))
        print(f"[{i}] " + " | ".join(line), flush=True)

    short = [n.removesuffix("_girth") for n in NAMES]
    lines = [
        "## A person far away (renders)",
        "",
        f"Command: `PYTHONPATH=src python benchmarks/far_away.py --n {args.n} --seed {args.seed} "
        f"--fills {' '.join(f'{f:g}' for f in args.fills)}`",
        "",
        f"Machine: {os.cpu_count()}-core CPU ({platform.processor() or platform.machine()}), "
        f"no GPU (mean 1-min load average: {np.mean(loads) if loads else float('nan'):.1f}).",
        "",
        f"{args.n} ANSUR II score-split bodies (`benchmarks/data/ansur_bodies.json`), each "
        f"rendered in one pose and look in a {WIDTH} x {HEIGHT} frame at every fill (its height "
        "over the frame's); height and sex given, one front photo, no weight. MAE in cm over "
        "the photos measured; refused photos are left out of it.",
        "",
        "| fill | measured | warned small | " + " | ".join(short) + " | latency p50 (s) |",
        "|---:|---:|---:|" + "---:|" * len(short) + "---:|",
    ]
    for fill in args.fills:
        e = np.abs(np.array(errors[fill])) if errors[fill] else np.full((1, len(NAMES)), np.nan)
        lat = float(np.median(latency[fill])) if latency[fill] else float("nan")
        lines.append(
            f"| {fill:g} | {len(errors[fill])} of {args.n} | {warned[fill]} | "
            + " | ".join(f"{m:.2f}" for m in e.mean(axis=0))
            + f" | {lat:.2f} |"
        )
    lines.append("")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
