"""The mobile app API v1 (``/api/v1``): thin views over the services, described by OpenAPI 3.1.

Residents authenticate with a Firebase ID token (``Authorization: Bearer``); public reads need
none. Errors are ``application/problem+json``; lists share one page envelope.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response

from backend import http
from backend.errors import DomainError, Unauthorized

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1", static_folder="static",
               static_url_path="/static")


def _generic_code(exc: DomainError) -> str:
    """The class-level code (``not-found``) when the instance carries a specific one."""
    for cls in type(exc).__mro__:
        code = cls.__dict__.get("code")
        if isinstance(code, str) and code in http.TITLES:
            return code
    return http._HTTP_CODES.get(exc.status, "bad-request")


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> Response:
    """problem+json with the specific ``type`` and a localized title of its family."""
    resp = http.domain_problem(exc)
    body = resp.get_json()
    if body.get("title") not in {t for pair in http.TITLES.values() for t in pair}:
        body["title"] = http.title_for(_generic_code(exc))
        resp.set_data(json.dumps(body, ensure_ascii=False))
    if isinstance(exc, Unauthorized):
        resp.headers["WWW-Authenticate"] = 'Bearer realm="phananh"'
    return resp


@bp.after_request
def _no_store(resp: Response) -> Any:
    resp.headers.setdefault("Cache-Control", "no-store" if resp.status_code >= 400 else "no-cache")
    return resp


# the view modules register their routes on ``bp`` when imported
from backend.api.v1 import categories, docs, media, reports, residents, stats  # noqa: E402

__all__ = ["bp", "categories", "docs", "media", "reports", "residents", "stats"]
