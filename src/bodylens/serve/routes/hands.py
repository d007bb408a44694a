"""Hand keypoints over HTTP.

``POST /predict/openpose_hands_estimation`` speaks PaddleHub Serving's protocol, so clients of
``hub serving start -m openpose_hands_estimation`` only change the host: the body is
``{"images": ["<base64>"], ...predict kwargs}`` and the answer is always HTTP 200 with
``{"status", "msg", "results"}``; "000" ok, "101" the prediction failed (bad image, bad
argument), "111" the model is not available, "112" the body is not a JSON object. Unlike
PaddleHub, the server never writes files: ``visualization``/``save_path`` are accepted and
ignored, the drawing comes back as base64 JPEG in ``results.data``. Several images give a
list of results (PaddleHub silently used only the first).

``POST /v1/hands`` is the native, typed route: JSON with the photo as base64, a URL or a media
path (the same sources and guards as every bodylens route), or a multipart upload; it answers
sides, per-point confidence and world coordinates, with bodylens' JSON errors.
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
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bodylens import registry
from bodylens.config import Settings
from bodylens.errors import BodylensError, InputError
from bodylens.serve.app import run_cpu
from bodylens.serve.inputs import photo_from_fields

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
    problem = await run_cpu(request, _models_ready)
    if problem:
        return _package("111", problem, "")
    started = time.perf_counter()
    try:
        results = await run_cpu(request, _paddlehub_predict, payload)
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
    """JSON body of POST /v1/hands; a multipart upload sends the photo as a file field
    ('photo', 'image' or 'file') and the other fields as form fields."""

    model_config = ConfigDict(extra="forbid")

    photo_base64: str | None = Field(None, description="the photo as base64 (or a data: URL)")
    photo_url: str | None = Field(None, description="http(s) URL of the photo")
    photo_path: str | None = Field(None, description="a file under BODYLENS_MEDIA_ROOT")
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


async def _parse_native(request: Request) -> tuple[HandsRequest, bytes | None]:
    """JSON or multipart into the request model plus any uploaded photo bytes."""
    ctype = request.headers.get("content-type", "")
    upload = None
    if ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()
        fields: dict[str, Any] = {}
        for key, value in form.multi_items():
            if hasattr(value, "read"):
                if key not in ("photo", "image", "file"):
                    raise InputError(f"unexpected file field {key!r}; send the photo as 'photo'")
                upload = await value.read()
            elif value != "":
                fields[key] = value
        if isinstance(fields.get("scale"), str):  # form posts send "0.5,1,2"
            fields["scale"] = fields["scale"].replace(",", " ").split()
        payload: Any = fields
    else:
        raw = await request.body()
        if not raw:
            raise InputError("the request body is empty; send JSON with photo_base64")
        try:
            payload = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise InputError("the request body is not valid JSON") from None
        if not isinstance(payload, dict):
            raise InputError("the request body must be a JSON object")
    try:
        return HandsRequest.model_validate(payload), upload
    except ValidationError as exc:
        raise InputError(_validation_message(exc)) from None


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            msg = "is not an accepted field"
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts) or "invalid request"


def _native_predict(settings: Settings, req: HandsRequest, upload: bytes | None) -> HandsResponse:
    from bodylens.hands import detect_hands, draw_hands, hand_to_json
    from bodylens.io.images import encode_jpeg

    started = time.perf_counter()
    rgb = photo_from_fields(
        settings, url=req.photo_url, base64_data=req.photo_base64, path=req.photo_path,
        upload=upload,
    )  # fmt: skip
    if rgb is None:
        raise InputError("photo_base64 is required (or photo_url, photo_path, a 'photo' upload)")
    try:
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
    finally:
        del rgb  # the photo never outlives the request


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
                        "required": ["photo"],
                        "properties": {
                            "photo": {"type": "string", "format": "binary"},
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
    settings: Settings = request.app.state.settings
    req, upload = await _parse_native(request)
    result = await run_cpu(request, _native_predict, settings, req, upload)
    log.info("POST /v1/hands -> %d hands in %.0f ms", len(result.hands), result.elapsed_ms)
    return result
