"""Latency of `bodylens.measure` on real street photos, fitted in turn and with the fit worker.

    PYTHONPATH=src python benchmarks/latency_street.py [--photos 0002.jpg ...]

Renders (measure_synthetic.py, measure_ansur.py) are bodies in tight clothes with clean limbs;
the photos a shop receives are not. About half of the CCP street photos below leave a limb
where its keypoint is not after the first fit (a hand in a pocket), which costs a second fit,
and most show loose clothes, which cost another. Each photo is measured once with the fits in
turn (the library and CLI) and once as the service runs them (``api.FIT_WORKER``: a fit whose
limbs are stuck as its last stage starts begins its refit in the worker process), and
the two answers must be identical. Height 170 cm, one front photo. Writes
docs/benchmarks/latency_street.md.
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
DOC = ROOT / "docs" / "benchmarks" / "latency_street.md"
# The photos of robustness.py's two sets that have a person in full (every 8th from 0001, and
# eight more).
PHOTOS = tuple(f"{i:04d}.jpg" for i in (*range(1, 200, 8), 2, 3, 4, 5, 42, 100, 200, 300))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", nargs="*", default=list(PHOTOS))
    ap.add_argument("--out", type=Path, default=DOC)
    args = ap.parse_args(argv)

    from bodylens.body import api, worker
    from bodylens.body.api import measure
    from bodylens.errors import BodylensError
    from bodylens.io.images import load_image

    photos = [(name, load_image(CCP / name)) for name in args.photos if (CCP / name).is_file()]
    measure(photos[0][1], height_cm=170)  # warm-up: models loaded, not timed
    api.FIT_WORKER = True
    measure(photos[0][1], height_cm=170)  # starts the worker
    if not worker.wait_ready(timeout_s=300):
        raise SystemExit("the fit worker did not start")
    rows, loads = [], []
    for name, rgb in photos:
        row: dict = {"photo": name}
        for mode, on in (("in turn", False), ("worker", True)):
            api.FIT_WORKER = on
            t = time.perf_counter()
            try:
                res = measure(rgb, height_cm=170)
            except BodylensError as exc:
                row["refused"] = exc.message
                break
            row[mode] = time.perf_counter() - t
            row[f"{mode} values"] = (res.values, res.warnings)
            if not on:  # a limb stuck after the first fit or the loose-clothes refit
                row["fits"] = 1 + ("fit_loose_refit" in res.timings)
                limb = res.body["fit"]["stuck_limb_refit"]
                row["stuck"] = "fit_retry" in res.timings or limb is not None
            loads.append(os.getloadavg()[0])
        if "refused" not in row:
            row["same"] = row["in turn values"] == row["worker values"]
            rows.append(row)
        print(f"{name}: {row.get('in turn', 0):.2f} s in turn, {row.get('worker', 0):.2f} s "
              f"with the worker{'' if row.get('same', True) else ' DIFFERENT VALUES'}",
              flush=True)  # fmt: skip
    worker.shutdown()

    def stats(sel: list[dict], mode: str) -> str:
        t = np.array([r[mode] for r in sel])
        if not len(t):
            return "– | – | –"  # three cells: p50, p90, max
        return f"{np.median(t):.2f} | {np.percentile(t, 90):.2f} | {t.max():.2f}"

    groups = [
        ("all photos", rows),
        ("a limb stuck after a first fit", [r for r in rows if r["stuck"]]),
        ("no limb stuck", [r for r in rows if not r["stuck"]]),
    ]
    lines = [
        "## Latency on real street photos (one front photo, CCP)",
        "",
        f"Command: `PYTHONPATH=src python benchmarks/latency_street.py` — {len(rows)} photos, "
        "height 170 cm.",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, no GPU (mean 1-min load "
        f"average during the run: {np.mean(loads):.1f}; the other engineers' jobs share it, so "
        "single photos vary by ±0.5 s between runs).",
        "",
        "Each photo measured with the fits in turn (the library and the CLI) and as the service "
        "runs them (`api.FIT_WORKER`: a fit whose limbs are stuck as its last stage starts "
        "begins its stuck-limb refit in the worker process, `body.worker`).",
        "",
        "| photos | n | in turn: p50 (s) | p90 | max | with the worker: p50 (s) | p90 | max |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, sel in groups:
        lines.append(f"| {label} | {len(sel)} | {stats(sel, 'in turn')} | {stats(sel, 'worker')} |")
    same = sum(r["same"] for r in rows)
    lines += [
        "",
        f"Identical answers (every value and warning) in both modes: {same} of {len(rows)} "
        "photos. Photos fitted twice for loose clothes: "
        f"{sum(r['fits'] == 2 for r in rows)} of {len(rows)}.",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
