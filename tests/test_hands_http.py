"""HTTP: PaddleHub Serving's /predict/openpose_hands_estimation and the native /v1/hands, on a
real `bodylens serve` process bound to 127.0.0.1 (conftest's start_server)."""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
import uvicorn

from bodylens import registry
from bodylens.config import Settings

ROOT = Path(__file__).resolve().parents[1]
HANDS = ROOT.parent / "shared" / "data" / "hands"
pytestmark = pytest.mark.skipif(
    not HANDS.is_dir(), reason=f"shared hand photos not found at {HANDS}"
)
PANOPTIC = HANDS / "mmpose_panoptic_005880453.jpg"
URL = "/predict/openpose_hands_estimation"


@pytest.fixture(scope="module")
def server(start_server):
    # Lazy models: the hand and pose models load on the first request (about a second), and
    # the server does not pay for the body model that other routes preload.
    server = start_server(
        env={
            "BODYLENS_MEDIA_ROOT": str(HANDS),
            "BODYLENS_URL_ALLOW_NETWORKS": json.dumps(["127.0.0.2/32"]),
            "BODYLENS_LOG_LEVEL": "debug",
        },
        preload=False,
    )
    return server


@pytest.fixture(scope="module")
def client(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120) as c:
        yield c


def _b64(bgr: np.ndarray) -> str:
    ok, jpg = cv2.imencode(".jpg", bgr)
    assert ok
    return base64.b64encode(jpg.tobytes()).decode()


def test_paddlehub_request_exactly_as_its_readme(client):
    bgr = cv2.imread(str(PANOPTIC))
    r = client.post(URL, json={"images": [_b64(bgr)]})
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "000" and body["msg"] == ""
    results = body["results"]
    assert set(results) == {"all_hand_peaks", "data"}
    peaks = results["all_hand_peaks"]
    assert len(peaks) == 2 and all(len(p) == 21 for p in peaks)
    assert all(isinstance(v, int) for p in peaks for pt in p for v in pt)
    drawn = cv2.imdecode(np.frombuffer(base64.b64decode(results["data"]), np.uint8), 1)
    assert drawn.shape == bgr.shape
    # The readme's client decodes the drawing with cv2 and gets the photo back with the hands.
    from bodylens import hands

    local = hands.predict(bgr)[0]["all_hand_peaks"]
    # The server decoded the JPEG sent by the client, so allow a pixel or two of difference.
    for served, here in zip(peaks, local, strict=True):
        assert np.abs(np.asarray(served) - here).max() <= 3


def test_paddlehub_kwargs_and_several_images(client):
    bgr = cv2.imread(str(PANOPTIC))
    legs = np.ascontiguousarray(bgr[500:, :400])
    r = client.post(
        URL,
        json={
            "images": [_b64(bgr), _b64(legs)],
            "scale": [1.0, 2.0],
            "visualization": True,
            "save_path": "/tmp/should_not_be_written",
        },
    )
    body = r.json()
    assert body["status"] == "000", body["msg"]
    assert isinstance(body["results"], list) and len(body["results"]) == 2
    assert len(body["results"][0]["all_hand_peaks"]) == 2
    assert body["results"][1]["all_hand_peaks"] == []  # no hands: empty, not an error
    assert not Path("/tmp/should_not_be_written").exists()


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({"images": ["%%% not base64 %%%"]}, "not"),
        ({"images": [base64.b64encode(b"plain text, not a picture").decode()]}, "JPEG"),
        ({"images": []}, "images"),
        ({"image": "abc"}, "unexpected keyword"),
        ({"images": ["abc"], "scale": [-1]}, "scale"),
    ],
)
def test_paddlehub_prediction_failures_are_101(client, payload, needle):
    r = client.post(URL, json=payload)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "101" and body["results"] == ""
    assert needle in body["msg"]


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b"images=abc", {"content-type": "application/x-www-form-urlencoded"}),
        (b"{not json", {"content-type": "application/json"}),
        (b'["a list, not an object"]', {"content-type": "application/json"}),
        (b"", {}),
    ],
)
def test_paddlehub_body_not_json_is_112(client, content, headers):
    r = client.post(URL, content=content, headers=headers)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "112" and body["results"] == ""
    assert "application/json" in body["msg"]


@pytest.fixture
def in_process_server() -> Iterator[str]:
    """A uvicorn server in a thread of this process, so a test can break its model registry."""
    from bodylens.serve.app import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(Settings(preload_models=False))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield base
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def test_paddlehub_model_not_available_is_111(in_process_server, monkeypatch):
    """A model that cannot load (e.g. missing weights) answers 111, as PaddleHub does for a
    module it does not serve; the fault is injected by swapping the registered factory."""
    import bodylens.detect.hands  # noqa: F401  (registers the real factory first)

    def broken() -> None:
        raise RuntimeError("hand_landmark_lite.tflite not found")

    monkeypatch.setitem(registry._factories, "hands", broken)
    saved = registry._instances.pop("hands", None)
    try:
        r = httpx.post(in_process_server + URL, json={"images": ["abc"]}, timeout=30)
        body = r.json()
        assert r.status_code == 200 and body["status"] == "111"
        assert "openpose_hands_estimation is not available" in body["msg"]
    finally:
        if saved is not None:
            registry._instances["hands"] = saved


