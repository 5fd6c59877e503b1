"""Bearer Firebase ID token → the Resident of this request (created on first use).

``current_resident_id()`` verifies the token once per request (cached on ``g``) and maps the uid to
a resident id through ``services.residents`` (cached per process); ``current_resident()`` loads that
Resident. ``rate_key()`` is the Flask-Limiter key: the resident
when a valid token is present, else the client IP.
"""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask_limiter.util import get_remote_address

from backend import http
from backend.db import request_session
from backend.errors import DomainError, Unauthorized
from backend.models.residents import Resident
from backend.services import residents


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        return None
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Tiêu đề Authorization phải có dạng 'Bearer <mã>'.", code="unauthorized")
    return token.strip()


def claims() -> dict[str, Any] | None:
    """Verified claims of the bearer token (None without a token); raises 401/503 on a bad one."""
    if "fb_claims" in g:
        return g.fb_claims
    token = bearer_token()
    g.fb_claims = residents.verify_token(token, settings=http.settings()) if token else None
    return g.fb_claims


def _identity_data(c: dict[str, Any]) -> dict[str, Any]:
    fb = c.get("firebase") or {}
    data: dict[str, Any] = {"sign_in_provider": fb.get("sign_in_provider") or "unknown"}
    if c.get("email"):
        data["email"] = c["email"]
    return data


def current_resident_id() -> int:
    """The authenticated resident's id (401 without a valid token). From the per-process uid cache
    (``residents.resident_id_for_identity``): a repeat request within the stamping resolution costs no
    query. Views that need only the id (intake) should use this rather than :func:`current_resident`."""
    if "resident_id" in g:
        return g.resident_id
    c = claims()
    if c is None:
        raise Unauthorized("Cần đăng nhập (Authorization: Bearer <Firebase ID token>).", code="unauthorized")
    g.resident_id = residents.resident_id_for_identity(request_session(), provider="firebase",
                                                       subject=c["uid"], data=_identity_data(c))
    return g.resident_id


def current_resident(*, required: bool = True) -> Resident | None:
    """The authenticated Resident, or None for an anonymous public read (``required=False``)."""
    if "resident" in g:
        return g.resident
    if "resident_id" not in g and claims() is None:
        if required:
            raise Unauthorized("Cần đăng nhập (Authorization: Bearer <Firebase ID token>).",
                               code="unauthorized")
        g.resident = None
        return None
    # the id lookup left the row in the session on a full lookup; a cached id costs one primary-key read
    g.resident = request_session().get(Resident, current_resident_id())
    if g.resident is None:  # pragma: no cover - residents are anonymised, never deleted
        raise Unauthorized("Tài khoản không còn tồn tại.", code="unauthorized")
    return g.resident


def rate_key() -> str:
    """Per resident when the token is valid; per IP otherwise (the view answers 401 after)."""
    try:
        c = claims()
    except DomainError:
        c = None
    return f"uid:{c['uid']}" if c else f"ip:{get_remote_address()}"


def ip_key() -> str:
    return f"ip:{get_remote_address()}"
