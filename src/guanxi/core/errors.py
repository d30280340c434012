"""The error tree every domain shares.

    GuanxiError                  one sentence for a person, a stable code for a program
    ├── NotFound                 the object does not exist, or the user may not know it exists
    ├── PermissionDenied         the user may see it but not do this
    ├── ValidationFailed         the input is wrong; ``field`` names what
    └── Conflict                 the change collides with stored data (merge into itself, ...)

Each domain has its own ``ErrorCode`` enum (``customers.errors.CustomerErrorCode``...); the
CLI prints ``message``; the API returns ``{"code": ..., "message": ..., "field": ...}``.
"""

from __future__ import annotations

from enum import StrEnum


class GuanxiError(Exception):
    """Base of every error guanxi raises on purpose."""

    http_status = 400

    def __init__(self, code: StrEnum | str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = str(code)
        self.message = message
        self.field = field

    def as_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "message": self.message, "field": self.field}


class NotFound(GuanxiError):
    http_status = 404


class PermissionDenied(GuanxiError):
    http_status = 403


class ValidationFailed(GuanxiError):
    http_status = 422


class Conflict(GuanxiError):
    http_status = 409
