"""Errors the API turns into its one JSON error shape: ``{"error": {"code", "message"}}``."""

from __future__ import annotations

__all__ = ["ApiError", "BadRequest", "Conflict", "LimitExceeded", "NotFound"]


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class LimitExceeded(ApiError):
    """A per-run limit refuses the request (docs/operations.md "Limits"). Not a rate: asking
    again does not help until the run changes (its activities finish, it continues as new)."""

    status = 429
    code = "limit_exceeded"
