"""Hand keypoints over HTTP.

``POST /predict/openpose_hands_estimation`` speaks PaddleHub Serving's protocol, so clients of
``hub serving start -m openpose_hands_estimation`` only change the host: the body is
``{"images": ["<base64>"], ...predict kwargs}`` and the answer is always HTTP 200 with
``{"status", "msg", "results"}``; "000" ok, "101" the prediction failed (bad image, bad
argument), "111" the model is not available, "112" the body is not a JSON object. Unlike
PaddleHub, the server never writes files: ``visualization``/``save_path`` are accepted and
ignored, the drawing comes back as base64 JPEG in ``results.data``. Several images give a
list of results (PaddleHub silently used only the first).

``POST /v1/hands`` is the native, typed route: JSON with a base64 image or a multipart upload,
answering sides, per-point confidence and world coordinates, with bodylens' JSON errors.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

import bodylens.detect.hands  # noqa: F401  (registers the "hands" model)
import bodylens.detect.pose  # noqa: F401  (registers the "pose" model)
from bodylens import registry
from bodylens.errors import BodylensError, InputError

log = logging.getLogger("bodylens.serve.hands")

router = APIRouter(tags=["hands"])
MODELS = ["hands", "pose"]

MODULE_NAME = "openpose_hands_estimation"
_PREDICT_KWARGS = {"scale", "visualization", "save_path"}
MAX_IMAGES = 16  # one request must not hold a worker for minutes


def _package(status: str, msg: str, results: Any) -> JSONResponse:
    # PaddleHub answers every outcome with HTTP 200 and puts the outcome in "status".
    return JSONResponse({"status": status, "msg": msg, "results": results}, status_code=200)


def _models_ready() -> str | None:
    try:
        for name in MODELS:
            registry.get(name)
    except Exception as exc:  # the model files or runtime are broken: PaddleHub's "111"
        log.error("hand models unavailable: %s: %s", type(exc).__name__, exc)
        return f"Module {MODULE_NAME} is not available."
    return None


def _paddlehub_predict(payload: dict[str, Any]) -> Any:
    """Decode, predict and encode like PaddleHub's serving_method (raises on any problem)."""
    import cv2

    from bodylens.hands import predict, validate_scales
    from bodylens.io.images import decode_base64_image

    unknown = sorted(set(payload) - _PREDICT_KWARGS - {"images"})
    if unknown:
        raise InputError(f"predict() got unexpected keyword argument(s): {', '.join(unknown)}")
    images = payload.get("images")
    if not isinstance(images, list) or not images:
        raise InputError("'images' must be a non-empty list of base64 strings")
    if len(images) > MAX_IMAGES:
        raise InputError(f"at most {MAX_IMAGES} images per request, got {len(images)}")
    if not all(isinstance(item, str) for item in images):
        raise InputError("every item of 'images' must be a base64 string")
    kwargs: dict[str, Any] = {"visualization": False}  # the server never writes files
    if "scale" in payload:
        kwargs["scale"] = validate_scales(payload["scale"])  # before any decoding work
    results = []
    for item in images:
        bgr = np.ascontiguousarray(decode_base64_image(item)[..., ::-1])
        out = predict(bgr, **kwargs)[0]
        ok, jpeg = cv2.imencode(".jpg", out["data"])
        if not ok:
            raise RuntimeError("could not encode the drawing as JPEG")
        results.append(
            {
                "all_hand_peaks": [peaks.tolist() for peaks in out["all_hand_peaks"]],
                "data": base64.b64encode(jpeg.tobytes()).decode("ascii"),
            }
        )
    return results[0] if len(results) == 1 else results


