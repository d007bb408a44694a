"""`/estimate` end to end: a real server process on loopback, real photos, real models.

Checks the shop's contract (exactly the requested keys, cm), its error codes, the other ways to
send a photo, the detail mode, auth and CORS, and that nothing of the photo reaches the logs or
stays on disk.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.conftest import DATA

pytestmark = pytest.mark.slow

API_KEY = "test-key-123"
ORIGIN = "https://shop.example"
PHOTO = (DATA / "ccp_0008.jpg").read_bytes()
SIDE = (DATA / "ccp_0202.jpg").read_bytes()  # a person side-on
SECRET_QUERY = "token=s3cr3t-signature"


@pytest.fixture(scope="module")
def server(start_server):
    return start_server(
        env={
            "BODYLENS_API_KEY": API_KEY,
            "BODYLENS_CORS_ORIGINS": json.dumps([ORIGIN]),
            "BODYLENS_URL_ALLOW_NETWORKS": json.dumps(["127.0.0.2/32"]),
            "BODYLENS_MEDIA_ROOT": str(DATA),
            "BODYLENS_LOG_LEVEL": "debug",
        }
    )


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, headers={"X-API-Key": API_KEY}, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def photo_url(photo_server):
    return photo_server.add("/tmp/photo123.jpg", PHOTO) + "?" + SECRET_QUERY


def _jpeg(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG")
    return buf.getvalue()


def test_contract_exact_keys_in_cm(client, photo_url, server):
    wanted = ["tour_poitrine", "taille", "hanche", "longueur_bras"]
    r = client.post("/estimate", json={"photo_url": photo_url, "measures_table": wanted,
                                       "height_cm": 180})  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == wanted
    assert all(isinstance(v, float) and round(v, 1) == v for v in body.values())
    assert 70 < body["tour_poitrine"] < 140
    assert 55 < body["taille"] < 130
    assert 75 < body["hanche"] < 140
    assert 45 < body["longueur_bras"] < 80
    assert r.headers["X-Bodylens-Scale"] == "height"
    # Privacy: the log holds measurements, never the URL's query nor image bytes.
    log = server.log()
    assert "s3cr3t" not in log and "photo123" not in log
    assert base64.b64encode(PHOTO[:48]).decode()[:40] not in log
    assert "measured 4 values" in log


def test_english_names_and_height_scale(client, photo_url):
    wanted = ["height", "chest", "waist", "hips"]
    r = client.post("/estimate", json={"photo_url": photo_url, "height_cm": 180,
                                       "measures_table": wanted})  # fmt: skip
    assert r.status_code == 200, r.text
    assert abs(r.json()["height"] - 180) <= 1.0


@pytest.mark.parametrize(
    "payload, needle",
    [
        ({"measures_table": ["taille"]}, "photo_url"),
        ({"photo_url": "http://127.0.0.2/x.jpg", "measures_table": []}, "measures_table"),
        ({"photo_url": "http://127.0.0.2/x.jpg"}, "measures_table"),
    ],
)
def test_missing_fields_are_400(client, payload, needle):
    r = client.post("/estimate", json=payload)
    assert r.status_code == 400
    assert needle in r.json()["error"]


def test_unknown_measure_lists_accepted_names(client, photo_url):
    r = client.post("/estimate", json={"photo_url": photo_url,
                                       "measures_table": ["taille", "tour_de_magie"]})  # fmt: skip
    assert r.status_code == 400
    body = r.json()
    assert "tour_de_magie" in body["error"]
    assert "tour_poitrine" in body["accepted"] and "waist_girth" in body["accepted"]


def test_bad_bodies_are_400(client):
    assert client.post("/estimate", content=b"{not json",
                       headers={"Content-Type": "application/json"}).status_code == 400  # fmt: skip
    r = client.post("/estimate", json=["photo_url"])
    assert r.status_code == 400 and "object" in r.json()["error"]
    r = client.post("/estimate", json={"photo_url": "x", "measures_table": ["taille"],
                                       "height_cm": 5000})  # fmt: skip
    assert r.status_code == 400 and "height_cm" in r.json()["error"]
    r = client.post("/estimate", json={"photo_url": "x", "measures_table": ["taille"],
                                       "fit_under_clothing": "sometimes"})  # fmt: skip
    assert r.status_code == 400 and "fit_under_clothing" in r.json()["error"]
    r = client.post("/estimate", json={"photo_base64": "!!!", "measures_table": ["taille"]})
    assert r.status_code == 400 and "not valid base64" in r.json()["error"]


def test_unknown_paths_and_methods_answer_in_the_error_shape(client):
    r = client.post("/estimat", json={})
    assert r.status_code == 404 and "/estimat" in r.json()["error"]
    r = client.get("/estimate")
    assert r.status_code == 405 and "GET" in r.json()["error"]
    assert "POST" in r.headers["allow"]


def test_private_url_is_refused(client, private_photo_server):
    url = private_photo_server.add("/inside.jpg", PHOTO)
    r = client.post("/estimate", json={"photo_url": url, "measures_table": ["taille"]})
    assert r.status_code == 403
    r = client.post("/estimate", json={"photo_url": "http://169.254.169.254/latest/meta-data",
                                       "measures_table": ["taille"]})  # fmt: skip
    assert r.status_code == 403


def test_not_an_image_is_415(client, photo_server):
    url = photo_server.add("/fake.jpg", b"<html>not a photo</html>")
    r = client.post("/estimate", json={"photo_url": url, "measures_table": ["taille"]})
    assert r.status_code == 415 and "error" in r.json()


def test_no_person_is_422(client):
    rng = np.random.default_rng(0)
    wall = (rng.random((600, 400, 3)) * 40 + 100).astype(np.uint8)
    r = client.post("/estimate", json={"photo_base64": base64.b64encode(_jpeg(wall)).decode(),
                                       "measures_table": ["taille"], "height_cm": 170})  # fmt: skip
    assert r.status_code == 422
    assert "no person" in r.json()["error"]


def test_person_cut_off_is_422_naming_what_is_missing(client):
    img = np.asarray(Image.open(io.BytesIO(PHOTO)))
    top = img[: int(img.shape[0] * 0.55)]
    r = client.post("/estimate", json={"photo_base64": base64.b64encode(_jpeg(top)).decode(),
                                       "measures_table": ["taille"], "height_cm": 170})  # fmt: skip
    assert r.status_code == 422
    assert "feet" in r.json()["error"]


def test_multipart_upload_and_media_path(client):
    r = client.post(
        "/estimate",
        files={"photo": ("p.jpg", PHOTO, "image/jpeg")},
        data={"measures_table": "chest,waist", "height_cm": "180"},
    )
    assert r.status_code == 200, r.text
    assert list(r.json()) == ["chest", "waist"]
    r = client.post("/estimate", json={"photo_path": "ccp_0008.jpg", "height_cm": 180,
                                       "measures_table": ["waist"]})  # fmt: skip
    assert r.status_code == 200, r.text
    r = client.post("/estimate", json={"photo_path": "../../etc/passwd",
                                       "measures_table": ["waist"]})  # fmt: skip
    assert r.status_code == 403


def test_side_photo_upload(client):
    """A front and a side photo as multipart files: fitted together, and detail mode says how
    (the side fit, and the front photo fitted alone that the fusion reads too)."""
    files = {"photo": ("p.jpg", PHOTO, "image/jpeg"), "side_photo": ("s.jpg", SIDE, "image/jpeg")}
    r = client.post("/estimate?detail=true", files=files,
                    data={"measures_table": "chest,waist", "height_cm": "180"})  # fmt: skip
    assert r.status_code == 200, r.text
    out = r.json()
    assert list(out["measurements"]) == ["chest", "waist"]
    side, fusion = out["body"]["side"], out["body"]["fusion"]
    assert fusion["views"] == ("front_side" if side["used"] else "front")
    if side["used"]:
        assert set(fusion["front_photo_ansur_cm"]) >= {"chest_girth", "waist_girth"}
        assert set(fusion["front_photo_table_cm"]) >= {"chest_girth", "waist_girth"}
    else:
        assert any(w.startswith("side photo:") for w in out["warnings"])
    # That request started the fit worker (body.worker) and was fitted in turn; once the worker
    # is up, the two-view fit runs there beside the front fit, to the very same numbers.
    assert client.get("/readyz").json()["fit_worker"] in ("starting", "ready")
    deadline = time.monotonic() + 180
    while "worker_cpu" not in out["timings"]:
        assert time.monotonic() < deadline, "the fit worker never took a request"
        time.sleep(2)
        r = client.post("/estimate?detail=true", files=files,
                        data={"measures_table": "chest,waist", "height_cm": "180"})  # fmt: skip
        assert r.status_code == 200, r.text
        first, out = out, r.json()
        assert out["measurements"] == first["measurements"]
    assert client.get("/readyz").json()["fit_worker"] == "ready"
    blank = _jpeg(np.full((640, 480, 3), 200, np.uint8))
    files["side_photo"] = ("s.jpg", blank, "image/jpeg")
    r = client.post("/estimate", files=files, data={"measures_table": "waist", "height_cm": "180"})
    assert r.status_code == 422 and "side photo" in r.json()["error"], r.text


def test_detail_mode_and_mesh(client, photo_url):
    r = client.post("/v1/measurements", json={"photo_url": photo_url, "mesh": "glb",
                                              "measures_table": ["chest", "hips"]})  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert any("height" in w and "guess" in w for w in body["warnings"])
    assert list(body["measurements"]) == ["chest", "hips"]
    for detail in body["details"]:
        assert detail["unit"] == "cm" and detail["uncertainty"] > 0
    glb = base64.b64decode(body["mesh"]["data"])
    assert glb[:4] == b"glTF"
    r = client.post("/estimate?detail=true", json={"photo_url": photo_url, "height_cm": 180,
                                                   "measures_table": ["waist"]})  # fmt: skip
    assert r.status_code == 200 and "warnings" in r.json()
    # A suit and trousers: fitting under clothing finds nothing to skip and changes nothing.
    r2 = client.post("/estimate?detail=true", json={"photo_url": photo_url, "height_cm": 180,
                     "measures_table": ["waist"], "fit_under_clothing": True})  # fmt: skip
    assert r2.status_code == 200
    assert r2.json()["measurements"] == r.json()["measurements"]
    r = client.post("/estimate", json={"photo_url": photo_url, "measures_table": ["waist"]})
    assert list(r.json()) == ["waist"]
    assert r.headers["X-Bodylens-Scale"] == "guessed"
    assert "guess" in r.headers["X-Bodylens-Warnings"]


def test_api_key_and_cors(server, photo_url):
    r = httpx.post(server.url + "/estimate",
                   json={"photo_url": photo_url, "measures_table": ["taille"]})  # fmt: skip
    assert r.status_code == 401 and "API key" in r.json()["error"]
    assert httpx.get(server.url + "/healthz").status_code == 200
    pre = httpx.options(server.url + "/estimate", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-api-key"})  # fmt: skip
    assert pre.headers.get("access-control-allow-origin") == ORIGIN
    bad = httpx.options(server.url + "/estimate", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})  # fmt: skip
    assert "access-control-allow-origin" not in bad.headers


def test_ready_and_openapi(server):
    ready = httpx.get(server.url + "/readyz").json()
    assert ready["ready"] and {"pose", "anny"} <= set(ready["models"])
    spec = httpx.get(server.url + "/openapi.json").json()
    assert "/estimate" in spec["paths"] and "/v1/measurements" in spec["paths"]


def test_nothing_left_on_disk(server):
    leftovers = [p for p in server.tmpdir.rglob("*") if p.is_file()]
    assert leftovers == []
    assert not re.search(r"/9j/[A-Za-z0-9+/]{40}", server.log())  # no base64 JPEG in logs
