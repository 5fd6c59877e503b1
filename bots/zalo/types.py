"""Zalo OA types shared by the client and the token store: API errors, token pairs, token providers.

Kept apart so ``client.py`` and ``tokens.py`` both import it and never each other at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class ZaloError(Exception):
    """An error answered by Zalo (``code`` < 0) or met while calling it."""

    reason = "zalo-error"

    def __init__(self, code: int, message: str, *, http_status: int | None = None) -> None:
        super().__init__(f"Zalo error {code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status


class ZaloAuthError(ZaloError):
    reason = "access-token-invalid"


class ZaloRateLimited(ZaloError):
    reason = "rate-limited"


class ZaloUnreachable(ZaloError):
    """The user cannot receive CS messages from the OA right now (not retried)."""

    reason = "user-unreachable"


class ZaloNotFollower(ZaloUnreachable):
    reason = "not-follower"


class ZaloOutsideWindow(ZaloUnreachable):
    reason = "outside-interaction-window"


class ZaloUnavailable(ZaloError):
    reason = "zalo-unavailable"


class ZaloRefreshError(ZaloError):
    reason = "refresh-failed"


_ERRORS: dict[int, type[ZaloError]] = {
    -216: ZaloAuthError, -220: ZaloAuthError, -32: ZaloRateLimited,
    -213: ZaloNotFollower, -217: ZaloUnreachable, -227: ZaloUnreachable,
    -230: ZaloOutsideWindow, -232: ZaloOutsideWindow,
}


def error_for(code: int, message: str, *, http_status: int | None = None) -> ZaloError:
    return _ERRORS.get(code, ZaloError)(code, message, http_status=http_status)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_at: datetime | None


class TokenProvider(Protocol):
    """Where the client gets its access token, and how it asks for a new one (see tokens.py)."""

    def access_token(self) -> str: ...

    def refresh(self, *, stale: str) -> str: ...


class StaticTokens:
    """A fixed access token (scripts, tests of single calls); refresh is impossible."""

    def __init__(self, token: str) -> None:
        self.token = token

    def access_token(self) -> str:
        return self.token

    def refresh(self, *, stale: str) -> str:
        raise ZaloRefreshError(-216, "no refresh token configured")
