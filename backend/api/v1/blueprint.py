"""The ``/api/v1`` blueprint and what applies to every view on it: problem+json errors, cache headers.

The view modules register their routes on :data:`bp`; ``backend/api/v1/__init__.py`` imports them.
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
