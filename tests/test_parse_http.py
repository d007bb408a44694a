"""The segment routes on a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import base64
import io
import socket
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CCP = SHARED / "data" / "ccp"
pytestmark = pytest.mark.skipif(not CCP.is_dir(), reason=f"CCP data not found at {CCP}")
PHOTO = CCP / "images" / "0011.jpg"


@pytest.fixture(scope="module")
def base_url():
    import uvicorn

    from bodylens.config import Settings
    from bodylens.serve.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(Settings(preload_models=True, api_key=None))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    else:
        raise RuntimeError("server did not become ready")
    yield url
    server.should_exit = True
    thread.join(10)


def _mask(text: str) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(base64.b64decode(text))))


def test_ready_lists_the_parser(base_url):
    body = httpx.get(f"{base_url}/readyz").json()
    assert "parser" in body["models"] and "parser" in body["expected"]


def test_segment_multipart_raw_and_json_agree(base_url):
    data = PHOTO.read_bytes()
    a = httpx.post(f"{base_url}/segment", files={"image": ("p.jpg", data, "image/jpeg")},
                   timeout=60)  # fmt: skip
    b = httpx.post(f"{base_url}/segment?masks=true&overlay=true", content=data,
                   headers={"Content-Type": "image/jpeg"}, timeout=60)  # fmt: skip
    c = httpx.post(f"{base_url}/segment", json={"image": base64.b64encode(data).decode()},
                   timeout=60)  # fmt: skip
    for r in (a, b, c):
        assert r.status_code == 200, r.text
    ja, jb, jc = a.json(), b.json(), c.json()
    assert (ja["width"], ja["height"]) == Image.open(PHOTO).size
    assert ja["labels"] == jb["labels"] == jc["labels"]
    labels = _mask(ja["labels"])
    assert labels.shape == (ja["height"], ja["width"])
    assert {ja["classes"][i] for i in np.unique(labels)} == set(ja["fractions"])
    assert [m["label"] for m in jb["masks"]] == list(ja["fractions"])
    overlay = _mask(jb["overlay"])
    assert overlay.shape[0] == ja["height"] and overlay.ndim == 3


def test_hf_routes_answer_like_the_hosted_api(base_url):
    data = PHOTO.read_bytes()
    raw = httpx.post(f"{base_url}/models/sayeed99/segformer_b3_clothes", content=data,
                     headers={"Authorization": "Bearer anything"}, timeout=60)  # fmt: skip
    js = httpx.post(f"{base_url}/hf/segment", json={"inputs": base64.b64encode(data).decode()},
                    timeout=60)  # fmt: skip
    assert raw.status_code == js.status_code == 200
    assert raw.json() == js.json()
    answer = raw.json()
    width, height = Image.open(PHOTO).size
    names = [a["label"] for a in answer]
    assert "Background" in names and "Face" in names and len(set(names)) == len(names)
    cover = np.zeros((height, width), int)
    for item in answer:
        mask = _mask(item["mask"])
        assert mask.shape == (height, width) and set(np.unique(mask)) <= {0, 255}
        cover += mask > 0
    assert (cover == 1).all()


def test_bad_requests_get_json_errors(base_url):
    r = httpx.post(f"{base_url}/segment", content=b"hello, not an image")
    assert r.status_code == 415 and "error" in r.json()
    r = httpx.post(f"{base_url}/hf/segment", json={"inputs": "@@@not base64@@@"})
    assert r.status_code in (400, 415) and "error" in r.json()
    r = httpx.post(f"{base_url}/hf/segment", json={"wrong": 1})
    assert r.status_code == 400 and "inputs" in r.json()["error"]
    r = httpx.post(f"{base_url}/segment", content=b"")
    assert r.status_code == 400
    r = httpx.post(f"{base_url}/models/someone/other-model", content=PHOTO.read_bytes())
    assert r.status_code == 404 and "unknown model" in r.json()["error"]
    r = httpx.post(f"{base_url}/segment", files={"other": ("x.jpg", b"123", "image/jpeg")})
    assert r.status_code == 400 and "image" in r.json()["error"]
