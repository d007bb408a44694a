"""Errors that carry their HTTP meaning, so every front end reports bad input the same way."""

from __future__ import annotations


class BodylensError(Exception):
    """Base error; `status` is the HTTP status a front end should answer with."""

    status: int = 500

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {"error": self.message}
        body.update(self.details)
        return body


class InputError(BodylensError):
    """The request itself is wrong (missing field, unknown name, unreadable image)."""

    status = 400


class Forbidden(BodylensError):
    """The input points somewhere we refuse to go (private address, path outside the root)."""

    status = 403


class TooLarge(BodylensError):
    """The input exceeds a configured size limit."""

    status = 413


class UnsupportedMedia(BodylensError):
    """The bytes are not an image/video format we accept."""

    status = 415


class Unprocessable(BodylensError):
    """The image is valid but we cannot do the job on it (no person, person cut off)."""

    status = 422


class UpstreamError(BodylensError):
    """A remote we fetched from failed or timed out."""

    status = 502
