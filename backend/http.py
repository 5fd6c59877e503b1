"""Flask glue shared by every channel (api, web, bots): error bodies, locale, limiter, session.

Sits below the channel packages and above services (see the import-linter layers in
pyproject.toml). Channels render domain errors their own way: problem+json by default here,
Open311 error arrays in ``backend/api/open311``, HTML pages in ``backend/web``.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import HTTPException

from backend.errors import DomainError

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://phananh.vn/problems/"

#: Vietnamese / English titles of the stable problem types
TITLES: dict[str, tuple[str, str]] = {
    "invalid-input": ("Dữ liệu không hợp lệ", "Invalid input"),
    "not-found": ("Không tìm thấy", "Not found"),
    "forbidden": ("Không có quyền", "Forbidden"),
    "unauthorized": ("Chưa xác thực", "Unauthorized"),
    "conflict": ("Xung đột dữ liệu", "Conflict"),
    "too-large": ("Dữ liệu quá lớn", "Payload too large"),
    "unsupported-media-type": ("Định dạng không được hỗ trợ", "Unsupported media type"),
    "unavailable": ("Dịch vụ tạm thời gián đoạn", "Service temporarily unavailable"),
    "rate-limited": ("Quá nhiều yêu cầu", "Too many requests"),
    "method-not-allowed": ("Phương thức không được hỗ trợ", "Method not allowed"),
    "bad-request": ("Yêu cầu không hợp lệ", "Bad request"),
    "internal": ("Lỗi hệ thống", "Internal error"),
}

_HTTP_CODES = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
               405: "method-not-allowed", 409: "conflict", 413: "too-large", 415: "unsupported-media-type",
               422: "invalid-input", 429: "rate-limited", 503: "unavailable"}

limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True,
                  strategy="fixed-window")

#: views exempt from every limit (see :func:`unlimited`)
_UNLIMITED: set[Any] = set()


def unlimited(view: Any) -> Any:
    """Exempt a view from every rate limit AND skip Flask-Limiter's per-request limit resolution for it
    (a request filter answers first): for hot paths that apply their own limit, like the Zalo webhook.
    Use it directly under the route decorator."""
    view = limiter.exempt(view)
    _UNLIMITED.add(view)
    return view


@limiter.request_filter
def _is_unlimited() -> bool:
    endpoint = request.endpoint
    return endpoint is not None and current_app.view_functions.get(endpoint) in _UNLIMITED


#: views served lean (see :func:`lean`)
_LEAN: set[Any] = set()


def lean(view: Any) -> Any:
    """Serve a hot view without the app-wide request hooks it does not need (the Zalo webhook).

    For a lean view only the app-wide ``before_request``/``after_request`` hooks marked with
    :func:`lean_hook` run (request id, common security headers, metrics); the others are skipped:
    Flask-Limiter's (the view is also :func:`unlimited` and applies its own limit), CSRF (a lean view
    must be CSRF-exempt: it authenticates by signature), the web pages' headers, the request session's
    commit (a lean view must not use ``request_session()``; it writes with its own connection). Its
    blueprint's own hooks and every teardown still run; the cookie session is saved only if the view
    touched it. Use it directly under the route decorator (it implies :func:`unlimited`).
    """
    view = unlimited(view)
    _LEAN.add(view)
    return view


def lean_hook(hook: Any) -> Any:
    """Mark an app-wide request hook that must also run for :func:`lean` views."""
    hook.phananh_lean = True
    return hook


def is_lean(app: Flask) -> bool:
    """Whether the current request is routed to a :func:`lean` view."""
    endpoint = request.endpoint
    return endpoint is not None and app.view_functions.get(endpoint) in _LEAN


def locale() -> str:
    """``vi`` unless the client prefers English (Accept-Language), or ``?lang=`` says so."""
    forced = request.args.get("lang") if request else None
    if forced in ("vi", "en"):
        return forced
    best = request.accept_languages.best_match(["vi", "en"], default="vi") if request else "vi"
    return best or "vi"


def title_for(code: str, loc: str | None = None, status: int | None = None) -> str:
    """Localized title of a problem type; specific codes fall back to their HTTP status family."""
    vi, en = TITLES.get(code) or TITLES.get(_HTTP_CODES.get(status or 0, ""), (code, code))
    return en if (loc or locale()) == "en" else vi


def problem(status: int, code: str, detail: str | None = None, **extra: Any) -> Response:
    """An RFC 9457 problem+json response with a stable ``type`` and a localized ``title``."""
    body: dict[str, Any] = {"type": PROBLEM_BASE + code, "title": title_for(code, status=status), "status": status}
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    resp = jsonify(body)
    resp.status_code = status
    resp.mimetype = "application/problem+json"
    if status == 503:
        resp.headers["Retry-After"] = "5"
    return resp


def mark_rollback() -> None:
    """The request must change nothing: roll back instead of committing."""
    g.db_rollback = True


def domain_problem(exc: DomainError) -> Response:
    mark_rollback()
    return problem(exc.status, exc.code, exc.message, errors=exc.details)


def http_problem(exc: HTTPException) -> Response:
    mark_rollback()
    status = exc.code or 500
    detail = exc.description
    retry_after = 0
    if status == 429:  # Flask-Limiter describes the limit in English ("6 per 1 minute")
        retry_after = getattr(exc, "retry_after", None) or _retry_after(exc)
        detail = f"Quá nhiều yêu cầu; vui lòng thử lại sau {retry_after} giây."
    resp = problem(status, _HTTP_CODES.get(status, "bad-request"), detail)
    if status == 429:
        resp.headers["Retry-After"] = str(retry_after)
    if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
        resp.headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
    return resp


def _retry_after(exc: HTTPException) -> int:
    limit = getattr(exc, "limit", None)
    try:
        return max(1, int(limit.limit.get_expiry())) if limit is not None else 60
    except Exception:  # noqa: BLE001
        return 60


def install_errors(app: Flask) -> None:
    """Default error rendering: problem+json for every domain error, HTTP error and crash."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    app.register_error_handler(DomainError, domain_problem)
    app.register_error_handler(HTTPException, http_problem)

    @app.errorhandler(OperationalError)
    def _db_down(exc: OperationalError) -> Response:
        mark_rollback()
        log.error("database unavailable: %s", exc.orig)
        return problem(503, "unavailable", "Cơ sở dữ liệu tạm thời không truy cập được.")

    @app.errorhandler(DBAPIError)
    def _db_error(exc: DBAPIError) -> Response:
        mark_rollback()
        log.exception("database error")
        return problem(503, "unavailable", "Cơ sở dữ liệu tạm thời không truy cập được.")

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> Response:
        mark_rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return problem(500, "internal", "Đã có lỗi xảy ra; vui lòng thử lại sau.")


def settings() -> Any:
    return current_app.extensions["phananh.settings"]
