"""The SSRF guard: private targets are refused (also after redirects); caps hold."""

from __future__ import annotations

import pytest

from bodylens.config import Settings
from bodylens.errors import Forbidden, InputError, TooLarge, UpstreamError
from bodylens.io.fetch import fetch_url, safe_host_label

ALLOW_TEST_HOST = Settings(url_allow_networks=["127.0.0.2/32"], fetch_timeout_s=3)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.jpg",
        "http://localhost/x.jpg",
        "http://10.1.2.3/x.jpg",
        "http://192.168.0.10/x.jpg",
        "http://172.16.5.4/x.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/x.jpg",
        "http://[::1]/x.jpg",
        "http://[::ffff:127.0.0.1]/x.jpg",
        "http://0.0.0.0/x.jpg",
        "http://metadata.google.internal/computeMetadata/v1/",
    ],
)
def test_private_and_metadata_addresses_are_refused(url):
    with pytest.raises(Forbidden):
        fetch_url(url, settings=Settings(fetch_timeout_s=2))


@pytest.mark.parametrize("url", ["ftp://example.com/a.jpg", "file:///etc/passwd", "http:///x"])
def test_non_http_urls_are_input_errors(url):
    with pytest.raises(InputError):
        fetch_url(url, settings=Settings())


def test_allowed_network_fetches(photo_server):
    url = photo_server.add("/ok.jpg", b"\xff\xd8\xff" + b"x" * 100)
    got = fetch_url(url + "?sig=abc", settings=ALLOW_TEST_HOST)
    assert got.content.startswith(b"\xff\xd8\xff") and len(got.content) == 103


def test_redirect_to_private_address_is_refused(photo_server, private_photo_server):
    target = private_photo_server.add("/secret.jpg", b"secret")
    url = photo_server.add("/redirect.jpg", b"", status=302, Location=target)
    with pytest.raises(Forbidden):
        fetch_url(url, settings=ALLOW_TEST_HOST)


def test_redirect_within_allowed_host_is_followed(photo_server):
    final = photo_server.add("/final.jpg", b"\x89PNG\r\n\x1a\nabc")
    url = photo_server.add("/hop.jpg", b"", status=301, Location=final)
    assert fetch_url(url, settings=ALLOW_TEST_HOST).content.endswith(b"abc")


def test_redirect_loop_is_capped(photo_server):
    url = photo_server.add("/loop.jpg", b"", status=302, Location="/loop.jpg")
    with pytest.raises(UpstreamError, match="redirected more than"):
        fetch_url(url, settings=ALLOW_TEST_HOST)


def test_size_cap(photo_server):
    url = photo_server.add("/big.jpg", b"\xff\xd8\xff" + b"0" * 5000)
    with pytest.raises(TooLarge):
        fetch_url(url, settings=ALLOW_TEST_HOST, max_bytes=1000)


def test_timeout(photo_server):
    url = photo_server.add("/slow.jpg", b"x", **{"X-Sleep": "3"})
    with pytest.raises(UpstreamError, match="timed out"):
        fetch_url(url, settings=ALLOW_TEST_HOST, timeout_s=0.5)


def test_upstream_error_status(photo_server):
    with pytest.raises(UpstreamError) as info:
        fetch_url(photo_server.base + "/missing.jpg", settings=ALLOW_TEST_HOST)
    assert info.value.status == 502 and info.value.details["upstream_status"] == 404


def test_log_label_drops_path_and_query():
    assert safe_host_label("https://shop.example/tmp/p.jpg?token=s3cret") == "https://shop.example"
