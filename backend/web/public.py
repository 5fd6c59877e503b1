"""Resident web: the blueprint ``web_public`` of the pages anyone may open without signing in (the
public report page ``/r/<code>``; the city page ``/`` and the web report form ``/report`` join it).

Shared glue for those pages: CSRF on every unsafe request (the reporter's forms), refusal of text the
database cannot store, Vietnamese HTML error pages (``error_page``), and cache headers — ``cacheable``
lets a CDN hold a page for a minute; ``private`` marks a page that carries a personal token
(``Cache-Control: private, no-store``). The security headers (strict CSP, no inline scripts) are the
inbox's, applied by ``common`` to every ``web_*`` blueprint.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, g, has_request_context, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from backend import http
from backend.errors import DomainError
from backend.http import mark_rollback
from backend.web import common

log = logging.getLogger(__name__)

bp = Blueprint("web_public", __name__)

#: how long a CDN or browser may keep a public page (seconds)
PUBLIC_MAX_AGE = 60
#: rate limit of the residents' form posts, per client address
POST_LIMIT = "10/minute;60/hour"


#: form posts that check their own credential (the reporter's token) first, then CSRF (``check_csrf``)
TOKEN_FIRST: set[str] = set()


@bp.before_request
def _guard() -> Any:
    if request.method not in ("GET", "HEAD", "OPTIONS") and request.endpoint not in TOKEN_FIRST:
        common.csrf.protect()
    common.refuse_bad_parameters()
    return None


def check_csrf() -> None:
    """CSRF for a ``TOKEN_FIRST`` post, once its token was accepted (raises CSRFError)."""
    common.csrf.protect()


def cacheable(resp: Response, *, max_age: int = PUBLIC_MAX_AGE) -> Response:
    """Let a shared cache hold ``resp`` for ``max_age`` seconds (only pages without personal data)."""
    g.public_cache = True
    resp.headers["Cache-Control"] = f"public, max-age={max_age}"
    resp.headers["Vary"] = "Accept-Language"
    return resp


def private(resp: Response) -> Response:
    """A page for one person (a token in its URL or forms): never stored by any cache."""
    g.public_cache = True  # our own header, not the staff pages' default
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def locale() -> str:
    return http.locale()


@bp.app_context_processor
def _page_locale() -> dict[str, str]:
    """``<html lang>`` of the resident pages: the language the page is rendered in."""
    return {"page_locale": http.locale() if has_request_context() else "vi"}


def error_page(status: int, message: str, *, code: str | None = None) -> Response:
    """A Vietnamese error page in the public layout (with the code lookup box)."""
    return Response(render_template("web/public/error.html", status=status, message=message, code=code),
                    status=status)


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> Any:
    mark_rollback()
    return private(error_page(exc.status, exc.message))


@bp.errorhandler(CSRFError)
def _csrf_error(exc: CSRFError) -> Any:
    mark_rollback()
    log.info("CSRF refused on %s: %s", request.path, exc.description)
    return private(error_page(400, _("Biểu mẫu đã hết hạn hoặc không hợp lệ. Vui lòng mở lại đường dẫn "
                                     "và gửi lại. Không có thay đổi nào được lưu.")))


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Any:
    mark_rollback()
    messages = {404: _("Không tìm thấy trang."), 405: _("Phương thức không được hỗ trợ."),
                413: _("Tệp tải lên quá lớn."), 429: _("Bạn đã gửi quá nhiều lần. Vui lòng thử lại sau ít phút."),
                400: _("Yêu cầu không hợp lệ.")}
    return private(error_page(exc.code or 400, messages.get(exc.code or 400, _("Yêu cầu không hợp lệ."))))
