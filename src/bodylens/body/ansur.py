"""ANSUR II statistics: the height/weight/sex size calculator and Gaussian body-measurement priors.

Why: a photo fit is only worth something if it beats what a size calculator gets from height,
weight and sex alone, and it needs data-driven priors for what a single view cannot see (depth,
girths behind the silhouette). Both come from the same per-sex Gaussian over ANSUR II
measurements: conditioning on height + weight (+ BMI) *is* the linear regression baseline, and
conditioning on the widths a photo shows gives the fitting priors.

Data: ANSUR II (US Army Natick, 2012, public release; 4,082 men and 1,986 women, lengths in mm,
``weightkg`` in tenths of kg). The runtime never reads the survey: it reads the derived per-sex
means/covariances shipped in ``bodylens/data/ansur_stats.json`` (built with
``python -m bodylens.body.ansur --write-stats``). Everything here is in cm and kg.

Subject split: a subject is in the *score* split when the first 8 bytes of
``sha256("bodylens-ansur-split-v1:<sex>:<SubjectId>")`` read as a big-endian integer, divided by
2**64, are below ``SCORE_FRACTION`` (0.2); otherwise it is in the *prior* split. Priors and the
shipped statistics use only the prior split; benchmark bodies come only from the score split.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from bodylens.errors import InputError

SPLIT_SALT = "bodylens-ansur-split-v1"
SCORE_FRACTION = 0.2
SEXES = ("male", "female")
STATS_PATH = Path(__file__).resolve().parents[1] / "data" / "ansur_stats.json"

# Canonical name -> (ANSUR II column(s) summed, note). Values are converted mm -> cm.
# Names follow the body measurement table (ISO 8559-1 names, snake_case).
ANSUR_COLUMNS: dict[str, tuple[tuple[str, ...], str]] = {
    "height": (("stature",), "stature, floor to vertex (ISO 8559-1 5.1.1)"),
    "chest_girth": (("chestcircumference",), "at nipple / bust-point level (ISO 5.3.4)"),
    "waist_girth": (("waistcircumference",), "at the omphalion (navel), not natural waist"),
    "hip_girth": (("buttockcircumference",), "at maximum buttock protrusion (ISO 5.3.13)"),
    "neck_girth": (("neckcircumference",), "just below the larynx (ISO 5.3.2)"),
    "neck_base_girth": (("neckcircumferencebase",), "at the base of the neck"),
    "shoulder_width": (("biacromialbreadth",), "straight acromion to acromion"),
    "shoulder_breadth": (("bideltoidbreadth",), "widest across the deltoids (front view width)"),
    "arm_length": (("sleeveoutseam",), "acromion to wrist along the outside of the arm"),
    "upper_arm_girth": (("bicepscircumferenceflexed",), "PROXY: biceps *flexed* (no relaxed)"),
    "wrist_girth": (("wristcircumference",), "at the wrist (ISO 5.3.19)"),
    "inside_leg": (("crotchheight",), "crotch to floor, standing (ISO 5.1.15)"),
    "outside_leg": (("waistheightomphalion",), "PROXY: navel-level waist height to floor"),
    # The whole front-to-back length (mean 62 cm); the posterior column (35 cm) is its back
    # part, not a second piece to add.
    "crotch_length": (
        ("crotchlengthomphalion",),
        "front navel-waist through the crotch to back navel-waist",
    ),
    "back_neck_to_waist": (("waistbacklength",), "cervicale to back waist (ISO 5.4.5)"),
    "thigh_girth": (("thighcircumference",), "at the gluteal furrow (ISO 5.3.20)"),
    "lower_thigh_girth": (("lowerthighcircumference",), "just above the knee"),
    "calf_girth": (("calfcircumference",), "maximum calf (ISO 5.3.24)"),
    "ankle_girth": (("anklecircumference",), "minimum above the malleoli (ISO 5.3.25)"),
    "shoulder_girth": (("shouldercircumference",), "around both deltoids"),
    "chest_breadth": (("chestbreadth",), "chest width at nipple level"),
    "chest_depth": (("chestdepth",), "chest depth at nipple level"),
    "waist_breadth": (("waistbreadth",), "waist width at the omphalion"),
    "waist_depth": (("waistdepth",), "waist depth at the omphalion"),
    "hip_breadth": (("hipbreadth",), "hip width standing"),
    "hip_depth": (("buttockdepth",), "buttock depth"),
    "chest_height": (("chestheight",), "floor to nipple level"),
    "waist_height": (("waistheightomphalion",), "floor to navel"),
    "hip_height": (("buttockheight",), "floor to buttock level"),
    "knee_height": (("kneeheightmidpatella",), "floor to mid patella"),
    "acromial_height": (("acromialheight",), "floor to acromion"),
    "cervicale_height": (("cervicaleheight",), "floor to C7"),
}
# Measurements of the product's set that ANSUR II does not have (no prior from data).
NOT_IN_ANSUR = ("underbust_girth", "stomach_girth", "knee_girth")
# Variables of the Gaussian: the measurements plus weight, BMI and age.
EXTRA = ("weight", "bmi", "age")
VARIABLES: tuple[str, ...] = (*ANSUR_COLUMNS, *EXTRA)
BASELINE_INPUTS = ("height", "weight", "bmi")
# Widths and depths a front / side photo shows, usable as noisy knowns in conditional_prior.
# Their ANSUR definitions are caliper landmarks: map a silhouette width to them before use.
PHOTO_WIDTHS = ("shoulder_breadth", "chest_breadth", "waist_breadth", "hip_breadth")
PHOTO_DEPTHS = ("chest_depth", "waist_depth", "hip_depth")
# Correlation of noisy observations' errors: (names, matrix), matrix indexed like names.
NoiseCorrelation = tuple[tuple[str, ...], np.ndarray]


@dataclass(frozen=True)
class AnsurData:
    """All subjects, one row each; ``values[name]`` in cm (weight kg, age years)."""

    subject_id: np.ndarray  # int
    sex: np.ndarray  # "male" / "female"
    values: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.subject_id)

    def subset(self, mask: np.ndarray) -> AnsurData:
        return AnsurData(
            self.subject_id[mask], self.sex[mask], {k: v[mask] for k, v in self.values.items()}
        )

    def matrix(self, names: Iterable[str]) -> np.ndarray:
        return np.stack([self.values[n] for n in names], axis=1)


def default_root() -> Path:
    """``<repo>/../shared/data/ansur2`` (development data, never needed at run time)."""
    return Path(__file__).resolve().parents[3].parent / "shared" / "data" / "ansur2"


def split_fraction(subject_id: int | str, sex: str) -> float:
    """Deterministic number in [0, 1) from the subject; see the module docstring."""
    digest = hashlib.sha256(f"{SPLIT_SALT}:{sex}:{subject_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(subject_id: int | str, sex: str) -> str:
    """``"score"`` (benchmark bodies) or ``"prior"`` (statistics, training)."""
    return "score" if split_fraction(subject_id, sex) < SCORE_FRACTION else "prior"


def load_ansur(root: Path | None = None) -> AnsurData:
    """Both CSVs as one table in cm/kg. Raises InputError when the files are missing."""
    root = Path(root) if root is not None else default_root()
    files = {
        "male": root / "ANSUR_II_MALE_Public.csv",
        "female": root / "ANSUR_II_FEMALE_Public.csv",
    }
    ids: list[int] = []
    sexes: list[str] = []
    cols: dict[str, list[float]] = {n: [] for n in VARIABLES}
    for sex, path in files.items():
        if not path.is_file():
            raise InputError(f"ANSUR II file not found: {path}")
        with path.open(newline="", encoding="utf-8", errors="replace") as fh:
            for row in csv.DictReader(fh):
                row = {k.strip().lower(): v for k, v in row.items() if k}
                ids.append(int(row["subjectid"]))
                sexes.append(sex)
                for name, (columns, _) in ANSUR_COLUMNS.items():
                    cols[name].append(sum(float(row[c]) for c in columns) / 10.0)
                weight = float(row["weightkg"]) / 10.0
                cols["weight"].append(weight)
                cols["bmi"].append(weight / (cols["height"][-1] / 100.0) ** 2)
                cols["age"].append(float(row["age"]))
    return AnsurData(
        np.asarray(ids), np.asarray(sexes), {k: np.asarray(v, dtype=float) for k, v in cols.items()}
    )


def split_masks(data: AnsurData) -> dict[str, np.ndarray]:
    score = np.array(
        [split_of(i, s) == "score" for i, s in zip(data.subject_id, data.sex, strict=True)]
    )
    return {"score": score, "prior": ~score}


# --------------------------------------------------------------------------- Gaussian model


@dataclass(frozen=True)
class Gaussian:
    """Joint normal over ``names`` (one sex)."""

    names: tuple[str, ...]
    mean: np.ndarray
    cov: np.ndarray
    n: int

    @classmethod
    def fit(cls, x: np.ndarray, names: Iterable[str]) -> Gaussian:
        return cls(tuple(names), x.mean(axis=0), np.cov(x, rowvar=False), len(x))

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise InputError(
                f"unknown measurement {name!r}; known: {', '.join(self.names)}"
            ) from None

    def condition(
        self,
        known: Mapping[str, float | tuple[float, float]],
        noise_corr: NoiseCorrelation | None = None,
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Posterior mean and covariance of all variables given noisy/exact observations.

        ``known`` maps a name to a value (exact) or (value, sigma) (a noisy observation, e.g.
        a width read off a photo). ``noise_corr`` (names, correlation matrix): how the noisy
        observations' errors go together (one fitted body reads all its girths too large at
        once); observations it does not name are independent. Returns (mean, cov,
        log-likelihood of the observations); exactly known variables come back with zero
        variance.
        """
        idx = [self.index(k) for k in known]
        if not idx:
            return self.mean.copy(), self.cov.copy(), 0.0
        obs = np.array([v[0] if isinstance(v, tuple) else v for v in known.values()], float)
        noise = np.array([v[1] if isinstance(v, tuple) else 0.0 for v in known.values()], float)
        corr = np.eye(len(idx))
        if noise_corr is not None:
            where = {n: i for i, n in enumerate(noise_corr[0])}
            pos = [where.get(k) for k in known]
            for a, pa in enumerate(pos):
                for b, pb in enumerate(pos):
                    if a != b and pa is not None and pb is not None:
                        corr[a, b] = noise_corr[1][pa, pb]
        s_kk = self.cov[np.ix_(idx, idx)] + corr * np.outer(noise, noise)
        s_ak = self.cov[:, idx]
        # A tiny ridge keeps near-collinear exact knowns (height, weight, BMI) well posed.
        s_kk = s_kk + np.eye(len(idx)) * 1e-9 * np.trace(s_kk)
        resid = obs - self.mean[idx]
        gain = np.linalg.solve(s_kk, s_ak.T).T
        mean = self.mean + gain @ resid
        cov = self.cov - gain @ s_ak.T
        cov = (cov + cov.T) / 2
        sign, logdet = np.linalg.slogdet(s_kk)
        loglik = -0.5 * (
            resid @ np.linalg.solve(s_kk, resid) + logdet + len(idx) * math.log(2 * math.pi)
        )
        return mean, cov, float(loglik)

    def to_json(self) -> dict[str, object]:
        return {
            "n": self.n,
            "names": list(self.names),
            "mean": [round(float(v), 5) for v in self.mean],
            "cov": [[round(float(v), 6) for v in row] for row in self.cov],
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, object]) -> Gaussian:
        return cls(
            tuple(obj["names"]),  # type: ignore[arg-type]
            np.asarray(obj["mean"], float),
            np.asarray(obj["cov"], float),
            int(obj["n"]),  # type: ignore[arg-type]
        )


