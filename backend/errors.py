"""Domain exceptions raised by services and translated by each channel.

Every exception carries a stable machine ``code`` (used as the problem+json ``type`` suffix,
the Open311 error description prefix and the bot's message key), a human ``message`` and
optional ``details`` (field-level problems). Channels map them to HTTP statuses:
InvalidInput 400/422, Forbidden 403, NotFound 404, Conflict 409, TooLarge 413,
Unsupported 415, Unavailable 503.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class: a clear, user-facing refusal that changed nothing."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


class InvalidInput(DomainError):
    status = 422
    code = "invalid-input"


class NotFound(DomainError):
    status = 404
    code = "not-found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class TooLarge(DomainError):
    status = 413
    code = "too-large"


class Unsupported(DomainError):
    status = 415
    code = "unsupported-media-type"


class Unavailable(DomainError):
    status = 503
    code = "unavailable"
