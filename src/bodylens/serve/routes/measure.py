"""Body measurement routes.

`POST /estimate` keeps the shop's existing contract exactly: JSON in, `{name: cm}` out with
exactly the requested keys. Everything richer (units, uncertainty, warnings, body parameters,
mesh) is opt-in through `?detail=true` or `POST /v1/measurements`.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bodylens.config import Settings
from bodylens.errors import InputError
from bodylens.serve.app import run_cpu
from bodylens.serve.inputs import photo_from_fields

log = logging.getLogger("bodylens.serve.measure")

router = APIRouter(tags=["measurements"])
MODELS = ["pose", "anny"]


class EstimateRequest(BaseModel):
    """The shop's request. One photo source is needed; `measures_table` lists the names wanted."""

    model_config = ConfigDict(extra="forbid")

    photo_url: str | None = Field(None, description="http(s) URL of a front photo")
    photo_base64: str | None = Field(None, description="the front photo as base64 (or data URL)")
    photo_path: str | None = Field(None, description="a file under BODYLENS_MEDIA_ROOT")
    measures_table: list[str] = Field(
        ..., description="measurement names (ISO 8559-1 English or French aliases)"
    )
    height_cm: float | None = Field(None, gt=50, lt=250, description="strongly recommended")
    weight_kg: float | None = Field(None, gt=20, lt=300)
    sex: Literal["male", "female"] | None = None
    side_photo_url: str | None = None
    side_photo_base64: str | None = None
    side_photo_path: str | None = None
    mesh: Literal["glb", "obj"] | None = Field(None, description="detail mode: include the mesh")
    reference: Literal["card", "checkerboard", "auto"] | None = Field(
        None,
        description="without height_cm: take the scale from an object held against or beside "
        "the person in the front photo, an ISO/IEC 7810 ID-1 card (85.60 x 53.98 mm) or a "
        "printed checkerboard (give reference_square_mm); with height_cm, the height wins",
    )
    reference_square_mm: float | None = Field(
        None, ge=2, le=500, description="checkerboard square size in mm"
    )
    reference_pattern: str | None = Field(
        None,
        description="checkerboard inner corners as COLSxROWS, e.g. 9x6 (default: common boards)",
    )
    fit_under_clothing: bool | None = Field(
        None,
        description="run the clothing parser and fit the body under skirts, dresses and bags "
        "instead of matching their outline (default: only under a large bag that the person "
        "mask took in; false: never)",
    )

    @field_validator("measures_table", mode="before")
    @classmethod
    def _split_string(cls, value: Any) -> Any:
        if isinstance(value, str):  # form posts send "chest,waist"
            value = value.strip()
            if value.startswith("["):
                value = json.loads(value)
            else:
                value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("reference", mode="before")
    @classmethod
    def _normalise_reference(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
        return value or None

    @field_validator("sex", mode="before")
    @classmethod
    def _normalise_sex(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = {"m": "male", "f": "female", "homme": "male", "femme": "female"}.get(
                value.strip().lower(), value.strip().lower()
            )
        return value or None


async def _read_request(request: Request) -> tuple[EstimateRequest, bytes | None, bytes | None]:
    """Parse JSON or multipart into the request model plus any uploaded photo bytes."""
    ctype = request.headers.get("content-type", "")
    upload = side_upload = None
    if ctype.startswith("multipart/form-data") or ctype.startswith(
        "application/x-www-form-urlencoded"
    ):
        form = await request.form()
        fields: dict[str, Any] = {}
        for key, value in form.multi_items():
            if hasattr(value, "read"):
                data = await value.read()
                if key in ("photo", "image", "file"):
                    upload = data
                elif key == "side_photo":
                    side_upload = data
                else:
                    raise InputError(f"unexpected file field {key!r}; use 'photo' or 'side_photo'")
            elif value != "":
                fields[key] = value
        payload: Any = fields
    else:
        body = await request.body()
        if not body:
            raise InputError(
                "the request body is empty; send JSON with photo_url and measures_table"
            )
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InputError("the request body is not valid JSON") from None
        if not isinstance(payload, dict):
            raise InputError("the request body must be a JSON object")
    try:
        req = EstimateRequest.model_validate(payload)
    except ValidationError as exc:
        raise InputError(_describe(exc)) from None
    return req, upload, side_upload


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        msg = err.get("msg", "invalid")
        if err.get("type") == "missing":
            msg = "is required"
        elif err.get("type") == "extra_forbidden":
            msg = "is not an accepted field"
        parts.append(f"{where} {msg}" if where else msg)
    return "; ".join(parts)


def _run_measure(settings: Settings, req: EstimateRequest, upload, side_upload, detail: bool):
    """Blocking part: decode, fit, measure. Runs in the thread pool."""
    from bodylens.body.api import measure, validate_reference
    from bodylens.body.measurements import resolve_measures

    if not req.measures_table:
        raise InputError("measures_table is empty; list the measurements you need")
    resolve_measures(req.measures_table)  # unknown names fail before any download
    validate_reference(req.reference, req.reference_square_mm, req.reference_pattern)
    image = photo_from_fields(
        settings, url=req.photo_url, base64_data=req.photo_base64, path=req.photo_path,
        upload=upload,
    )  # fmt: skip
    if image is None:
        raise InputError("photo_url is required (or photo_base64, or a 'photo' upload)")
    side = photo_from_fields(
        settings, url=req.side_photo_url, base64_data=req.side_photo_base64,
        path=req.side_photo_path, upload=side_upload, what="side photo",
    )  # fmt: skip
    try:
        return measure(
            image,
            height_cm=req.height_cm,
            weight_kg=req.weight_kg,
            sex=req.sex,
            side_image=side,
            measures=req.measures_table,
            with_mesh=detail and req.mesh is not None,
            reference=req.reference,
            reference_square_mm=req.reference_square_mm,
            reference_pattern=req.reference_pattern,
            fit_under_clothing=req.fit_under_clothing,
        )
    finally:
        del image, side  # photos never outlive the request


async def _handle(request: Request, detail: bool) -> JSONResponse:
    settings: Settings = request.app.state.settings
    req, upload, side_upload = await _read_request(request)
    started = time.perf_counter()
    result = await run_cpu(request, _run_measure, settings, req, upload, side_upload, detail)
    elapsed = time.perf_counter() - started
    # Logs hold measurements and timings only: no URL, no image data.
    log.info(
        "measured %d values in %.2fs (scale=%s, warnings=%d): %s",
        len(result.values), elapsed, result.scale_source, len(result.warnings), result.values,
    )  # fmt: skip
    if not detail:
        # The body must hold exactly the requested keys, so the caveats travel as headers.
        headers = {"X-Bodylens-Scale": result.scale_source}
        if result.warnings:
            headers["X-Bodylens-Warnings"] = " | ".join(result.warnings)[:2000]
        return JSONResponse(result.values, headers=headers)
    body = result.to_dict(include_mesh=req.mesh or False)
    return JSONResponse(body)


_OPENAPI_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": EstimateRequest.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "photo": {"type": "string", "format": "binary"},
                        "side_photo": {"type": "string", "format": "binary"},
                        "measures_table": {"type": "string", "example": "chest,waist,hips"},
                        "height_cm": {"type": "number"},
                        "weight_kg": {"type": "number"},
                        "sex": {"type": "string", "enum": ["male", "female"]},
                        "reference": {"type": "string", "enum": ["card", "checkerboard", "auto"]},
                        "reference_square_mm": {"type": "number"},
                        "reference_pattern": {"type": "string", "example": "9x6"},
                        "fit_under_clothing": {"type": "boolean"},
                    },
                    "required": ["photo", "measures_table"],
                }
            },
        },
    }
}


@router.post(
    "/estimate",
    openapi_extra=_OPENAPI_BODY,
    summary="Measurements in cm for exactly the requested names",
    responses={
        200: {
            "content": {"application/json": {"example": {"tour_poitrine": 92.0, "taille": 70.0}}}
        },
        400: {"description": "missing photo, empty or unknown measure names, bad reference"},
        422: {"description": "no person, the person is cut off, or the reference not found"},
    },
)
async def estimate(
    request: Request,
    detail: Annotated[bool, Query(description="return the detailed answer")] = False,
) -> JSONResponse:
    return await _handle(request, detail)


@router.post(
    "/v1/measurements",
    openapi_extra=_OPENAPI_BODY,
    summary="Detailed measurements: units, uncertainty, warnings, body parameters, mesh",
)
async def measurements(request: Request) -> JSONResponse:
    return await _handle(request, detail=True)


@router.get("/v1/measurements/names", summary="Accepted measurement names and aliases")
async def measurement_names() -> dict:
    from bodylens.body.measurements import describe_table

    return describe_table()
