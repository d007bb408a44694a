"""Assemble docs/BENCHMARKS.md from the sections each benchmark script writes.

Each `benchmarks/<area>.py` writes `docs/benchmarks/<area>.md` (its numbers, the machine and
the command); this joins them in a fixed order under one header. Run: python benchmarks/collect.py
"""

from __future__ import annotations

import platform
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
ORDER = [
    "measure",
    "measure_real_depth",
    "synthetic_depth",
    "measure_ansur",
    "latency_street",
    "far_away",
    "reference",
    "baseline",
    "robustness",
    "fusion_transfer",
    "parse",
    "hands",
    "video",
]

HEADER = """# Benchmarks

Every figure below comes from a script in `benchmarks/`; each section names the command that
reproduces it. Reference machine: {machine}, 2 CPU cores, 24 GB RAM, no GPU, Python 3.11.
Several engineers' jobs shared those two cores while these were measured, so wall-clock figures
are pessimistic; sections record the load average next to their timings. Misses are reported
as misses.

To refresh one section, run its script; then `python benchmarks/collect.py` rebuilds this file.
"""


def main() -> None:
    sections = sorted((DOCS / "benchmarks").glob("*.md"))
    rank = {name: i for i, name in enumerate(ORDER)}
    sections.sort(key=lambda p: (rank.get(p.stem, len(ORDER)), p.stem))
    parts = [HEADER.format(machine=f"{platform.machine()} Linux")]
    parts += [p.read_text().strip() + "\n" for p in sections]
    (DOCS / "BENCHMARKS.md").write_text("\n".join(parts))
    print(f"wrote docs/BENCHMARKS.md from {len(sections)} sections")


if __name__ == "__main__":
    main()
