"""Turn the ways a client can send a photo (URL, base64, upload, media-folder path) into RGB.

Shared by every route so that each one gets the same SSRF guard, size limits and errors.
"""

from __future__ import annotations

import logging

import numpy as np

from bodylens.config import Settings
from bodylens.errors import InputError
from bodylens.io.fetch import fetch_url, safe_host_label
from bodylens.io.images import decode_base64_image, decode_image, resolve_local_path

log = logging.getLogger(__name__)


def photo_from_fields(
    settings: Settings,
    *,
    url: str | None = None,
    base64_data: str | None = None,
    path: str | None = None,
    upload: bytes | None = None,
    what: str = "photo",
) -> np.ndarray | None:
    """Decode whichever single source was given; None when none was."""
    given = [v for v in (url, base64_data, path, upload) if v]
    if len(given) > 1:
        raise InputError(f"give the {what} once: as a URL, base64, a path or an upload")
    if upload:
        return decode_image(upload, max_bytes=settings.max_image_bytes,
                            max_pixels=settings.max_image_pixels)  # fmt: skip
    if base64_data:
        return decode_base64_image(base64_data)
    if path:
        data = resolve_local_path(path, settings.media_root).read_bytes()
        return decode_image(data, max_bytes=settings.max_image_bytes,
                            max_pixels=settings.max_image_pixels)  # fmt: skip
    if url:
        fetched = fetch_url(url, settings=settings)
        log.debug("fetched %d bytes from %s", len(fetched.content), safe_host_label(url))
        return decode_image(fetched.content, max_bytes=settings.max_image_bytes,
                            max_pixels=settings.max_image_pixels)  # fmt: skip
    return None
