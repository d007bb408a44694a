"""The one `bodylens` command. Each subcommand lives in `bodylens.commands.<name>` and only
translates arguments into a library call; heavy imports happen inside the command, so
`bodylens --help` stays instant."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from bodylens.errors import BodylensError

# Modules in bodylens.commands that each define `register(subparsers)`.
COMMAND_MODULES = [
    "serve",
    "warmup",
    "measure",
    "segment",
    "hands",
    "video",
    "train",
    "eval",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bodylens",
        description="Body measurements, clothing masks, keypoints and pose scores from photos "
        "and videos, offline on CPU.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"bodylens.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except BodylensError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
