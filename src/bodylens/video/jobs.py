"""Long-running video work as jobs: an SQLite-persisted queue, worker threads, progress, cancel.

Layout under ``jobs_dir``: ``jobs.sqlite`` and one folder per job with the uploaded
``input.<ext>`` (deleted as soon as the job ends, whatever the outcome) and ``results/``.

Restart policy: a job that was ``running`` when the process died is re-queued (its input is
still on disk) and starts over; after ``MAX_ATTEMPTS`` starts it is marked ``failed`` instead,
so a video that crashes the server cannot loop forever. Queued jobs simply wait for a worker.
One process owns a jobs folder at a time.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bodylens.errors import BodylensError, InputError

log = logging.getLogger("bodylens.jobs")

KINDS = ("video-pose", "matte")
STATES = ("queued", "running", "done", "failed", "cancelled")
FINAL = ("done", "failed", "cancelled")
MAX_ATTEMPTS = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    params TEXT NOT NULL DEFAULT '{}',
    input TEXT,
    results TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL
)
"""


class JobNotFound(BodylensError):
    """No job with that id (or no such result file)."""

    status = 404


class JobCancelled(Exception):
    """Raised inside a running job's progress callback once it has been cancelled."""


class JobStore:
    """The jobs table; every method is one short transaction, safe from any thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)
        self._lock = threading.Lock()

    def _exec(self, sql: str, args: tuple = ()) -> tuple[list[sqlite3.Row], int]:
        """Run one statement and fetch its rows under the lock (one connection, many threads)."""
        with self._lock:
            cursor = self._db.execute(sql, args)
            return cursor.fetchall(), cursor.rowcount

    def create(self, job_id: str, kind: str, params: dict, input_path: str) -> dict:
        """Insert a queued job and return it as inserted. Its input must already be in place:
        a worker may claim the job the moment the row exists."""
        now = time.time()
        rows, _ = self._exec(
            "INSERT INTO jobs (id, kind, state, params, input, created, updated) "
            "VALUES (?, ?, 'queued', ?, ?, ?, ?) RETURNING *",
            (job_id, kind, json.dumps(params), input_path, now, now),
        )
        return _job(rows[0])

    def get(self, job_id: str) -> dict | None:
        rows, _ = self._exec("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def update(self, job_id: str, **fields: Any) -> None:
        if "results" in fields:
            fields["results"] = json.dumps(fields["results"])
        fields["updated"] = time.time()
        cols = ", ".join(f"{k} = ?" for k in fields)
        self._exec(f"UPDATE jobs SET {cols} WHERE id = ?", (*fields.values(), job_id))

    def claim_next(self) -> dict | None:
        """Atomically move the oldest queued job to running and return it."""
        with self._lock:
            row = self._db.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated = ? "
                "WHERE id = (SELECT id FROM jobs WHERE state = 'queued' ORDER BY created LIMIT 1) "
                "RETURNING id",
                (time.time(),),
            ).fetchone()
        return self.get(row["id"]) if row else None

    def recover(self) -> tuple[int, int]:
        """After a restart: re-queue interrupted jobs, fail those out of attempts."""
        now = time.time()
        _, failed = self._exec(
            "UPDATE jobs SET state = 'failed', updated = ?, error = ? "
            "WHERE state = 'running' AND attempts >= ?",
            (now, "the server stopped during this job too many times", MAX_ATTEMPTS),
        )
        _, requeued = self._exec(
            "UPDATE jobs SET state = 'queued', progress = 0, updated = ?, "
            "message = 're-queued after a server restart' WHERE state = 'running'",
            (now,),
        )
        return requeued, failed

    def claim_for_cancel(self, job_id: str) -> bool:
        """Take a queued job away from the workers (atomic, like ``claim_next``) so that its
        files can go before it is published as cancelled; False if a worker was first."""
        _, changed = self._exec(
            "UPDATE jobs SET state = 'running', message = 'cancelling', updated = ? "
            "WHERE id = ? AND state = 'queued'",
            (time.time(), job_id),
        )
        return changed == 1

    def delete(self, job_id: str) -> None:
        self._exec("DELETE FROM jobs WHERE id = ?", (job_id,))

    def close(self) -> None:
        with self._lock:
            self._db.close()


Runner = Callable[[Path, Path, dict, Callable[[float, str], None]], list[str]]


def _run_video_pose(video: Path, out: Path, params: dict, progress) -> list[str]:
    from bodylens.video.pose import track_video, write_outputs

    mesh = bool(params.get("mesh"))
    share = 0.8 if mesh else 1.0
    pose = track_video(
        video, skip=int(params.get("skip", 1)), progress=lambda f, m: progress(f * share, m)
    )
    write_outputs(pose, out, mesh=mesh, progress=lambda f, m: progress(share + f * (1 - share), m))
    return ["trainer_poses.json", "trainer_poses.npz"]


def _run_matte(video: Path, out: Path, params: dict, progress) -> list[str]:
    from bodylens.video.matte import matte_video

    matte_video(
        video, out / "trainer_transparent.webm", color=params.get("color", "studio"),
        progress=progress,
    )  # fmt: skip
    return ["trainer_transparent.webm"]


RUNNERS: dict[str, Runner] = {"video-pose": _run_video_pose, "matte": _run_matte}


class JobManager:
    """Owns a jobs folder: accepts jobs, runs them on ``workers`` threads, reports progress."""

    def __init__(self, root: Path, workers: int = 1) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.store = JobStore(self.root / "jobs.sqlite")
        self.workers = workers
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._cancelled: set[str] = set()

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        # Uploads being received when the process died were never queued: remove them.
        for leftover in (self.root / "incoming").glob("*"):
            leftover.unlink(missing_ok=True)
        requeued, failed = self.store.recover()
        if requeued or failed:
            log.info("jobs after restart: %d re-queued, %d failed", requeued, failed)
        for i in range(self.workers):
            t = threading.Thread(target=self._work, name=f"bodylens-job-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the workers; a running job is interrupted and re-queued on the next start."""
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()

    # -- API --------------------------------------------------------------------------------
    def job_dir(self, job_id: str) -> Path:
        return self.root / job_id

    def submit(self, kind: str, source: Path, suffix: str, params: dict) -> dict:
        """Queue a job on a video file; the file is moved into the job's folder."""
        if kind not in RUNNERS:
            raise InputError(f"unknown job kind {kind!r}; use one of {list(KINDS)}")
        job_id = uuid.uuid4().hex
        folder = self.job_dir(job_id)
        folder.mkdir(parents=True)
        target = folder / f"input{suffix}"
        try:
            shutil.move(str(source), target)
            job = self.store.create(job_id, kind, params, str(target))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        with self._wake:
            self._wake.notify()
        return job

    def get(self, job_id: str) -> dict:
        job = self.store.get(job_id) if _valid_id(job_id) else None
        if job is None:
            raise JobNotFound(f"no job {job_id!r}")
        return job

    def cancel(self, job_id: str) -> dict:
        """Cancel a queued or running job; for a finished job, delete it and its files."""
        job = self.get(job_id)
        if job["state"] == "queued" and self.store.claim_for_cancel(job_id):
            self._finish(job_id, keep_results=False, state="cancelled", message="cancelled")
        elif job["state"] in ("queued", "running"):  # queued: a worker claimed it meanwhile
            self._cancelled.add(job_id)
            self.store.update(job_id, message="cancelling")
        else:
            self._cleanup(job_id, keep_results=False)
            self.store.delete(job_id)
            job["state"] = "deleted"
            return job
        return self.get(job_id)

    def result_path(self, job_id: str, name: str) -> Path:
        job = self.get(job_id)
        if job["state"] != "done" or name not in job["results"]:
            raise JobNotFound(f"job {job_id} has no result {name!r}")
        return self.job_dir(job_id) / "results" / name

    def wait(self, job_id: str, timeout: float = 60.0) -> dict:
        """Block until the job is final (tests and the CLI)."""
        deadline = time.monotonic() + timeout
        while (job := self.get(job_id))["state"] not in FINAL:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job['state']}")
            time.sleep(0.1)
        return job

    # -- worker -----------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stop.is_set():
            job = self.store.claim_next()
            if job is None:
                with self._wake:
                    self._wake.wait(timeout=1.0)
                continue
            self._run(job)

    def _run(self, job: dict) -> None:
        job_id = job["id"]
        out = self.job_dir(job_id) / "results"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        last = [0.0]

        def progress(fraction: float, message: str) -> None:
            if job_id in self._cancelled:
                raise JobCancelled
            if self._stop.is_set():
                raise _Interrupted
            now = time.monotonic()
            if now - last[0] > 0.5:
                last[0] = now
                self.store.update(job_id, progress=round(fraction, 4), message=message)

        self.store.update(job_id, progress=0.0, message="started", error=None)
        started = time.monotonic()
        try:
            names = RUNNERS[job["kind"]](Path(job["input"]), out, job["params"], progress)
        except JobCancelled:
            self._finish(job_id, keep_results=False, state="cancelled", message="cancelled")
        except _Interrupted:  # shutting down: leave it 'running' so the next start re-queues it
            return
        except BodylensError as exc:
            self._finish(
                job_id, keep_results=False, state="failed", error=exc.message, message="failed"
            )
        except Exception as exc:  # a bug, not bad input: log it, keep the message short
            log.exception("job %s (%s) crashed", job_id, job["kind"])
            self._finish(
                job_id, keep_results=False, state="failed",
                error=f"internal error: {type(exc).__name__}", message="failed",
            )  # fmt: skip
        else:
            elapsed = time.monotonic() - started
            self._finish(
                job_id, keep_results=True, state="done", progress=1.0, results=names,
                message=f"done in {elapsed:.1f} s",
            )  # fmt: skip
            log.info("job %s (%s) done in %.1f s", job_id, job["kind"], elapsed)
        finally:
            self._cancelled.discard(job_id)

    def _finish(self, job_id: str, keep_results: bool, **fields) -> None:
        """Remove the files first, then publish the final state: a client that sees a job
        ended never finds its upload (or a cancelled job's partial output) still on disk."""
        self._cleanup(job_id, keep_results)
        self.store.update(job_id, **fields)

    def _cleanup(self, job_id: str, keep_results: bool) -> None:
        """The uploaded video never outlives its job; results only if the job succeeded."""
        folder = self.job_dir(job_id)
        for path in folder.glob("input*"):
            path.unlink(missing_ok=True)
        if not keep_results:
            shutil.rmtree(folder, ignore_errors=True)


class _Interrupted(Exception):
    pass


def _job(row: sqlite3.Row) -> dict:
    job = dict(row)
    job["params"] = json.loads(job["params"])
    job["results"] = json.loads(job["results"])
    return job


def _valid_id(job_id: str) -> bool:
    return len(job_id) == 32 and all(c in "0123456789abcdef" for c in job_id)
