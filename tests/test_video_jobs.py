"""Jobs end to end on a real `bodylens serve` process: upload and URL, progress, results,
cancel, errors, and a server killed mid-job (SIGKILL) that picks its jobs up again."""

from __future__ import annotations

import json
import time

import httpx
import numpy as np
import pytest

from bodylens.io.video import read_webm_alpha
from bodylens.video.jobs import MAX_ATTEMPTS, JobManager
from tests.videoclips import walking_cut, walking_path


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return walking_cut(tmp_path_factory.mktemp("clip") / "walk.mp4", count=20)


@pytest.fixture(scope="module")
def jobs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("jobs")


def _env(jobs_dir) -> dict[str, str]:
    return {
        "BODYLENS_JOBS_DIR": str(jobs_dir),
        "BODYLENS_URL_ALLOW_NETWORKS": json.dumps(["127.0.0.2/32"]),
    }


@pytest.fixture(scope="module")
def server(start_server, jobs_dir):
    return start_server(env=_env(jobs_dir), preload=False)


def _wait(client: httpx.Client, job_id: str, states=("done", "failed", "cancelled"), t=120):
    deadline = time.monotonic() + t
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.2)
    raise TimeoutError(job)


def _submit(client: httpx.Client, video, **fields) -> dict:
    with open(video, "rb") as fh:
        r = client.post("/v1/jobs", data=fields, files={"video": ("v.mp4", fh, "video/mp4")})
    assert r.status_code == 202, r.text
    return r.json()


@pytest.mark.slow  # mesh=true needs the Anny model
def test_video_pose_job_upload(server, clip, jobs_dir):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        job = _submit(client, clip, kind="video-pose", skip="2", mesh="true")
        assert job["state"] == "queued" and job["params"] == {"skip": 2, "mesh": True}
        seen = set()
        while (state := client.get(f"/v1/jobs/{job['id']}").json())["state"] not in (
            "done",
            "failed",
        ):
            seen.add(state["state"])
            assert 0.0 <= state["progress"] <= 1.0
            time.sleep(0.1)
        assert state["state"] == "done", state
        assert state["progress"] == 1.0
        doc = client.get(state["results"]["trainer_poses.json"]).json()
        assert [p["frame"] for p in doc["poses"]] == list(range(0, 20, 2))
        r = client.get(state["results"]["trainer_poses.npz"])
        assert r.status_code == 200 and r.content[:2] == b"PK"  # a zip (npz) archive
        assert not list((jobs_dir / job["id"]).glob("input*"))  # the upload is gone
        assert client.get(f"/v1/jobs/{job['id']}/result/../jobs.sqlite").status_code == 404
        assert client.get(f"/v1/jobs/{job['id']}/result/secret.txt").status_code == 404


def test_matte_job_from_url(server, clip, photo_server, tmp_path):
    url = photo_server.add("/clips/walk.mp4", clip.read_bytes(), **{"Content-Type": "video/mp4"})
    with httpx.Client(base_url=server.url, timeout=60) as client:
        r = client.post("/v1/jobs", json={"kind": "matte", "video_url": url + "?sig=abc"})
        assert r.status_code == 202, r.text
        job = _wait(client, r.json()["id"])
        assert job["state"] == "done", job
        out = tmp_path / "t.webm"
        out.write_bytes(client.get(job["results"]["trainer_transparent.webm"]).content)
    frames = list(read_webm_alpha(out))
    assert len(frames) == 20 and frames[0].shape == (720, 1280, 4)
    assert 0.02 < (frames[0][..., 3] > 127).mean() < 0.5
    assert "sig=abc" not in server.log()


