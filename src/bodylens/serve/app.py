"""FastAPI app factory: one app, routers per capability, errors always as JSON."""

from __future__ import annotations

import functools
import importlib
import logging
import secrets
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from bodylens import __version__, registry
from bodylens.config import Settings, get_settings
from bodylens.errors import BodylensError

log = logging.getLogger("bodylens.serve")

# Modules in bodylens.serve.routes that define `router` and `MODELS`.
ROUTE_MODULES: list[str] = [
    "measure",
    "segment",
    "hands",
    "jobs",
]

# Paths that never need the API key (probes and docs).
PUBLIC_PATHS = {"/healthz", "/readyz", "/docs", "/redoc", "/openapi.json"}


T = TypeVar("T")


async def run_cpu(request: Request, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking model work in a worker thread, at most `settings.workers` at a time.

    Keeps the event loop free for /healthz and uploads, and stops a burst of requests from
    oversubscribing the CPU (each fit already uses several threads).
    """
    limiter: anyio.CapacityLimiter = request.app.state.cpu_limiter
    return await anyio.to_thread.run_sync(functools.partial(func, *args, **kwargs), limiter=limiter)


def _route_modules() -> list:
    return [importlib.import_module(f"bodylens.serve.routes.{m}") for m in ROUTE_MODULES]


def preload_names() -> list[str]:
    """Registry names every route needs, in a stable order."""
    return sorted({name for m in _route_modules() for name in getattr(m, "MODELS", [])})


def _fit_worker_state(settings: Settings) -> str:
    """The fit worker's state for /readyz (``body.worker``): off, idle (it starts with the
    first request that has a fit for it), starting, ready or failed; requests fit in turn
    unless it is ready."""
    if not settings.fit_worker:
        return "off"
    from bodylens.body import worker

    current = worker.get_worker(start=False)
    if current is None:
        return "idle"
    if current.failed_start or current.broken:
        return "failed"
    return "ready" if current.ready() else "starting"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    modules = _route_modules()
    models = preload_names()
    state = {"ready": not settings.preload_models, "error": None}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from bodylens.body import api, worker

        fit_worker, api.FIT_WORKER = api.FIT_WORKER, settings.fit_worker
        if settings.preload_models:
            try:
                # Off the event loop: /healthz answers while models load.
                await run_in_threadpool(registry.preload, models)
                state["ready"] = True
            except Exception as exc:  # keep serving /healthz; /readyz says what failed
                log.exception("model preload failed")
                state["error"] = f"{type(exc).__name__}: {exc}"
        yield
        api.FIT_WORKER = fit_worker
        worker.shutdown()

    app = FastAPI(
        title="bodylens",
        version=__version__,
        description="Body measurements, clothing masks, keypoints and pose scores, offline.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.cpu_limiter = anyio.CapacityLimiter(max(1, settings.workers))

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["*"],
        )

    @app.middleware("http")
    async def api_key_guard(request: Request, call_next):
        if (
            settings.api_key
            and request.method != "OPTIONS"
            and request.url.path not in PUBLIC_PATHS
        ):
            given = request.headers.get("x-api-key") or ""
            auth = request.headers.get("authorization") or ""
            if auth.lower().startswith("bearer "):
                given = given or auth[7:]
            if not secrets.compare_digest(given.encode(), settings.api_key.encode()):
                return JSONResponse({"error": "missing or wrong API key"}, status_code=401)
        return await call_next(request)

    @app.exception_handler(BodylensError)
    async def bodylens_error(request: Request, exc: BodylensError):
        log.info("%s %s -> %d %s", request.method, request.url.path, exc.status, exc.message)
        return JSONResponse(exc.to_json(), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        # Every error has one shape, {"error": ...}, unknown paths and methods included (the
        # router's stock "Not Found" / "Method Not Allowed" say which; other details are kept).
        routing = {
            (404, "Not Found"): f"no such endpoint: {request.url.path} (see /docs)",
            (405, "Method Not Allowed"): f"{request.method} is not allowed on {request.url.path}",
        }
        message = routing.get((exc.status_code, exc.detail), str(exc.detail))
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
        message = "; ".join(problems) or "invalid request"
        return JSONResponse({"error": message}, status_code=400)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict:
        """The process is up (does not wait for models)."""
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["ops"])
    async def readyz():
        """Models are loaded and requests will not pay the load cost."""
        body = {"ready": state["ready"], "models": registry.loaded(), "expected": models,
                "fit_worker": _fit_worker_state(settings)}  # fmt: skip
        if state["error"]:
            body["error"] = state["error"]
        return JSONResponse(body, status_code=200 if state["ready"] else 503)

    for module in modules:
        app.include_router(module.router)
    return app
