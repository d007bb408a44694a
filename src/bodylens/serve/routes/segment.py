"""Clothing parsing over HTTP.

- ``POST /segment``: our JSON answer (label map PNG, class shares, optional masks/overlay).
- ``POST /models/{model_id}`` and ``POST /hf/segment``: the Hugging Face Inference API protocol
  (raw image bytes or ``{"inputs": "<base64>"}`` in; ``[{"score", "label", "mask"}]`` out), so
  notebooks written for the hosted SegFormer-clothes work unchanged against this server.

Every route takes the image as multipart (field ``image`` or ``file``), raw bytes, or JSON
with base64 in ``image`` or ``inputs``.
"""

from __future__ import annotations

import base64
import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from bodylens import registry
from bodylens.config import get_settings
from bodylens.errors import InputError, TooLarge
from bodylens.parse import api as _parse_api  # noqa: F401  (registers the "parser" model)

router = APIRouter(tags=["segment"])
MODELS = ["parser", "pose", "person_mask"]  # pose and, without one, the person mask

# Model ids the HF-compatible route answers for (all served by the built-in parser).
HF_MODEL_IDS = {
    "parser",
    "bodylens/parser",
    "sayeed99/segformer_b3_clothes",
    "mattmezza/segformer_b2_clothes",
}


async def read_image(request: Request):
    """RGB array from multipart, JSON base64 or raw bytes; size-limited before decoding."""
    from bodylens.io.images import decode_base64_image, decode_image

    limit = get_settings().max_image_bytes
    declared = request.headers.get("content-length")
    # base64 in JSON/multipart is ~4/3 of the image; allow that overhead before reading.
    if declared and declared.isdigit() and int(declared) > limit * 4 // 3 + 65536:
        raise TooLarge(f"the request is {declared} bytes; the image limit is {limit}")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        form = await request.form()
        upload = form.get("image") or form.get("file") or form.get("inputs")
        if upload is None:
            raise InputError("the multipart form needs an 'image' (or 'file') field")
        if isinstance(upload, str):
            return await run_in_threadpool(decode_base64_image, upload)
        data = await upload.read()
        return await run_in_threadpool(decode_image, data)
    body = await request.body()
    if not body:
        raise InputError("send an image: raw bytes, multipart 'image', or JSON {'inputs': b64}")
    if ctype == "application/json" or body[:1] == b"{":
        try:
            payload = json.loads(body)
        except ValueError:
            raise InputError("the JSON body could not be parsed") from None
        text = payload.get("inputs") or payload.get("image") if isinstance(payload, dict) else None
        if not isinstance(text, str) or not text:
            raise InputError("the JSON body needs 'inputs' (or 'image') with base64 image data")
        return await run_in_threadpool(decode_base64_image, text)
    return await run_in_threadpool(decode_image, body)


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() in {"1", "true", "yes"}


@router.post("/segment")
async def segment(request: Request) -> JSONResponse:
    """Parse a photo into 18 clothing classes.

    Query flags: ``masks=true`` adds per-class base64 PNG masks (HF format),
    ``overlay=true`` adds a base64 PNG overlay with a legend.
    """
    from bodylens.io.images import encode_png

    rgb = await read_image(request)
    parser = registry.get("parser")
    result = await run_in_threadpool(parser, rgb)
    width, height = result.size
    body: dict = {
        "width": width,
        "height": height,
        "backend": result.backend,
        "pose_found": result.pose_found,
        "classes": result.classes,
        "fractions": result.fractions(),
        "labels": base64.b64encode(encode_png(result.labels)).decode("ascii"),
    }
    if _flag(request, "masks"):
        body["masks"] = await run_in_threadpool(result.to_hf)
    if _flag(request, "overlay"):
        png = await run_in_threadpool(lambda: encode_png(result.overlay(rgb)))
        body["overlay"] = base64.b64encode(png).decode("ascii")
    return JSONResponse(body)


async def _hf_answer(request: Request) -> JSONResponse:
    rgb = await read_image(request)
    parser = registry.get("parser")
    result = await run_in_threadpool(parser, rgb)
    return JSONResponse(await run_in_threadpool(result.to_hf))


@router.post("/hf/segment")
async def hf_segment(request: Request) -> JSONResponse:
    """Hugging Face Inference API format: ``[{"score", "label", "mask"}]``, one per class."""
    return await _hf_answer(request)


@router.post("/models/{model_id:path}")
async def hf_models(model_id: str, request: Request) -> JSONResponse:
    """Same as ``/hf/segment`` at the hosted API's path, for notebooks that build the URL as
    ``<base>/models/<model id>``."""
    if model_id not in HF_MODEL_IDS:
        return JSONResponse(
            {"error": f"unknown model {model_id!r}; served: {sorted(HF_MODEL_IDS)}"},
            status_code=404,
        )
    return await _hf_answer(request)
