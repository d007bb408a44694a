"""`bodylens train <model>`: reproduce shipped weights from the data on this machine."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model from its data (reproduces shipped weights)")
    targets = p.add_subparsers(dest="target", metavar="MODEL")
    parser = targets.add_parser("parser", help="the clothing parser, on CCP")
    parser.add_argument("--data", type=Path, default=None,
                        help="CCP folder (images/, labels/, eval_label_map.json); "
                        "default ../shared/data/ccp")  # fmt: skip
    parser.add_argument("--out", type=Path, required=True, help="checkpoint to write (.pt)")
    parser.add_argument("--epochs", type=int, default=52)
    parser.add_argument("--warm-epochs", type=int, default=16,
                        help="first epochs at 128x192 (cheaper), the rest at 192x288")  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument("--width", type=int, default=16, help="channel width multiplier")
    parser.add_argument("--rare-image-fraction", type=float, default=0.4,
                        help="oversample classes in fewer photos than this; 0: off")  # fmt: skip
    parser.add_argument("--dice-weight", type=float, default=0.5,
                        help="soft-Dice term weight (cross-entropy has weight 1)")  # fmt: skip
    parser.add_argument("--lovasz-weight", type=float, default=0.5,
                        help="Lovasz-softmax (IoU surrogate) term weight; 0: off")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (on a busy shared machine more threads spin-wait: ~10x slower)",
    )
    parser.add_argument("--log", type=Path, default=None, help="also append progress here")
    parser.add_argument(
        "--init", type=Path, default=None, help="continue from this checkpoint, not from scratch"
    )
    parser.set_defaults(func=run_parser)
    ensemble = targets.add_parser(
        "parser-ensemble", help="pack trained parser checkpoints into one ensemble checkpoint"
    )
    ensemble.add_argument("members", type=Path, nargs="+", help="checkpoints from `train parser`")
    ensemble.add_argument("--out", type=Path, required=True, help="checkpoint to write (.pt)")
    ensemble.set_defaults(func=run_parser_ensemble)
    p.set_defaults(func=lambda args: p.print_help() or 2)


def run_parser(args: argparse.Namespace) -> int:
    from bodylens.errors import InputError
    from bodylens.parse.data import default_ccp_dir
    from bodylens.parse.train import train

    data = args.data or default_ccp_dir()
    if not (data / "images").is_dir() or not (data / "eval_label_map.json").is_file():
        raise InputError(f"{data} is not a CCP folder (images/, labels/, eval_label_map.json)")
    meta = train(
        data,
        args.out,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        width=args.width,
        warm_epochs=args.warm_epochs,
        rare_image_fraction=args.rare_image_fraction,
        dice_weight=args.dice_weight,
        lovasz_weight=args.lovasz_weight,
        seed=args.seed,
        threads=args.threads,
        log_file=args.log,
        init=args.init,
    )
    last = meta["history"][-1] if meta["history"] else {}
    print(f"wrote {args.out}; validation (network size) {last}")
    return 0


def run_parser_ensemble(args: argparse.Namespace) -> int:
    from bodylens.errors import InputError
    from bodylens.parse.model import save_ensemble

    for path in args.members:
        if not path.is_file():
            raise InputError(f"member checkpoint not found: {path}")
    try:
        meta = save_ensemble(args.members, args.out)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    print(f"wrote {args.out}: mean logits of {len(meta['members'])} members")
    return 0
