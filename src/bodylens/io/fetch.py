"""Fetch a user-supplied URL without letting it reach our own network (SSRF guard).

Every TCP connection, including each redirect hop, goes through `_GuardedBackend`, which
resolves the host itself, refuses any address that is not globally routable (private, loopback,
link-local such as cloud metadata 169.254.169.254, CGNAT, multicast, reserved) and then connects
to the address it checked, so a DNS answer cannot change between check and use. TLS still
verifies the certificate against the host name. Size and time are capped while streaming.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpcore

from bodylens.config import Settings, get_settings
from bodylens.errors import Forbidden, InputError, TooLarge, UpstreamError

log = logging.getLogger(__name__)

_BLOCKED_HOSTNAMES = {"metadata.google.internal", "metadata", "instance-data"}
_REDIRECTS = {301, 302, 303, 307, 308}


@dataclass
class Fetched:
    content: bytes
    content_type: str | None
    final_host: str


def _ip_allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow: list) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in net for net in allow):
        return True
    return ip.is_global and not ip.is_multicast


def safe_host_label(url: str) -> str:
    """What we may log about a URL: scheme and host, never path or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}"


class _GuardedBackend(httpcore.SyncBackend):
    def __init__(self, allow: list) -> None:
        self._allow = allow

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        if host.lower().rstrip(".") in _BLOCKED_HOSTNAMES:
            raise Forbidden("the URL points to a metadata service")
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror:
            raise InputError(f"the host {host!r} could not be resolved") from None
        addresses = []
        for *_, sockaddr in infos:
            ip = ipaddress.ip_address(sockaddr[0].split("%")[0])
            if not _ip_allowed(ip, self._allow):
                raise Forbidden(
                    "the URL points to a private, loopback, link-local or reserved address"
                )
            addresses.append(str(ip))
        return super().connect_tcp(
            addresses[0], port, timeout=timeout, local_address=local_address,
            socket_options=socket_options,
        )  # fmt: skip


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise InputError("photo_url must be an http(s) URL")
    if not parts.hostname:
        raise InputError("photo_url has no host")


def fetch_url(
    url: str,
    *,
    max_bytes: int | None = None,
    timeout_s: float | None = None,
    settings: Settings | None = None,
) -> Fetched:
    """GET ``url`` with the SSRF guard, a byte cap and an overall deadline."""
    settings = settings or get_settings()
    max_bytes = max_bytes or settings.max_image_bytes
    timeout_s = timeout_s or settings.fetch_timeout_s
    allow = [ipaddress.ip_network(n, strict=False) for n in settings.url_allow_networks]
    deadline = time.monotonic() + timeout_s
    _check_url(url)
    with httpcore.ConnectionPool(
        ssl_context=ssl.create_default_context(),
        network_backend=_GuardedBackend(allow),
        max_connections=2,
    ) as pool:
        for _hop in range(settings.max_redirects + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise UpstreamError("fetching the photo timed out")
            to = {"connect": remaining, "read": remaining, "write": remaining, "pool": remaining}
            headers = [(b"User-Agent", b"bodylens"), (b"Accept", b"image/*,video/*,*/*;q=0.5")]
            try:
                with pool.stream("GET", url, headers=headers, extensions={"timeout": to}) as resp:
                    if resp.status in _REDIRECTS:
                        location = _header(resp, b"location")
                        if not location:
                            raise UpstreamError("the photo URL redirected without a Location")
                        url = urljoin(url, location.decode("latin-1"))
                        _check_url(url)
                        continue
                    if resp.status >= 400:
                        raise UpstreamError(
                            f"fetching the photo failed: the server answered {resp.status}",
                            upstream_status=resp.status,
                        )
                    declared = _header(resp, b"content-length")
                    if declared and declared.isdigit() and int(declared) > max_bytes:
                        raise TooLarge(f"the photo is larger than the {max_bytes}-byte limit")
                    chunks, size = [], 0
                    for chunk in resp.iter_stream():
                        size += len(chunk)
                        if size > max_bytes:
                            raise TooLarge(f"the photo is larger than the {max_bytes}-byte limit")
                        if time.monotonic() > deadline:
                            raise UpstreamError("fetching the photo timed out")
                        chunks.append(chunk)
                    ctype = _header(resp, b"content-type")
                    return Fetched(
                        b"".join(chunks),
                        ctype.decode("latin-1") if ctype else None,
                        urlsplit(url).hostname or "",
                    )
            except httpcore.TimeoutException:
                raise UpstreamError("fetching the photo timed out") from None
            except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
                log.info("fetch from %s failed: %s", safe_host_label(url), type(exc).__name__)
                raise UpstreamError("the photo URL could not be reached") from None
            except httpcore.UnsupportedProtocol:
                raise InputError("photo_url must be an http(s) URL") from None
    raise UpstreamError(f"the photo URL redirected more than {settings.max_redirects} times")


def _header(resp: httpcore.Response, name: bytes) -> bytes | None:
    for key, value in resp.headers:
        if key.lower() == name:
            return value
    return None
