"""Build the realistic benchmark bodies: Anny fitted to ANSUR II *score-split* subjects.

    PYTHONPATH=src python benchmarks/build_ansur_bodies.py [--n 224] [--steps 150]
    PYTHONPATH=src python benchmarks/build_ansur_bodies.py --split prior --n 1200 --stratified 600

The second form fits a random draw of *prior-split* subjects instead and learns the fit's
shape prior from them (src/bodylens/data/shape_prior.json, ``bodylens.body.shape_prior``).
``--stratified N`` appends N more prior-split subjects (``"draw": "stratified"``), picked like
the scored ones, for the fusion's calibration set (``measure_ansur.py --calibration-set``): a
random draw of ANSUR is young, two-thirds men and thin at the BMI extremes, which is where a
learned correction has least to go on. They do not enter the shape prior. ``--append`` fits
only those, keeping the random draw already in the file; ``--more-seed S`` keeps every body in
the file and appends N more stratified subjects not yet in it, picked with seed S.

Picks subjects stratified by sex, BMI and age from the score split (never the prior split the
statistics come from), fits Anny's phenotype + local shape controls to each one's stature, mass,
girths, lengths, breadths and depths (bodylens.body.anny_fit_measurements), and writes the fitted
parameters, the subject's true ANSUR measurements and the fitted mesh's measurements to
benchmarks/data/ansur_bodies.json (parameters only, no mesh). Prints fit residuals.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from bodylens.body import ansur, shape_prior
from bodylens.body.anny_fit_measurements import (
    FIT_LOCAL,
    TARGET_SCALE,
    AnnyMeasurer,
    fit_subjects,
)

OUT = Path(__file__).resolve().parent / "data" / "ansur_bodies.json"
PRIOR_OUT = Path(__file__).resolve().parent / "data" / "ansur_prior_bodies.json"


def pick_subjects(
    data: ansur.AnsurData, n: int, seed: int = 6, allowed: np.ndarray | None = None
) -> np.ndarray:
    """Indices into ``data``: per sex, equal counts from each BMI quintile, spread over age
    (``allowed``: a mask of the rows that may be picked; the BMI bins use every row)."""
    rng = np.random.default_rng(seed)
    picked = []
    for sex in ansur.SEXES:
        rows = np.flatnonzero(data.sex == sex)
        bmi = data.values["bmi"][rows]
        edges = np.quantile(bmi, [0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0])
        per_bin = n // 2 // (len(edges) - 1)
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            pool = rows[(bmi >= lo) & (bmi <= hi)]
            if allowed is not None:
                pool = pool[allowed[pool]]
            age = data.values["age"][pool]
            # Oldest first half, random rest: ANSUR is young, keep its older subjects.
            order = np.argsort(-age + rng.uniform(0, 8, len(pool)))
            picked.extend(pool[order[: per_bin // 2]])
            rest = np.setdiff1d(pool, pool[order[: per_bin // 2]])
            picked.extend(rng.choice(rest, per_bin - per_bin // 2, replace=False))
    return np.array(sorted(set(int(i) for i in picked)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=224)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch", type=int, default=56)
    parser.add_argument(
        "--split",
        choices=("score", "prior"),
        default="score",
        help="score: the benchmark bodies; prior: bodies for the fit's learned shape prior",
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--stratified",
        type=int,
        default=0,
        help="prior split: append this many stratified subjects (calibration)",
    )
    parser.add_argument(
        "--append",
        action="store_true",
        help="fit only the --stratified subjects, keep the file's random draw",
    )
    parser.add_argument(
        "--more-seed",
        type=int,
        default=None,
        help="keep every body in the file, append more picked with this seed (prior split: "
        "--stratified of them; score split: --n, marked with the seed)",
    )
    args = parser.parse_args()
    out = args.out or (OUT if args.split == "score" else PRIOR_OUT)

    data = ansur.load_ansur()
    pool = data.subset(ansur.split_masks(data)[args.split])
    bodies: list[dict] = []
    mark = "stratified"  # the "draw" of the bodies fitted after the first n_random
    if args.split == "score":
        free = None
        if args.more_seed is not None:  # a second draw, none of the file's subjects again
            bodies = json.loads(out.read_text())["bodies"]
            free = ~np.isin(pool.subject_id, [b["subject_id"] for b in bodies])
            mark = f"seed {args.more_seed}"
        seed = 6 if args.more_seed is None else args.more_seed
        subj = pool.subset(pick_subjects(pool, args.n, seed=seed, allowed=free))
        n_random = len(subj) if args.more_seed is None else 0
    else:  # the prior wants the population as it is: a plain random draw
        rng = np.random.default_rng(7)
        drawn = np.sort(rng.choice(len(pool), min(args.n, len(pool)), replace=False))
        free = np.ones(len(pool), bool)
        free[drawn] = False
        seed = 8
        if args.more_seed is not None:
            bodies = json.loads(out.read_text())["bodies"]
            free &= ~np.isin(pool.subject_id, [b["subject_id"] for b in bodies])
            drawn, seed = drawn[:0], args.more_seed
        extra = pick_subjects(pool, args.stratified, seed=seed, allowed=free)[: args.stratified]
        if args.append:
            bodies = [b for b in json.loads(out.read_text())["bodies"] if "draw" not in b]
            drawn = drawn[:0]
        subj = pool.subset(np.concatenate([drawn, extra]).astype(int))
        n_random = len(drawn)
    measurer = AnnyMeasurer()
    targets = [n for n in TARGET_SCALE]
    t0 = time.time()
    for start in range(0, len(subj), args.batch):
        stop = min(start + args.batch, len(subj))
        part = subj.subset(np.arange(start, stop))
        res = fit_subjects(
            measurer, {k: part.values[k] for k in targets}, part.sex, part.values["age"], args.steps
        )
        for i in range(len(part)):
            bodies.append(
                {
                    "subject_id": int(part.subject_id[i]),
                    "sex": str(part.sex[i]),
                    "age": float(part.values["age"][i]),
                    "phenotype": dict(
                        zip(
                            measurer.pheno_labels,
                            np.round(res.phenotype[i], 5).tolist(),
                            strict=True,
                        )
                    ),
                    "local_changes": dict(
                        zip(FIT_LOCAL, np.round(res.local[i], 5).tolist(), strict=True)
                    ),
                    "ansur": {k: round(float(v[i]), 2) for k, v in part.values.items()},
                    "mesh": {k: round(float(v[i]), 2) for k, v in res.measured.items()},
                }
            )
            if start + i >= n_random:
                bodies[-1]["draw"] = mark
        print(f"{stop}/{len(subj)} bodies, {time.time() - t0:.0f} s, load {os.getloadavg()}")
        write(out, bodies, args.steps, args.split)
    report(bodies)
    if args.split == "prior":
        random_draw = [b for b in bodies if "draw" not in b]
        shape_prior.PRIOR_FILE.write_text(json.dumps(shape_prior.learn(random_draw)) + "\n")
        print(f"wrote {shape_prior.PRIOR_FILE}")
    return 0


def write(path: Path, bodies: list[dict], steps: int, split: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "source": f"ANSUR II public release, {split} split (bodylens.body.ansur.split_of)",
        "model": "anny.Anny(local_changes='default'); phenotype + local_changes as listed",
        "fit": f"bodylens.body.anny_fit_measurements.fit_subjects, {steps} Adam steps",
        "units": "cm, kg, years",
    }
    path.write_text(json.dumps({"meta": meta, "bodies": bodies}, separators=(",", ":")) + "\n")


def report(bodies: list[dict]) -> None:
    print(f"{'measurement':16s} {'MAE':>6s} {'bias':>6s} {'P90':>6s} {'max':>6s} (mesh-ANSUR)")
    for name in TARGET_SCALE:
        e = np.array([b["mesh"][name] - b["ansur"][name] for b in bodies])
        a = np.abs(e)
        print(
            f"{name:16s} {a.mean():6.2f} {e.mean():6.2f} {np.percentile(a, 90):6.2f} {a.max():6.2f}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