def test_v1_hands_json(client):
    bgr = cv2.imread(str(PANOPTIC))
    r = client.post("/v1/hands", json={"photo_base64": _b64(bgr), "draw": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["width"], body["height"]) == (1280, 720)
    assert [h["side"] for h in body["hands"]] == ["left", "right"]
    hand = body["hands"][0]
    assert hand["side_source"] == "body"
    assert len(hand["keypoints"]) == 21 and len(hand["world"]) == 21
    assert all(0 <= c <= 1 for c in hand["confidence"])
    assert body["all_hand_peaks"] == [h["openpose"] for h in body["hands"]]
    drawn = cv2.imdecode(np.frombuffer(base64.b64decode(body["drawing"]), np.uint8), 1)
    assert drawn.shape == bgr.shape


def test_v1_hands_multipart(client):
    data = PANOPTIC.read_bytes()
    r = client.post(
        "/v1/hands",
        files={"photo": ("cello.jpg", data, "image/jpeg")},
        data={"scale": "1,2", "body_guided": "true"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["hands"]) == 2 and body["drawing"] is None


def test_v1_hands_no_hands_is_empty(client):
    bgr = cv2.imread(str(PANOPTIC))
    legs = _b64(np.ascontiguousarray(bgr[500:, :400]))
    r = client.post("/v1/hands", json={"photo_base64": legs})
    assert r.status_code == 200
    assert r.json()["hands"] == [] and r.json()["all_hand_peaks"] == []


@pytest.mark.parametrize(
    ("kwargs", "status", "needle"),
    [
        ({"content": b"not json", "headers": {"content-type": "application/json"}}, 400, "JSON"),
        ({"json": {"picture": "abc"}}, 400, "not an accepted field"),
        ({"json": {}}, 400, "photo_base64 is required"),
        ({"json": {"photo_base64": base64.b64encode(b"GIF89a....").decode()}}, 415, "JPEG"),
        ({"json": {"photo_base64": "abc", "scale": [0]}}, 400, "scale"),
        ({"json": {"photo_path": "../../etc/passwd"}}, 403, "outside"),
        ({"json": {"photo_url": "http://127.0.0.1:9/x.jpg"}}, 403, ""),
        ({"files": {"selfie": ("a.jpg", b"x", "image/jpeg")}}, 400, "'selfie'"),
    ],
)
def test_v1_hands_bad_input_is_a_json_error(client, kwargs, status, needle):
    r = client.post("/v1/hands", **kwargs)
    assert r.status_code == status, r.text
    assert needle in r.json()["error"]


def test_concurrent_requests_get_the_same_answer(server):
    """The server runs predictions in a thread pool; the shared MediaPipe graph is locked, so
    parallel requests must not mix up their results."""
    from concurrent.futures import ThreadPoolExecutor

    bgr = cv2.imread(str(PANOPTIC))
    payloads = [_b64(bgr), _b64(np.ascontiguousarray(bgr[500:, :400]))] * 3

    def call(image: str) -> list:
        r = httpx.post(f"{server.url}{URL}", json={"images": [image]}, timeout=60)
        assert r.json()["status"] == "000"
        return r.json()["results"]["all_hand_peaks"]

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(call, payloads))
    assert all(len(a) == 2 for a in answers[0::2])
    assert all(a == [] for a in answers[1::2])
    assert all(a == answers[0] for a in answers[0::2])


def test_v1_hands_from_url_and_media_path(client, photo_server):
    url = photo_server.add("/hands/cello.jpg", PANOPTIC.read_bytes()) + "?sig=s3cr3t"
    by_url = client.post("/v1/hands", json={"photo_url": url}).json()
    by_path = client.post("/v1/hands", json={"photo_path": PANOPTIC.name}).json()
    assert len(by_url["hands"]) == 2
    assert by_url["all_hand_peaks"] == by_path["all_hand_peaks"]


def test_nothing_left_on_disk_and_no_image_in_logs(server, client):
    client.post(URL, json={"images": [_b64(cv2.imread(str(PANOPTIC)))], "save_path": "x"})
    leftovers = [p for p in server.tmpdir.rglob("*") if p.is_file()]
    assert leftovers == []
    log = server.log()
    assert not re.search(r"/9j/[A-Za-z0-9+/]{40}", log)  # no base64 JPEG in the log
    assert "s3cr3t" not in log  # no URL query strings either
    assert "/predict/openpose_hands_estimation -> 000" in log