@router.post(
    f"/predict/{MODULE_NAME}",
    summary="PaddleHub Serving compatible hand keypoints",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["images"],
                        "properties": {
                            "images": {"type": "array", "items": {"type": "string"}},
                            "scale": {"type": "array", "items": {"type": "number"}},
                            "visualization": {"type": "boolean"},
                            "save_path": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def paddlehub_openpose_hands(request: Request) -> JSONResponse:
    raw = await request.body()
    try:
        payload = json.loads(raw) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        payload = None
    if not isinstance(payload, dict):
        return _package(
            "112",
            f"This usage is out of date, please use 'application/json' as content-type to post "
            f"to /predict/{MODULE_NAME} with a JSON object body.",
            "",
        )
    problem = await run_in_threadpool(_models_ready)
    if problem:
        return _package("111", problem, "")
    started = time.perf_counter()
    try:
        results = await run_in_threadpool(_paddlehub_predict, payload)
    except BodylensError as exc:
        log.info("POST /predict/%s -> 101 %s", MODULE_NAME, exc.message)
        return _package("101", exc.message, "")
    except Exception as exc:
        log.exception("POST /predict/%s failed", MODULE_NAME)
        return _package("101", f"{type(exc).__name__}: {exc}", "")
    elapsed_ms = 1e3 * (time.perf_counter() - started)
    log.info("POST /predict/%s -> 000 in %.0f ms", MODULE_NAME, elapsed_ms)
    return _package("000", "", results)


# ---- native typed route ------------------------------------------------------------------


class HandsRequest(BaseModel):
    """JSON body of POST /v1/hands (a multipart upload takes the same fields as form fields)."""

    image: str = Field(description="base64 JPEG/PNG/WebP, optionally a data: URL")
    scale: list[Annotated[float, Field(gt=0, le=8)]] = Field(
        default=[0.5, 1.0, 1.5, 2.0],
        min_length=1,
        description="crop sizes searched around the wrists, relative to the arm length",
    )
    body_guided: bool | None = Field(
        default=None,
        description="search around the body's wrists: null decides, true always, false never",
    )
    draw: bool = Field(default=False, description="also return the drawing as base64 JPEG")


class HandOut(BaseModel):
    side: Literal["left", "right"] = Field(description="the person's own left or right hand")
    side_source: Literal["body", "classifier"]
    score: float
    box: list[float] = Field(description="[x0, y0, x1, y1] around the keypoints, pixels")
    keypoints: list[list[float]] = Field(description="21 [x, y] pixels, OpenPose hand order")
    confidence: list[float] = Field(description="21 values; 0 = point outside the image")
    world: list[list[float]] = Field(description="21 [x, y, z] metres, hand-centred, y down")
    openpose: list[list[int]] = Field(description="21 [x, y] int pixels, [0, 0] = missing")


class HandsResponse(BaseModel):
    width: int
    height: int
    hands: list[HandOut]
    all_hand_peaks: list[list[list[int]]]
    drawing: str | None = Field(default=None, description="base64 JPEG when draw=true")
    elapsed_ms: float


async def _parse_native(request: Request) -> tuple[bytes | str, HandsRequest]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            raise InputError("the multipart form needs a file field named 'image'")
        data = await upload.read()
        fields: dict[str, Any] = {"image": ""}
        if form.get("scale"):
            fields["scale"] = [s for s in str(form["scale"]).replace(",", " ").split()]
        for key in ("body_guided", "draw"):
            if form.get(key) not in (None, ""):
                fields[key] = str(form[key]).lower()
        try:
            return data, HandsRequest.model_validate(fields)
        except ValidationError as exc:
            raise InputError(_validation_message(exc)) from None
    raw = await request.body()
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(
            'the body must be JSON {"image": "<base64>"} or a multipart upload'
        ) from None
    try:
        req = HandsRequest.model_validate(payload)
    except ValidationError as exc:
        raise InputError(_validation_message(exc)) from None
    return req.image, req


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


def _native_predict(image: bytes | str, req: HandsRequest) -> HandsResponse:
    from bodylens.hands import detect_hands, draw_hands, hand_to_json
    from bodylens.io.images import decode_base64_image, decode_image, encode_jpeg

    started = time.perf_counter()
    rgb = decode_image(image) if isinstance(image, bytes) else decode_base64_image(image)
    hands = detect_hands(rgb, req.scale, body_guided=req.body_guided)
    peaks = [hand.openpose_peaks() for hand in hands]
    drawing = None
    if req.draw:
        drawn = draw_hands(rgb[..., ::-1], peaks)[..., ::-1]
        drawing = base64.b64encode(encode_jpeg(np.ascontiguousarray(drawn))).decode("ascii")
    return HandsResponse(
        width=int(rgb.shape[1]),
        height=int(rgb.shape[0]),
        hands=[HandOut(**hand_to_json(hand)) for hand in hands],
        all_hand_peaks=[p.tolist() for p in peaks],
        drawing=drawing,
        elapsed_ms=round(1e3 * (time.perf_counter() - started), 1),
    )


@router.post(
    "/v1/hands",
    response_model=HandsResponse,
    summary="Hand keypoints with side, per-point confidence and world coordinates",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": HandsRequest.model_json_schema()},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["image"],
                        "properties": {
                            "image": {"type": "string", "format": "binary"},
                            "scale": {"type": "string", "example": "0.5,1,1.5,2"},
                            "body_guided": {"type": "boolean"},
                            "draw": {"type": "boolean"},
                        },
                    }
                },
            },
        }
    },
)
async def v1_hands(request: Request) -> HandsResponse:
    image, req = await _parse_native(request)
    result = await run_in_threadpool(_native_predict, image, req)
    log.info("POST /v1/hands -> %d hands in %.0f ms", len(result.hands), result.elapsed_ms)
    return result
