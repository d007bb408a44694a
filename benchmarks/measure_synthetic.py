"""Synthetic accuracy benchmark of `bodylens.measure` (issue 2).

Renders Anny bodies of known shape (random adult phenotypes from Anny's calibrated shape
distribution, random local changes including a few depth-only ones a front photo cannot see,
varied arm/leg pose, focal length, camera distance and height, yaw, plain or cluttered
background) to photos, runs the full pipeline from pixels with the true height, and compares
with the same measurement definitions applied to the true body in its neutral pose.

    python benchmarks/measure_synthetic.py --n 30 --seed 0

Prints MAE / P90 / max per measurement and latency p50 / p95, and writes
docs/benchmarks/measure.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BODIES = ROOT / "benchmarks" / "data" / "ansur_bodies.json"
sys.path.insert(0, str(ROOT / "src"))

from bodylens.body.model import FIT_BONES, FIT_LOCAL_CHANGES, get_body_model  # noqa: E402

# Local changes a front photo can hardly see (depth), sampled smaller: they test the prior.
DEPTH_ONLY = ["torso-scale-depth-incr", "hip-scale-depth-incr", "stomach-navel-out"]
HEADLINE = ["height", "chest_girth", "waist_girth", "hip_girth"]
DEPTH_NOTE = {
    "anny": "Bodies as issue 2 defines them: depth-only controls drawn around Anny's own depths "
    "(mean 0, SD 0.15). MAE is the value `measure` returns (photo fit + ANSUR prior, the "
    "default with a height); 'photo fit alone' is the same fit before the prior. These depths "
    "are shallower than any real adult's (see the issue-6 section), so what is learned from "
    "real people overshoots here: the fit's shape prior (it starts the depth at the real-adult "
    "mean) and the ANSUR prior's size correction.",
    "ansur": "Depth-only controls (torso and hip depth) drawn as in Anny bodies fitted to real "
    "ANSUR II people (`--depth ansur`): mean {torso:+.2f} / {hip:+.2f} instead of 0 (over the "
    "{n} bodies of `benchmarks/data/ansur_bodies.json`). MAE is the value "
    "`measure` returns (photo fit + ANSUR prior); 'photo fit alone' is the same fit before "
    "the prior.",
}


def realistic_depth(bodies: list[dict]) -> dict[str, tuple[float, float]]:
    """Mean and SD of Anny's depth-only controls over ``bodies``, Anny fitted to real ANSUR II
    people (benchmarks/data/ansur_bodies.json): real torsos are deeper than Anny's phenotypes
    make them (torso depth about +0.46, hip depth +0.33 on average)."""
    out = {}
    for name in DEPTH_ONLY:
        v = [b["local_changes"][name] for b in bodies if name in b["local_changes"]]
        if v:
            out[name] = (float(np.mean(v)), float(np.std(v)))
    return out


def _depth_note(depth: str, real: dict[str, tuple[float, float]] | None, n: int) -> str:
    """The report's words on the bodies' depths; ``real``: ``realistic_depth`` of ``n`` bodies."""
    if real is None:
        return DEPTH_NOTE[depth]
    return DEPTH_NOTE[depth].format(
        torso=real["torso-scale-depth-incr"][0], hip=real["hip-scale-depth-incr"][0], n=n
    )


def sample_body(
    model, rng: np.random.Generator, depth: dict[str, tuple[float, float]] | None = None
) -> tuple[dict, dict]:
    """A random adult: Anny phenotype, six random local changes, and depth-only controls
    drawn from ``depth`` (name -> mean, SD; default mean 0, SD 0.15: Anny's own depths)."""
    import torch
    from anny.shape_distribution import SimpleShapeDistribution

    torch.manual_seed(int(rng.integers(0, 2**31)))
    dist = SimpleShapeDistribution(
        model.anny,
        morphological_age_distribution=torch.distributions.Uniform(
            torch.tensor(20.0, dtype=torch.float64), torch.tensor(65.0, dtype=torch.float64)
        ),
    )
    _, ph = dist.sample(1)
    phenotype = {k: float(v[0]) for k, v in ph.items() if k in model.phenotype_labels}
    local = {}
    # Six random local controls among those the fit uses, moderate amplitude.
    for name in rng.choice(FIT_LOCAL_CHANGES, size=6, replace=False):
        local[str(name)] = float(np.clip(rng.normal(0.0, 0.35), -0.8, 0.8))
    for name in DEPTH_ONLY:
        mean, sd = (depth or {}).get(name, (0.0, 0.15))
        local[name] = float(np.clip(rng.normal(mean, sd), mean - 2.5 * sd, mean + 2.5 * sd))
    return phenotype, local


def sample_pose(rng: np.random.Generator) -> np.ndarray:
    rot = np.zeros((len(FIT_BONES), 3))

    def put(bone: str, axis: int, value: float) -> None:
        rot[FIT_BONES.index(bone), axis] = value

    for side, sign in (("L", 1.0), ("R", -1.0)):
        put(f"upperarm01.{side}", 1, sign * math.radians(rng.uniform(-20, 30)))
        put(f"upperarm01.{side}", 0, math.radians(rng.uniform(-10, 10)))
        put(f"lowerarm01.{side}", 1, sign * math.radians(rng.uniform(-10, 25)))
        put(f"upperleg01.{side}", 1, sign * math.radians(rng.uniform(-3, 6)))
    put("neck01", 0, math.radians(rng.uniform(-8, 8)))
    return rot


def render_case(model, phenotype, local, pose, rng):
    from bodylens.body import measurements
    from bodylens.body.render import dressed_colors, place_body, render_body

    rest = model.rest_body(phenotype, local)
    truth = measurements.compute(model, rest)
    verts = model.posed_full(phenotype, local, pose)
    width, height = [(720, 1280), (900, 1200), (1080, 1440), (1200, 900)][int(rng.integers(0, 4))]
    focal = rng.uniform(0.75, 1.3) * max(width, height)
    fill = rng.uniform(0.6, 0.88) if height > width else rng.uniform(0.75, 0.9)
    cam = place_body(
        verts,
        width,
        height,
        focal=focal,
        fill=fill,
        camera_height_m=rng.uniform(0.9, 1.6),
        yaw_deg=rng.uniform(-10, 10),
        offset=(rng.uniform(-0.08, 0.08), rng.uniform(-0.03, 0.03)),
    )
    colors = dressed_colors(model, rest, rng)
    background = "cluttered" if rng.uniform() < 0.5 else "plain"
    img = render_body(verts, model.faces, cam, face_colors=colors, background=background, rng=rng)
    return img, truth, background, focal


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "measure.md"))
    ap.add_argument("--save-images", metavar="DIR", help="also save the rendered photos")
    ap.add_argument(
        "--depth",
        choices=["anny", "ansur"],
        default="anny",
        help="depth-only controls: around Anny's own (default, as issue 2 defines the set) or "
        "as in Anny bodies fitted to real ANSUR II people",
    )
    args = ap.parse_args(argv)

    from bodylens.body.api import measure
    from bodylens.body.measurements import canonical_names
    from bodylens.errors import BodylensError

    model = get_body_model()
    names = canonical_names()
    rng = np.random.default_rng(args.seed)
    errors: dict[str, list[float]] = {n: [] for n in names}
    photo_errors: dict[str, list[float]] = {n: [] for n in names}  # before the ANSUR prior
    latency: list[float] = []
    cpu: list[float] = []
    loads: list[float] = []
    failures: list[str] = []
    # Warm up MediaPipe and the model once (not timed).
    real_bodies = json.loads(BODIES.read_text())["bodies"] if args.depth == "ansur" else []
    depth = realistic_depth(real_bodies) if real_bodies else None
    warm_img, _, _, _ = render_case(model, *sample_body(model, rng, depth), sample_pose(rng), rng)
    measure(warm_img, height_cm=170)
    for i in range(args.n):
        phenotype, local = sample_body(model, rng, depth)
        pose = sample_pose(rng)
        img, truth, background, focal = render_case(model, phenotype, local, pose, rng)
        if args.save_images:
            import cv2

            Path(args.save_images).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(f"{args.save_images}/{i:03d}.jpg", img[:, :, ::-1])
        t = time.perf_counter()
        c0 = time.process_time()
        try:
            result = measure(img, height_cm=round(truth["height"], 1))
        except BodylensError as exc:
            failures.append(f"case {i}: {exc.message}")
            print(f"[{i}] FAILED: {exc.message}", flush=True)
            continue
        latency.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c0)
        loads.append(os.getloadavg()[0])
        photo = result.body["fusion"].get("photo_table_cm", result.values)
        for n in names:
            errors[n].append(result.values[n] - truth[n])
            photo_errors[n].append(photo.get(n, result.values[n]) - truth[n])
        line = " ".join(
            f"{n.split('_')[0]}={result.values[n]:.1f}/{truth[n]:.1f}" for n in HEADLINE
        )
        print(f"[{i}] {background:9s} {latency[-1]:.2f}s {line}", flush=True)

    rows = []
    for n in names:
        e = np.abs(np.array(errors[n]))
        if len(e) == 0:
            continue
        bias = float(np.mean(errors[n]))
        photo_mae = float(np.mean(np.abs(photo_errors[n])))
        rows.append(
            (n, float(e.mean()), float(np.percentile(e, 90)), float(e.max()), bias, photo_mae)
        )
    lat = np.array(latency) if latency else np.array([float("nan")])
    p50, p95 = float(np.percentile(lat, 50)), float(np.percentile(lat, 95))
    cpu50 = float(np.percentile(cpu, 50)) if cpu else float("nan")
    load = float(np.mean(loads)) if loads else float("nan")
    targets = {"chest_girth": 3.0, "waist_girth": 3.0, "hip_girth": 3.0, "height": 1.0}

    lines = [
        "## Body measurements from one front photo (synthetic)"
        + ("" if args.depth == "anny" else ": bodies with real-adult torso depth"),
        "",
        "Command: `python benchmarks/measure_synthetic.py "
        f"--n {args.n} --seed {args.seed}"
        + (
            ""
            if args.depth == "anny"
            else " --depth ansur --out docs/benchmarks/measure_real_depth.md"
        )
        + "`",
        "",
        f"Machine: {os.cpu_count()}-core CPU ({platform.processor() or platform.machine()}), "
        f"no GPU, shared with other jobs (mean 1-min load average during the run: {load:.1f}), "
        "so latencies are pessimistic.",
        "",
        f"{len(latency)} of {args.n} renders measured"
        + (f"; {len(failures)} refused: " + "; ".join(failures) if failures else "")
        + ". Height given (the true stature), no sex, no side photo. Ground truth: the same "
        "measurement definitions applied to the true body in its neutral pose.",
        "",
        _depth_note(args.depth, depth, len(real_bodies)),
        "",
        "| measurement | MAE (cm) | P90 (cm) | max (cm) | bias (cm) | photo fit alone, MAE | "
        "target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for n, mae, p90, mx, bias, photo_mae in rows:
        tgt = targets.get(n)
        verdict = "" if tgt is None else (f"≤ {tgt:g}: " + ("met" if mae <= tgt else "MISSED"))
        lines.append(
            f"| {n} | {mae:.2f} | {p90:.2f} | {mx:.2f} | {bias:+.2f} | {photo_mae:.2f} | "
            f"{verdict} |"
        )
    lines += [
        "",
        f"Latency per photo (decode + pose + fit + measure): p50 {p50:.2f} s, p95 {p95:.2f} s "
        f"(target p50 ≤ 2 s: {'met' if p50 <= 2.0 else 'MISSED'}); CPU time per photo p50 "
        f"{cpu50:.2f} s (all threads: a fit uses both cores when it runs alone).",
        "",
        "Height is given, and the fitted body is scaled to it, so its error only reflects "
        "rounding. Depth-only shape changes (torso/hip depth, navel) are part of the truth but "
        "invisible from the front; they are the main source of girth error.",
        "",
    ]
    text = "\n".join(lines)
    print("\n" + text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
