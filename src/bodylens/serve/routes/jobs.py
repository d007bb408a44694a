"""Long video work as jobs: create, poll, download results, cancel.

- ``POST /v1/jobs``: ``kind`` = ``video-pose`` | ``matte`` and a video (multipart field
  ``video``, or ``video_url``); options ``skip``, ``mesh`` (video-pose), ``color`` (matte).
  JSON bodies work too (URL only). Answers 202 with the job.
- ``GET /v1/jobs/{id}``: state (queued, running, done, failed, cancelled), progress 0–1,
  message, error, and result links once done.
- ``GET /v1/jobs/{id}/result/{name}``: download a result file.
- ``DELETE /v1/jobs/{id}``: cancel a queued/running job; delete a finished one and its files.

Jobs live in SQLite under ``BODYLENS_JOBS_DIR`` and survive a restart (see bodylens.video.jobs).
"""

from __future__ import annotations

import logging
import os
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from bodylens.errors import InputError, TooLarge
from bodylens.io.fetch import safe_host_label
from bodylens.video import mesh as _mesh  # noqa: F401  (registers "anny-video")
from bodylens.video.jobs import KINDS, JobManager

log = logging.getLogger("bodylens.serve.jobs")

_CHUNK = 1 << 20
_MEDIA_TYPES = {
    ".json": "application/json",
    ".npz": "application/octet-stream",
    ".webm": "video/webm",
}


@asynccontextmanager
async def _lifespan(app: FastAPI):
    settings = app.state.settings
    manager = JobManager(Path(settings.jobs_dir), workers=1)
    await run_in_threadpool(manager.start)
    app.state.jobs = manager
    try:
        yield
    finally:
        await run_in_threadpool(manager.stop)


router = APIRouter(tags=["jobs"], lifespan=_lifespan)
# The Anny body is only needed for video-pose jobs with mesh=true; preloading it keeps the
# first such job from paying ~5 s.
MODELS = ["anny-video"]


def _public(job: dict) -> dict:
    body = {
        "id": job["id"],
        "kind": job["kind"],
        "state": job["state"],
        "progress": job["progress"],
        "message": job["message"],
        "params": job["params"],
        "created": job["created"],
        "updated": job["updated"],
        "links": {"self": f"/v1/jobs/{job['id']}"},
    }
    if job.get("error"):
        body["error"] = job["error"]
    if job["state"] == "done":
        body["results"] = {n: f"/v1/jobs/{job['id']}/result/{n}" for n in job["results"]}
    return body


def _params(kind: str, fields: dict[str, Any]) -> dict:
    from bodylens.video.matte import COLOR_PRESETS

    if kind not in KINDS:
        raise InputError(f"kind must be one of {list(KINDS)}")
    if kind == "video-pose":
        try:
            skip = int(fields.get("skip") or 1)
        except (TypeError, ValueError):
            raise InputError("skip must be an integer") from None
        if not 1 <= skip <= 30:
            raise InputError("skip must be between 1 and 30")
        mesh = str(fields.get("mesh", "false")).lower() in ("1", "true", "yes", "on")
        return {"skip": skip, "mesh": mesh}
    color = str(fields.get("color") or "studio")
    if color not in COLOR_PRESETS:
        raise InputError(f"color must be one of {list(COLOR_PRESETS)}")
    return {"color": color}


def _copy_upload(upload: UploadFile, target: Path, limit: int) -> None:
    size = 0
    with target.open("wb") as out:
        upload.file.seek(0)
        while chunk := upload.file.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"the video is larger than the {limit}-byte limit")
            out.write(chunk)
    if size == 0:
        raise InputError("the uploaded video is empty")


def _fetch(url: str, target: Path, limit: int) -> None:
    from bodylens.io.fetch import fetch_url

    log.info("fetching a video from %s", safe_host_label(url))
    target.write_bytes(fetch_url(url, max_bytes=limit).content)


@router.post("/v1/jobs", status_code=202)
async def create_job(request: Request) -> JSONResponse:
    """Queue a video-pose or matte job on an uploaded video or a video URL."""
    settings = request.app.state.settings
    manager: JobManager = request.app.state.jobs
    ctype = request.headers.get("content-type", "")
    upload: UploadFile | None = None
    if ctype.startswith("application/json"):
        try:
            fields = await request.json()
        except ValueError:
            raise InputError("the body is not valid JSON") from None
        if not isinstance(fields, dict):
            raise InputError("the JSON body must be an object")
    elif ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form()
        fields = {k: v for k, v in form.multi_items() if not isinstance(v, UploadFile)}
        files = [v for v in form.values() if isinstance(v, UploadFile)]
        upload = files[0] if files else None
    else:
        raise InputError("send multipart/form-data (field 'video') or JSON with 'video_url'")
    kind = str(fields.get("kind") or "")
    params = _params(kind, fields)
    url = fields.get("video_url")
    if (upload is None) == (not url):
        raise InputError("give exactly one video: an upload in field 'video' or 'video_url'")

    incoming = Path(settings.jobs_dir) / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=incoming, suffix=".video")
    os.close(fd)
    tmp = Path(name)
    try:
        if upload is not None:
            await run_in_threadpool(_copy_upload, upload, tmp, settings.max_video_bytes)
        else:
            await run_in_threadpool(_fetch, str(url), tmp, settings.max_video_bytes)
        from bodylens.io.video import probe

        info = await run_in_threadpool(probe, tmp)  # refuse non-videos before queuing
        job = await run_in_threadpool(manager.submit, kind, tmp, ".video", params)
    finally:
        tmp.unlink(missing_ok=True)
        if upload is not None:
            await upload.close()
    log.info("job %s queued: %s %dx%d %.1f fps", job["id"], kind, info.width, info.height, info.fps)
    return JSONResponse(_public(job), status_code=202)


@router.get("/v1/jobs/{job_id}")
async def get_job(job_id: str, request: Request) -> dict:
    """State and progress of a job, with result links once it is done."""
    return _public(await run_in_threadpool(request.app.state.jobs.get, job_id))


@router.get("/v1/jobs/{job_id}/result/{name}")
async def get_result(job_id: str, name: str, request: Request) -> FileResponse:
    """Download one result file of a finished job."""
    path = await run_in_threadpool(request.app.state.jobs.result_path, job_id, name)
    return FileResponse(
        path, media_type=_MEDIA_TYPES.get(path.suffix, "application/octet-stream"), filename=name
    )


@router.delete("/v1/jobs/{job_id}")
async def delete_job(job_id: str, request: Request) -> dict:
    """Cancel a queued or running job; delete a finished job and its results."""
    job = await run_in_threadpool(request.app.state.jobs.cancel, job_id)
    return {"id": job["id"], "state": job["state"]}