def test_errors(server, tmp_path, private_photo_server):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 1000)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        r = client.post("/v1/jobs", data={"kind": "video-pose"}, files={"video": junk.open("rb")})
        assert r.status_code == 415 and "error" in r.json()
        r = client.post("/v1/jobs", json={"kind": "dance", "video_url": "http://x.example/v"})
        assert r.status_code == 400 and "kind" in r.json()["error"]
        r = client.post("/v1/jobs", json={"kind": "matte"})
        assert r.status_code == 400
        r = client.post("/v1/jobs", json={"kind": "matte", "color": "sepia", "video_url": "x"})
        assert r.status_code == 400
        r = client.post("/v1/jobs", json={"kind": "video-pose", "skip": 0, "video_url": "x"})
        assert r.status_code == 400
        private = private_photo_server.add("/v.mp4", b"x")  # 127.0.0.1: refused (SSRF)
        r = client.post("/v1/jobs", json={"kind": "matte", "video_url": private})
        assert r.status_code == 403
        assert client.get("/v1/jobs/" + "0" * 32).status_code == 404
        assert client.get("/v1/jobs/nope").status_code == 404
        assert client.delete("/v1/jobs/" + "0" * 32).status_code == 404


def test_cancel_queued_and_running_jobs(server, jobs_dir, clip):
    with httpx.Client(base_url=server.url, timeout=60) as client:
        job = _submit(client, walking_path(), kind="matte")
        waiting = _submit(client, clip, kind="video-pose")  # one worker: queued behind it
        _wait(client, job["id"], states=("running",))
        assert client.delete(f"/v1/jobs/{waiting['id']}").json()["state"] == "cancelled"
        assert not (jobs_dir / waiting["id"]).exists()
        r = client.delete(f"/v1/jobs/{job['id']}")
        assert r.status_code == 200
        final = _wait(client, job["id"], t=30)
        assert final["state"] == "cancelled" and "results" not in final
        assert not (jobs_dir / job["id"]).exists()  # input and partial output removed
        # Deleting a finished job removes its record.
        assert client.delete(f"/v1/jobs/{job['id']}").json()["state"] == "deleted"
        assert client.get(f"/v1/jobs/{job['id']}").status_code == 404


def test_restart_requeues_interrupted_jobs(start_server, clip, tmp_path):
    jobs = tmp_path / "jobs"
    first = start_server(env=_env(jobs), preload=False)
    with httpx.Client(base_url=first.url, timeout=60) as client:
        done = _submit(client, clip, kind="video-pose")
        _wait(client, done["id"])
        long = _submit(client, walking_path(), kind="matte")
        queued = _submit(client, clip, kind="video-pose")
        running = _wait(client, long["id"], states=("running",))
        assert running["state"] == "running"
    first.proc.kill()  # SIGKILL: no shutdown handlers run
    first.proc.wait(10)
    stray = jobs / "incoming" / "tmpupload.video"  # an upload cut off by the kill
    stray.write_bytes(b"half a video")
    second = start_server(env=_env(jobs), preload=False)
    with httpx.Client(base_url=second.url, timeout=60) as client:
        assert client.get(f"/v1/jobs/{done['id']}").json()["state"] == "done"
        assert not stray.exists()
        assert client.get(f"/v1/jobs/{done['id']}/result/trainer_poses.json").status_code == 200
        resumed = _wait(client, long["id"], t=180)
        assert resumed["state"] == "done", resumed
        assert _wait(client, queued["id"])["state"] == "done"
        webm = client.get(resumed["results"]["trainer_transparent.webm"]).content
    out = tmp_path / "resumed.webm"
    out.write_bytes(webm)
    assert sum(1 for _ in read_webm_alpha(out)) == 144


def test_recover_gives_up_after_max_attempts(tmp_path, clip):
    import shutil

    manager = JobManager(tmp_path)
    src = tmp_path / "in.mp4"
    shutil.copy(clip, src)
    job = manager.submit("video-pose", src, ".mp4", {"skip": 1, "mesh": False})
    manager.store.update(job["id"], state="running", attempts=MAX_ATTEMPTS)
    assert manager.store.recover() == (0, 1)
    failed = manager.get(job["id"])
    assert failed["state"] == "failed" and "too many times" in failed["error"]
    manager.store.close()
    assert np.isfinite(failed["updated"])
