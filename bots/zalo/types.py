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


class ZaloQuota(ZaloError):
    """A quota or balance ran out (-211, -218; ZNS -115, -144): nothing was sent, try again later
    (hours, not seconds: quotas reset daily, a balance when someone tops it up)."""

    reason = "out-of-quota"


class ZaloNightBan(ZaloQuota):
    """ZNS -133: this template may not be sent between 22:00 and 06:00 (Vietnam time)."""

    reason = "night-ban"


class ZaloZnsUnreachable(ZaloUnreachable):
    """ZNS cannot reach that phone: no Zalo account (-118), the user refused ZNS (-139), cannot receive (-114)."""

    reason = "zns-unreachable"


class ZaloZnsRejected(ZaloError):
    """ZNS refused the request itself (phone, template or its data invalid): permanent until fixed."""

    reason = "zns-rejected"


_ERRORS: dict[int, type[ZaloError]] = {
    -216: ZaloAuthError, -220: ZaloAuthError, -32: ZaloRateLimited,
    -213: ZaloNotFollower, -217: ZaloUnreachable, -227: ZaloUnreachable,
    -230: ZaloOutsideWindow, -232: ZaloOutsideWindow, -211: ZaloQuota, -218: ZaloQuota,
}

#: ZNS (``business.openapi.zalo.me``) has its own codes (docs/zalo.md §6.1)
_ZNS_ERRORS: dict[int, type[ZaloError]] = {
    -124: ZaloAuthError, -32: ZaloRateLimited, -100: ZaloUnavailable,
    -115: ZaloQuota, -144: ZaloQuota, -133: ZaloNightBan,
    -114: ZaloZnsUnreachable, -118: ZaloZnsUnreachable, -139: ZaloZnsUnreachable,
    -108: ZaloZnsRejected, -109: ZaloZnsRejected, -111: ZaloZnsRejected, -112: ZaloZnsRejected,
    -117: ZaloZnsRejected, -131: ZaloZnsRejected, -1122: ZaloZnsRejected, -1124: ZaloZnsRejected,
}


def error_for(code: int, message: str, *, http_status: int | None = None) -> ZaloError:
    return _ERRORS.get(code, ZaloError)(code, message, http_status=http_status)


def zns_error_for(code: int, message: str, *, http_status: int | None = None) -> ZaloError:
    return _ZNS_ERRORS.get(code, ZaloError)(code, message, http_status=http_status)


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
