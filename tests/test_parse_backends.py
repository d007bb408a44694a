"""Optional backends: a local SegFormer folder, and the remote HF client against a loopback
server that speaks the same protocol and injects 429/503/timeouts."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bodylens.errors import UpstreamError

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CCP = SHARED / "data" / "ccp"
needs_ccp = pytest.mark.skipif(not CCP.is_dir(), reason=f"CCP data not found at {CCP}")


def test_tiny_random_segformer_from_a_local_folder(tmp_path):
    transformers = pytest.importorskip("transformers", reason="optional extra 'segformer'")
    import torch

    from bodylens.parse.labels import ATR18
    from bodylens.parse.segformer import SegformerParser

    torch.manual_seed(0)
    config = transformers.SegformerConfig(
        num_channels=3, num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1],
        hidden_sizes=[8, 16], patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 1],
        mlp_ratios=[2, 2], decoder_hidden_size=16, num_labels=len(ATR18),
        id2label=dict(enumerate(ATR18)), label2id={n: i for i, n in enumerate(ATR18)},
    )  # fmt: skip
    transformers.SegformerForSemanticSegmentation(config).save_pretrained(tmp_path)
    transformers.SegformerImageProcessor(size={"height": 64, "width": 64}).save_pretrained(tmp_path)
    parser = SegformerParser(tmp_path)
    rgb = np.random.default_rng(0).integers(0, 255, (90, 60, 3), dtype=np.uint8)
    result = parser(rgb)
    assert result.labels.shape == (90, 60) and result.classes == ATR18
    assert result.backend == "segformer"
    assert set(result.present()) <= set(ATR18)
    assert len(result.to_hf()) == len(result.present())


def test_segformer_folder_errors(tmp_path):
    from bodylens.errors import InputError
    from bodylens.parse.api import get_backend

    with pytest.raises(InputError):
        get_backend("segformer")
    pytest.importorskip("transformers")
    with pytest.raises(InputError, match="config.json"):
        get_backend("segformer", model_dir=tmp_path)


class FlakyHF(BaseHTTPRequestHandler):
    """Answers like the HF Inference API, after failing as ``script`` says:
    'ok', 429, 503 (model loading), 500, or 'slow' (sleeps past the client timeout)."""

    script: list = []
    seen: list = []
    answer: list = []

    def do_POST(self):  # noqa: N802 - http.server API
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        FlakyHF.seen.append((time.monotonic(), self.headers.get("authorization"), len(body)))
        step = FlakyHF.script.pop(0) if FlakyHF.script else "ok"
        if step == "slow":
            time.sleep(1.0)
            step = "ok"
        if step == 429:
            self._send(429, {"error": "Rate limit reached"}, {"Retry-After": "0"})
        elif step == 503:
            self._send(503, {"error": "Model is loading", "estimated_time": 0.05})
        elif step == 500:
            self._send(500, {"error": "boom"})
        elif step == 401:
            self._send(401, {"error": "Invalid credentials in Authorization header"})
        else:
            self._send(200, FlakyHF.answer)

    def _send(self, status, obj, headers=None):
        data = json.dumps(obj).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and left

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyHF)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FlakyHF.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/models/sayeed99/segformer_b3_clothes"
    server.shutdown()
    server.server_close()


def _real_answer(rgb):
    """A real answer for the photo: our parser's masks in the HF format."""
    import bodylens

    return bodylens.segment(rgb).to_hf()


@needs_ccp
def test_remote_client_retries_429_503_timeout_then_decodes(flaky):
    from bodylens.io.images import read_image_file
    from bodylens.parse.remote import RemoteParser

    rgb = read_image_file(CCP / "images" / "0002.jpg")
    FlakyHF.answer = _real_answer(rgb)
    FlakyHF.script = [429, 503, "slow", 500]
    client = RemoteParser(flaky, "hf_test_token", timeout_s=0.5, max_retries=4, backoff_s=0.01,
                          rate_per_s=None)  # fmt: skip
    result = client(rgb)
    assert len(FlakyHF.seen) == 5
    assert all(auth == "Bearer hf_test_token" for _, auth, _ in FlakyHF.seen)
    assert result.labels.shape == rgb.shape[:2]
    assert result.present() == [a["label"] for a in FlakyHF.answer]
    local = np.zeros(rgb.shape[:2], bool)
    for item in FlakyHF.answer:
        with Image.open(__import__("io").BytesIO(base64.b64decode(item["mask"]))) as im:
            mask = np.asarray(im) > 0
        assert (result.mask(item["label"]) == mask).all()
        local |= mask
    assert local.all()
    client.close()


def test_remote_client_gives_up_and_reports(flaky):
    from bodylens.parse.remote import RemoteParser

    FlakyHF.script = [503, 503, 503]
    client = RemoteParser(flaky, None, timeout_s=2, max_retries=2, backoff_s=0.01,
                          rate_per_s=None)  # fmt: skip
    with pytest.raises(UpstreamError, match="after 3 attempts: HTTP 503: Model is loading"):
        client.request(b"\xff\xd8\xff fake")
    FlakyHF.script = [401]
    with pytest.raises(UpstreamError, match="refused the request: HTTP 401"):
        client.request(b"\xff\xd8\xff fake")
    client.close()


def test_remote_client_rate_and_concurrency_limits(flaky):
    from concurrent.futures import ThreadPoolExecutor

    from bodylens.parse.remote import RemoteParser

    FlakyHF.answer = []
    FlakyHF.script = []
    client = RemoteParser(flaky, None, rate_per_s=20, concurrency=2)
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(client.request, [b"x"] * 6))
    assert answers == [[]] * 6
    times = sorted(t for t, _, _ in FlakyHF.seen)
    # 6 requests at <= 20/s take at least 5 intervals of 50 ms.
    assert times[-1] - times[0] >= 0.2
    client.close()
