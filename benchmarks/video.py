"""Video benchmark: pose fps on 720p, --mesh fps, matte+encode fps at 602x722, jitter.

    PYTHONPATH=src python benchmarks/video.py [--repeat 3] [--out docs/benchmarks/video.md]

Uses ../shared/data/video/walking.mp4 (1280x720, 30 fps, 144 frames). Each figure is the best
of ``--repeat`` runs (the machine is shared; the best run is the least disturbed one), with the
1-minute load average and the process CPU time per frame recorded next to it.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
WALKING = REPO.parent / "shared" / "data" / "video" / "walking.mp4"
TARGETS = {"pose": 30.0, "mesh": 10.0, "matte": 22.0}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(fn, frames: int, repeat: int) -> dict:
    best = None
    for _ in range(repeat):
        load = os.getloadavg()[0]
        cpu0, t0 = _cpu(), time.perf_counter()
        fn()
        wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
        run = {
            "fps": frames / wall,
            "wall_s": wall,
            "cpu_ms_per_frame": 1000 * cpu / frames,
            "load1": load,
        }
        if best is None or run["fps"] > best["fps"]:
            best = run
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--video", default=str(WALKING))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "docs" / "benchmarks" / "video.md"))
    args = parser.parse_args()

    from bodylens import registry
    from bodylens.io.video import probe
    from bodylens.video.matte import matte_video
    from bodylens.video.mesh import fit_mesh_sequence
    from bodylens.video.pose import track_video

    info = probe(args.video)
    n = info.total_frames
    results: dict[str, dict] = {}
    tracked = {}

    def pose(skip: int = 1):
        tracked["pose"] = track_video(args.video, skip=skip)

    results["pose"] = measure(pose, n, args.repeat)
    results["pose_skip2"] = measure(lambda: pose(2), n, args.repeat)
    pose(1)
    stats = tracked["pose"].stats
    registry.get("anny-video")  # model load (~3-6 s, once per process) is not per-frame work
    joints = tracked["pose"].joints_3d
    results["mesh_only"] = measure(lambda: fit_mesh_sequence(joints), n, args.repeat)

    def pose_and_mesh():
        fit_mesh_sequence(track_video(args.video).joints_3d)

    results["mesh"] = measure(pose_and_mesh, n, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        for color in ("studio", "v11"):
            out = Path(tmp) / f"{color}.webm"
            results[f"matte_{color}"] = measure(
                lambda out=out, color=color: matte_video(
                    args.video, out, color=color, size=(602, 722)
                ),
                n,
                args.repeat,
            )
        webm_kb = (Path(tmp) / "studio.webm").stat().st_size / 1024

    flicker = {}
    from bodylens.io.video import iter_frames
    from bodylens.video.matte import Matter

    frames = list(iter_frames(args.video, size=(602, 722)))
    for stabilise in (False, True):
        matter = Matter(stabilise=stabilise)
        alphas = [matter.mask(f).astype(np.float32) for f in frames]
        matter.close()
        flicker[stabilise] = float(
            np.mean([np.abs(b - a).mean() for a, b in zip(alphas[:-1], alphas[1:], strict=True)])
        )

    rows = [
        ("pose (720p, every frame)", "pose", TARGETS["pose"]),
        ("pose --skip 2 (720p, source frames per second)", "pose_skip2", None),
        ("pose + --mesh (720p)", "mesh", TARGETS["mesh"]),
        ("mesh fit only (on tracked joints)", "mesh_only", None),
        ("matte + VP9 alpha encode, 602x722", "matte_studio", TARGETS["matte"]),
        ("matte + V11 grade + encode, 602x722", "matte_v11", TARGETS["matte"]),
    ]
    lines = [
        "## Video (issue 5)",
        "",
        f"Command: `PYTHONPATH=src python benchmarks/video.py --repeat {args.repeat}` on "
        f"`walking.mp4` ({info.width}x{info.height}, {info.fps:.0f} fps, {n} frames).",
        f"Machine: {os.cpu_count()}-core CPU ({platform.processor() or platform.machine()}), "
        f"no GPU, Python {sys.version.split()[0]}. The machine was shared with other engineers' "
        "jobs while measuring, so wall-clock figures are pessimistic; `load1` is the 1-minute "
        "load average at the start of the run, `CPU ms/frame` the process's own CPU time.",
        "",
        "| measurement | fps (best run) | target | met | CPU ms/frame | load1 |",
        "|---|---:|---:|:---:|---:|---:|",
    ]
    for label, key, target in rows:
        r = results[key]
        met = "" if target is None else ("yes" if r["fps"] >= target else "**no**")
        tgt = "" if target is None else f"≥ {target:.0f}"
        lines.append(
            f"| {label} | {r['fps']:.1f} | {tgt} | {met} | {r['cpu_ms_per_frame']:.1f} | "
            f"{r['load1']:.1f} |"
        )
    matte_fps = results["matte_studio"]["fps"]
    lines += [
        "",
        f"Jitter (mean frame-to-frame acceleration of the 33 world joints): "
        f"{stats['jitter_raw_m'] * 1000:.1f} mm/frame² raw → "
        f"{stats['jitter_smoothed_m'] * 1000:.1f} mm/frame² after the One Euro filter "
        f"(min_cutoff {stats['min_cutoff_hz']} Hz, beta {stats['beta']}), "
        f"{stats['jitter_raw_m'] / max(stats['jitter_smoothed_m'], 1e-9):.1f}× less.",
        "",
        f"Matte stability (mean |Δalpha| between consecutive frames, 0-255, person walking): "
        f"{flicker[False]:.2f} without the temporal stabiliser, {flicker[True]:.2f} with it.",
        "",
        f"At the measured matte rate, the platform's 3-minute trainer clip (5,793 frames at "
        f"602x722) would take about {5793 / matte_fps / 60:.1f} min (extrapolated) instead of "
        f"44 min. The WebM is "
        f"{webm_kb:.0f} KiB for {n} frames (VP9 crf 30, realtime, cpu-used 8, row-mt).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
