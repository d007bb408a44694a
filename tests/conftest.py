"""Shared fixtures: paths to the shared data, a real `bodylens serve` process on loopback, and a
small image server to fetch photos from (bound to 127.0.0.2 so tests can allow exactly that
address while the SSRF guard still refuses 127.0.0.1)."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = REPO / "tests" / "data"


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found at {path}")
    return path


def far_away(rgb, times: int = 4):
    """The photo pasted into a canvas ``times`` its size, filled with its border's median colour:
    the same person, seen from much further away. Returns the canvas and the paste offset."""
    import numpy as np

    h, w = rgb.shape[:2]
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    canvas = np.empty((h * times, w * times, 3), np.uint8)
    canvas[:] = np.median(border, axis=0).astype(np.uint8)
    y0, x0 = h * (times - 1) // 3, w * (times - 1) * 2 // 3
    canvas[y0 : y0 + h, x0 : x0 + w] = rgb
    return canvas, (x0, y0)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class LiveServer:
    """`python -m bodylens serve` in a subprocess, with its log captured to a file."""

    def __init__(self, tmp: Path, env: dict[str, str], preload: bool = True) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"server-{self.port}.log"
        self.tmpdir = tmp / f"tmp-{self.port}"
        self.tmpdir.mkdir()
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(self.tmpdir), **env}
        cmd = [sys.executable, "-m", "bodylens", "serve", "--port", str(self.port)]
        if not preload:
            cmd.append("--no-preload")
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, env=full_env, stdout=self._log, stderr=subprocess.STDOUT)

    def wait(self, ready: bool, timeout: float = 300) -> None:
        path = "/readyz" if ready else "/healthz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log()}")
            try:
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"server not {path} after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


@pytest.fixture(scope="session")
def start_server(tmp_path_factory) -> Iterator:
    """Factory: start_server(env={...}, preload=True, ready=True) -> LiveServer (stopped at end)."""
    servers: list[LiveServer] = []

    def start(env: dict[str, str] | None = None, preload: bool = True, ready: bool = True):
        server = LiveServer(tmp_path_factory.mktemp("server"), env or {}, preload)
        servers.append(server)
        server.wait(ready=ready and preload)
        return server

    yield start
    for server in servers:
        server.stop()


class _PhotoHandler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}

    def do_GET(self) -> None:  # noqa: N802
        status, headers, body = self.routes.get(urlsplit(self.path).path, (404, {}, b"nope"))
        if headers.get("X-Sleep"):
            time.sleep(float(headers["X-Sleep"]))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class PhotoServer:
    """Serves registered byte bodies at paths: `add(path, body, status=200, headers=...)`."""

    def __init__(self, host: str) -> None:
        handler = type("Handler", (_PhotoHandler,), {"routes": {}})
        self.routes = handler.routes
        self.httpd = http.server.ThreadingHTTPServer((host, 0), handler)
        self.base = f"http://{host}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def add(self, path: str, body: bytes, status: int = 200, **headers: str) -> str:
        self.routes[path] = (status, {"Content-Type": "image/jpeg", **headers}, body)
        return self.base + path


@pytest.fixture(scope="session")
def photo_server() -> Iterator[PhotoServer]:
    server = PhotoServer("127.0.0.2")
    yield server
    server.httpd.shutdown()


@pytest.fixture(scope="session")
def private_photo_server() -> Iterator[PhotoServer]:
    server = PhotoServer("127.0.0.1")
    yield server
    server.httpd.shutdown()
