"""`bodylens eval <target>`: score a capability on labelled data. Targets register in
``TARGETS`` (name -> function adding its subparser), so others can be added alongside."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path


def _add_segment(targets: argparse._SubParsersAction) -> None:
    p = targets.add_parser("segment", help="clothing parser: IoU, mIoU, pixel accuracy, F1")
    p.add_argument("--images", type=Path, required=True, help="folder of photos")
    p.add_argument("--labels", type=Path, required=True, help="folder of label PNGs")
    p.add_argument("--label-map", type=Path, required=True,
                   help="eval_label_map.json (CCP) or a generic scoring map")  # fmt: skip
    p.add_argument("--label-suffix", default="", help="label file = <stem><suffix>.png")
    p.add_argument("--ids", type=Path, help="file with the photo ids to score, one a line")
    p.add_argument("--split", choices=["all", "val"], default="all",
                   help="val: only the parser's held-out validation ids")  # fmt: skip
    p.add_argument("--backend", choices=["parser", "segformer", "hf"], default="parser")
    p.add_argument("--model-dir", type=Path, help="SegFormer checkpoint folder")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on a busy machine more threads spin-wait)",
    )
    p.add_argument("--json", type=Path, help="write the full report (with confusion) here")
    p.set_defaults(func=run_segment)


TARGETS: dict[str, Callable[[argparse._SubParsersAction], None]] = {"segment": _add_segment}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a capability on labelled data")
    targets = p.add_subparsers(dest="target", metavar="TARGET")
    for add in TARGETS.values():
        add(targets)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def run_segment(args: argparse.Namespace) -> int:
    from bodylens.errors import InputError
    from bodylens.parse.api import get_backend
    from bodylens.parse.data import validation_ids
    from bodylens.parse.evaluate import evaluate_folder, load_scoring_map

    for folder in (args.images, args.labels):
        if not folder.is_dir():
            raise InputError(f"no such folder: {folder}")
    scoring = load_scoring_map(args.label_map)
    ids = None
    if args.ids:
        ids = {line.strip() for line in args.ids.read_text().splitlines() if line.strip()}
    if args.split == "val":
        stems = [p.stem for p in args.images.iterdir()]
        val = set(validation_ids(stems))
        ids = val if ids is None else ids & val
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    backend = get_backend(args.backend, model_dir=args.model_dir)
    report = evaluate_folder(args.images, args.labels, scoring, backend, ids=ids,
                             label_suffix=args.label_suffix, progress=True)  # fmt: skip
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


def format_report(report: dict) -> str:
    lines = [f"{report['images']} images, {report['seconds_per_image'] * 1000:.0f} ms/image"]
    lines.append(f"{'class':<16}{'IoU':>8}{'F1':>8}")
    for c in report["classes"]:
        iou, f1 = report["iou"][c], report["f1"][c]
        lines.append(f"{c:<16}{_fmt(iou):>8}{_fmt(f1):>8}")
    lines.append(f"mIoU {_fmt(report['miou'])}  mean F1 {_fmt(report['mean_f1'])}  "
                 f"pixel accuracy {_fmt(report['pixel_accuracy'])}")  # fmt: skip
    if "coarse3" in report:
        c3 = report["coarse3"]
        per = ", ".join(f"{c} {_fmt(v)}" for c, v in c3["iou"].items())
        lines.append(f"clothes/skin/background: mIoU {_fmt(c3['miou'])} "
                     f"pixel accuracy {_fmt(c3['pixel_accuracy'])} ({per})")  # fmt: skip
    return "\n".join(lines)


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"
