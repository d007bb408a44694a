"""Does the fusion's learned correction, fitted on renders, behave the same on real photos?

    PYTHONPATH=src python benchmarks/fusion_transfer.py [--calibration FILE]

Why: the learned corrections (``fusion.Calibration.stack`` and ``.table``) are ridge
regressions fitted on renders of ANSUR bodies. A render's silhouette is the body itself; a
street photo's is clothes, hair and arms held anyhow. An input that means one thing on renders
and another on photos makes the correction push every real photo the same way, which no
render benchmark can see (it scores renders). This measures that push: how far the correction
moves the fused girths away from the ANSUR Gaussian alone, on the scored renders' saved
readings and on CCP street photos (height 170 cm, no weight, no sex, as ``robustness.py``).
On renders the correction averages out near zero by construction; on photos it should too.
A mean shift on photos well beyond the renders' is a correction that does not transfer.

Writes docs/benchmarks/fusion_transfer.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from dataclasses import replace
from pathlib import Path

import numpy as np
from robustness import CCP, ROOT, WIDE_PHOTOS

RUNS = ROOT / "benchmarks" / "data" / "measure_ansur_runs.json"
DOC = ROOT / "docs" / "benchmarks" / "fusion_transfer.md"
NAMES = ("chest_girth", "waist_girth", "hip_girth", "thigh_girth", "neck_girth")
HEIGHT_CM = 170.0


def correction(cal, table: dict, readings: dict, views: str, height_cm: float) -> dict:
    """What the learned corrections add to each returned value (cm): the fused answer with
    ``cal`` minus the same without its stack and table models (no weight, no sex)."""
    from bodylens.body import fusion
    from bodylens.body.measurements import BY_NAME

    kw = dict(
        height_cm=height_cm,
        weight_kg=None,
        sex=None,
        views=views,
        table_sigma={n: BY_NAME[n].sigma_cm for n in table},
    )
    full = fusion.fuse(table, readings, cal=cal, **kw).values
    plain = fusion.fuse(table, readings, cal=replace(cal, stack={}, table={}), **kw).values
    return {n: full[n][0] - plain[n][0] for n in NAMES if n in full}


def render_shifts(cal) -> tuple[dict[str, list[float]], int]:
    from bodylens.body import fusion

    records = json.loads(RUNS.read_text())["records"]
    out: dict[str, list[float]] = {n: [] for n in NAMES}
    n = 0
    for r in records:
        run = r["runs"].get("front", {})
        if "photo_ansur_cm" not in run:
            continue
        n += 1
        readings = fusion.readings_of(run["photo_ansur_cm"], run["photo_table_cm"])
        d = correction(cal, run["photo_table_cm"], readings, "front", r["height_cm"])
        for k, v in d.items():
            out[k].append(v)
    return out, n


def photo_shifts(cal, photos) -> tuple[dict[str, list[float]], list[str]]:
    from tqdm import tqdm

    import bodylens
    from bodylens.body import fusion
    from bodylens.errors import BodylensError

    out: dict[str, list[float]] = {n: [] for n in NAMES}
    refused = []
    for name in tqdm([p for p in photos if (CCP / p).is_file()], desc="street photos"):
        try:
            res = bodylens.measure(str(CCP / name), height_cm=HEIGHT_CM)
        except BodylensError as exc:
            refused.append(f"{name}: {exc.message}")
            continue
        fused = res.body["fusion"]
        readings = fusion.readings_of(fused["photo_ansur_cm"], fused["photo_table_cm"])
        d = correction(cal, fused["photo_table_cm"], readings, fused["views"], HEIGHT_CM)
        for k, v in d.items():
            out[k].append(v)
    return out, refused


def main(argv: list[str] | None = None) -> int:
    from bodylens.body import fusion

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calibration", type=Path, help="a candidate fusion_calibration.json")
    ap.add_argument("--out", type=Path, default=DOC)
    args = ap.parse_args(argv)
    if args.calibration:
        fusion.CALIBRATION_PATH = args.calibration
        fusion.calibration.cache_clear()
    cal = fusion.calibration()
    renders, n_renders = render_shifts(cal)
    photos, refused = photo_shifts(cal, WIDE_PHOTOS)
    n_photos = len(photos[NAMES[0]])
    lines = [
        "## Does the learned correction transfer from renders to street photos?",
        "",
        "Command: `PYTHONPATH=src python benchmarks/fusion_transfer.py`"
        + (f" (calibration: `{args.calibration}`)" if args.calibration else "")
        + f". Machine: {os.cpu_count()}-core CPU ({platform.machine()}), no GPU.",
        "",
        "What the fusion's learned corrections (ridge regressions fitted on renders) add to "
        "each value, against the ANSUR Gaussian alone: no weight, no sex, height given. "
        f"Renders: the front photos of the {n_renders} scored ANSUR bodies (saved readings). "
        f"Street photos: {n_photos} CCP photos (`robustness.py --wide`'s), height "
        f"{HEIGHT_CM:.0f} cm"
        + (f"; refused: {len(refused)} ({'; '.join(refused)})" if refused else "")
        + ". A correction that transfers moves street photos about as much as renders, and "
        "not all one way.",
        "",
        "| measurement | renders: mean shift | renders: mean abs | street photos: mean shift "
        "| street photos: mean abs |",
        "|---|---:|---:|---:|---:|",
    ]
    for n in NAMES:
        r, p = np.array(renders[n]), np.array(photos[n])
        lines.append(
            f"| {n} | {r.mean():+.2f} | {np.abs(r).mean():.2f} | {p.mean():+.2f} "
            f"| {np.abs(p).mean():.2f} |"
        )
    lines += [
        "",
        "Cm. This guards what the render benchmarks cannot see: an input whose meaning differs "
        "between renders and photos (docs/measurements.md, 'Silhouette widths: tried, not "
        "shipped').",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
