"""Client of the Hugging Face Inference API for image segmentation (SegFormer-B3-clothes).

For users who keep calling the hosted model: it speaks the same protocol our HF route answers
(raw image bytes in, ``[{"score", "label", "mask"}]`` out) and handles what makes the hosted
API painful: a concurrency cap, a request-rate cap, retries with exponential backoff on
429/503/5xx and timeouts (honouring ``Retry-After`` and the 503 ``estimated_time``).
The token comes from settings (``BODYLENS_HF_TOKEN`` in the environment or ``.env``).
"""

from __future__ import annotations

import base64
import io
import logging
import random
import threading
import time

import numpy as np

from bodylens.errors import UpstreamError
from bodylens.parse.api import SegmentResult
from bodylens.parse.labels import ATR18

log = logging.getLogger(__name__)

RETRY_STATUSES = {429, 500, 502, 503, 504}


class RemoteParser:
    """Thread-safe client; one instance shares its limits across threads."""

    name = "hf"

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout_s: float = 30.0,
        max_retries: int = 4,
        concurrency: int = 4,
        rate_per_s: float | None = 5.0,
        backoff_s: float = 0.5,
        max_backoff_s: float = 20.0,
    ) -> None:
        import httpx

        self.url = url
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._slots = threading.Semaphore(max(1, concurrency))
        self._min_interval = 1.0 / rate_per_s if rate_per_s else 0.0
        self._next_at = 0.0
        self._rate_lock = threading.Lock()
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(headers=headers, timeout=timeout_s, follow_redirects=False)

    def close(self) -> None:
        self._client.close()

    def __call__(self, rgb: np.ndarray) -> SegmentResult:
        from bodylens.io.images import encode_jpeg

        return self.segment_bytes(encode_jpeg(rgb, quality=95), rgb.shape[:2])

    def segment_bytes(self, data: bytes, size_hw: tuple[int, int] | None = None) -> SegmentResult:
        """Send encoded image bytes; decode the answer into a label map."""
        answer = self.request(data)
        return decode_hf_answer(answer, size_hw)

    def request(self, data: bytes) -> list[dict]:
        """POST with limits and retries; the parsed JSON list, or UpstreamError."""
        import httpx

        last = "no attempt"
        for attempt in range(self.max_retries + 1):
            wait = None
            self._wait_for_rate()
            with self._slots:
                try:
                    resp = self._client.post(
                        self.url, content=data, headers={"Content-Type": "application/octet-stream"}
                    )
                except httpx.TimeoutException:
                    last = f"timed out after {self.timeout_s:g} s"
                except httpx.TransportError as exc:
                    last = f"connection failed ({type(exc).__name__})"
                else:
                    if resp.status_code == 200:
                        return _parse_json_list(resp)
                    last = f"HTTP {resp.status_code}{_error_text(resp)}"
                    if resp.status_code not in RETRY_STATUSES:
                        raise UpstreamError(f"the segmentation API refused the request: {last}")
                    wait = _server_wait(resp)
            if attempt == self.max_retries:
                break
            delay = min(self.max_backoff_s, self.backoff_s * 2**attempt)
            delay = max(delay, wait or 0.0) * (1 + 0.1 * random.random())
            log.info("segmentation API: %s; retry %d in %.1f s", last, attempt + 1, delay)
            time.sleep(min(delay, self.max_backoff_s))
        raise UpstreamError(
            f"the segmentation API failed after {self.max_retries + 1} attempts: {last}"
        )

    def _wait_for_rate(self) -> None:
        if not self._min_interval:
            return
        with self._rate_lock:
            now = time.monotonic()
            start = max(now, self._next_at)
            self._next_at = start + self._min_interval
        if start > now:
            time.sleep(start - now)


def _server_wait(resp) -> float | None:
    retry_after = resp.headers.get("retry-after")
    if retry_after:
        try:
            return float(retry_after)
        except ValueError:
            return None
    try:
        body = resp.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("estimated_time"), int | float):
        return float(body["estimated_time"])
    return None


def _error_text(resp) -> str:
    try:
        body = resp.json()
    except ValueError:
        return ""
    if isinstance(body, dict) and body.get("error"):
        return f": {str(body['error'])[:200]}"
    return ""


def _parse_json_list(resp) -> list[dict]:
    try:
        body = resp.json()
    except ValueError:
        raise UpstreamError("the segmentation API answered with invalid JSON") from None
    if not isinstance(body, list):
        raise UpstreamError("the segmentation API answer is not a list of masks")
    return body


def decode_mask(text: str) -> np.ndarray:
    """A base64 PNG mask -> boolean (H, W) array (what users' notebooks do)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(base64.b64decode(text))) as im:
            return np.asarray(im.convert("L")) > 127
    except (OSError, ValueError) as exc:
        raise UpstreamError(f"the segmentation API sent an unreadable mask: {exc}") from None


def decode_hf_answer(answer: list[dict], size_hw: tuple[int, int] | None = None) -> SegmentResult:
    """Combine the per-class masks into one label map (later entries win overlaps)."""
    classes = list(ATR18)
    labels = None
    scores: dict[str, float] = {}
    for item in answer:
        if not isinstance(item, dict) or "label" not in item or "mask" not in item:
            raise UpstreamError("the segmentation API answer has an entry without label/mask")
        name = str(item["label"])
        if name not in classes:
            classes.append(name)
        mask = decode_mask(item["mask"])
        if labels is None:
            labels = np.zeros(mask.shape, np.uint8)
        if mask.shape != labels.shape:
            raise UpstreamError("the segmentation API sent masks of different sizes")
        labels[mask] = classes.index(name)
        if isinstance(item.get("score"), int | float):
            scores[name] = float(item["score"])
    if labels is None:
        if size_hw is None:
            raise UpstreamError("the segmentation API found nothing and sent no masks")
        labels = np.zeros(size_hw, np.uint8)
    return SegmentResult(labels, classes, scores or None, "hf")


_remote: RemoteParser | None = None
_remote_lock = threading.Lock()


def get_remote() -> RemoteParser:
    """The shared client, configured from settings."""
    global _remote
    from bodylens.config import get_settings

    with _remote_lock:
        if _remote is None:
            s = get_settings()
            _remote = RemoteParser(s.hf_api_url, s.hf_token, timeout_s=s.fetch_timeout_s * 2)
        return _remote
