"""`bodylens serve`: run the HTTP service."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the HTTP service (FastAPI + uvicorn)")
    p.add_argument("--host", default=None, help="bind address (default from config: 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default from config: 5000)")
    p.add_argument("--no-preload", action="store_true", help="load models on first use")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from bodylens.config import get_settings
    from bodylens.serve.app import create_app

    settings = get_settings()
    logging.getLogger("bodylens").setLevel(settings.log_level.upper())
    import torch

    torch.set_num_threads(max(1, settings.torch_threads))
    if args.no_preload:
        settings.preload_models = False
    app = create_app(settings)
    uvicorn.run(
        app,
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_level=settings.log_level.lower(),
        # Access logs would print full URLs with query strings; we log our own lines instead.
        access_log=False,
    )
    return 0
