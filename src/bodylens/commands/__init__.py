"""CLI subcommands: each module defines `register(subparsers)` and is listed in cli.py."""