def fit_models(data: AnsurData, names: Iterable[str] = VARIABLES) -> dict[str, Gaussian]:
    names = tuple(names)
    return {sex: Gaussian.fit(data.subset(data.sex == sex).matrix(names), names) for sex in SEXES}


def build_stats(data: AnsurData) -> dict[str, object]:
    """The shipped statistics: per-sex Gaussians fitted on the prior split only."""
    prior = data.subset(split_masks(data)["prior"])
    models = fit_models(prior)
    return {
        "source": "ANSUR II public release (US Army Natick 2012), prior split only; "
        "derived means/covariances in cm, kg, years; built by bodylens.body.ansur",
        "split": {"salt": SPLIT_SALT, "score_fraction": SCORE_FRACTION},
        "definitions": {
            n: {"ansur": list(c), "note": note} for n, (c, note) in ANSUR_COLUMNS.items()
        },
        "models": {sex: m.to_json() for sex, m in models.items()},
    }


def write_stats(path: Path = STATS_PATH, root: Path | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(build_stats(load_ansur(root)), separators=(",", ":")) + "\n")
    return path


@lru_cache(maxsize=1)
def shipped_models() -> dict[str, Gaussian]:
    """The per-sex Gaussians from the packaged statistics file (no survey data needed)."""
    if not STATS_PATH.is_file():
        raise FileNotFoundError(
            f"{STATS_PATH} is missing; run python -m bodylens.body.ansur --write-stats"
        )
    obj = json.loads(STATS_PATH.read_text())
    return {sex: Gaussian.from_json(m) for sex, m in obj["models"].items()}


# --------------------------------------------------------------------------- public API


def _normalise_sex(sex: str | None) -> str | None:
    if sex is None:
        return None
    s = sex.strip().lower()
    if s in ("m", "male", "man", "homme", "h"):
        return "male"
    if s in ("f", "female", "woman", "femme"):
        return "female"
    raise InputError(f"sex must be 'male' or 'female' (or omitted), got {sex!r}")


def _with_bmi(
    known: Mapping[str, float | tuple[float, float]],
) -> dict[str, float | tuple[float, float]]:
    """Add BMI when height and weight are both exact: it carries the non-linear part."""
    out = dict(known)
    h, w = out.get("height"), out.get("weight")
    if "bmi" not in out and isinstance(h, int | float) and isinstance(w, int | float):
        out["bmi"] = float(w) / (float(h) / 100.0) ** 2
    return out


def conditional_prior(
    known: Mapping[str, float | tuple[float, float]],
    sex: str | None = None,
    models: Mapping[str, Gaussian] | None = None,
    noise_corr: NoiseCorrelation | None = None,
) -> dict[str, tuple[float, float]]:
    """Mean and σ of every ANSUR variable given what is known (cm, kg).

    ``known`` values are exact numbers or ``(value, sigma)`` for noisy photo readings, whose
    errors may be correlated (``noise_corr``, see ``Gaussian.condition``). With
    ``sex=None`` the two per-sex answers are mixed by how well each explains the knowns.
    Exactly known variables come back unchanged with σ 0.
    """
    models = models if models is not None else shipped_models()
    sex = _normalise_sex(sex)
    known = _with_bmi(known)
    for name, value in known.items():
        v = value[0] if isinstance(value, tuple) else value
        if not math.isfinite(float(v)) or (isinstance(value, tuple) and not value[1] >= 0):
            raise InputError(f"known {name!r} must be a finite number (and sigma >= 0)")
    sexes = [sex] if sex else list(SEXES)
    results = [models[s].condition(known, noise_corr) for s in sexes]
    logliks = np.array([r[2] for r in results])
    weights = np.exp(logliks - logliks.max())
    weights /= weights.sum()
    names = models[sexes[0]].names
    mean = sum(w * r[0] for w, r in zip(weights, results, strict=True))
    second = sum(w * (np.diag(r[1]) + r[0] ** 2) for w, r in zip(weights, results, strict=True))
    var = np.clip(second - mean**2, 0.0, None)
    out = {n: (float(mean[i]), float(math.sqrt(var[i]))) for i, n in enumerate(names)}
    for name, value in known.items():
        if not isinstance(value, tuple):
            out[name] = (float(value), 0.0)
    return out


def predict_baseline(
    height_cm: float,
    weight_kg: float,
    sex: str | None,
    models: Mapping[str, Gaussian] | None = None,
) -> dict[str, tuple[float, float]]:
    """The size calculator: every measurement's mean and σ from height, weight and sex only."""
    if not (50.0 <= height_cm <= 260.0):
        raise InputError(f"height_cm must be between 50 and 260, got {height_cm}")
    if not (20.0 <= weight_kg <= 350.0):
        raise InputError(f"weight_kg must be between 20 and 350, got {weight_kg}")
    return conditional_prior({"height": float(height_cm), "weight": float(weight_kg)}, sex, models)


# --------------------------------------------------------------------------- evaluation


def fold_of(subject_id: int, sex: str, k: int = 5) -> int:
    """Deterministic CV fold from the same hash family as the split (salted differently)."""
    digest = hashlib.sha256(f"{SPLIT_SALT}-fold:{sex}:{subject_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % k


def baseline_predictions(
    train: AnsurData, test: AnsurData, targets: Iterable[str]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Baseline mean/σ for each target on ``test`` using per-sex Gaussians fitted on ``train``."""
    targets = tuple(targets)
    names = (*BASELINE_INPUTS, *targets)
    models = fit_models(train, names)
    mu = {t: np.zeros(len(test)) for t in targets}
    sd = {t: np.zeros(len(test)) for t in targets}
    for sex in SEXES:
        rows = np.flatnonzero(test.sex == sex)
        if not len(rows):
            continue
        m = models[sex]
        x = test.matrix(BASELINE_INPUTS)[rows]
        # The conditional is linear in the knowns: one solve serves all rows.
        ik = [m.index(n) for n in BASELINE_INPUTS]
        s_kk = m.cov[np.ix_(ik, ik)]
        gain = np.linalg.solve(s_kk, m.cov[:, ik].T).T
        pred = m.mean + (x - m.mean[ik]) @ gain.T
        var = np.diag(m.cov - gain @ m.cov[:, ik].T)
        for t in targets:
            j = m.index(t)
            mu[t][rows] = pred[:, j]
            sd[t][rows] = math.sqrt(max(var[j], 0.0))
    return {t: (mu[t], sd[t]) for t in targets}


def cross_validate_baseline(
    data: AnsurData, targets: Iterable[str], k: int = 5
) -> dict[str, dict[str, float]]:
    """k-fold CV of the height+weight+sex regression: MAE, P90, coverage of ±σ per target."""
    targets = tuple(targets)
    folds = np.array([fold_of(i, s, k) for i, s in zip(data.subject_id, data.sex, strict=True)])
    err = {t: np.zeros(len(data)) for t in targets}
    sig = {t: np.zeros(len(data)) for t in targets}
    for f in range(k):
        test = folds == f
        pred = baseline_predictions(data.subset(~test), data.subset(test), targets)
        for t in targets:
            err[t][test] = pred[t][0] - data.values[t][test]
            sig[t][test] = pred[t][1]
    return {t: summarize_errors(err[t], sig[t]) for t in targets}


def summarize_errors(err: np.ndarray, sigma: np.ndarray | None = None) -> dict[str, float]:
    a = np.abs(np.asarray(err, float))
    out = {"mae": float(a.mean()), "p90": float(np.percentile(a, 90)), "max": float(a.max())}
    out["bias"] = float(np.mean(err))
    if sigma is not None:
        out["coverage"] = float(np.mean(a <= np.asarray(sigma, float)))
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-stats", action="store_true", help=f"write {STATS_PATH}")
    parser.add_argument("--root", type=Path, default=None, help="ANSUR II folder")
    args = parser.parse_args(argv)
    if args.write_stats:
        print(write_stats(root=args.root))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
