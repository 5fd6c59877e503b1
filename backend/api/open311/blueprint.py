"""The ``/open311`` blueprint and its error handling: every failure answered with the spec's error array.

The routes are registered on :data:`bp` by ``views.py``; ``backend/api/open311/__init__.py`` imports both.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Blueprint, Response, current_app, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from backend.api.open311 import render
from backend.errors import DomainError
from backend.http import mark_rollback

log = logging.getLogger(__name__)

bp = Blueprint("open311", __name__, url_prefix="/open311")

#: HTTP statuses answered as such; every other 4xx is "basically 400" (the spec's words) with its own code
_KEPT = frozenset({400, 403, 404, 429})
#: domain error status -> the error's code (an unauthenticated call is the spec's 403; a conflict or an
#: invalid value is the spec's plain 400)
_STATUS = {401: 403, 409: 400, 422: 400}


def http_status(status: int) -> int:
    """The HTTP status GeoReport v2 uses for ``status``: 400, 403, 404, or 429/5xx for an unavailable server."""
    status = _STATUS.get(status, status)
    return status if status in _KEPT or status >= 500 else 400


def request_format() -> str:
    """``json`` or ``xml`` from the last path segment's suffix; XML when absent or unknown."""
    last = request.path.rstrip("/").rsplit("/", 1)[-1]
    suffix = last.rsplit(".", 1)[-1].lower() if "." in last else ""
    return suffix if suffix in render.FORMATS else "xml"


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> Response:
    mark_rollback()
    code = _STATUS.get(exc.status, exc.status)
    details = exc.details if isinstance(exc.details, list) and exc.details else [exc.message]
    items = [(code, str(d) if not isinstance(d, dict) else str(d.get("message", d))) for d in details]
    return render.errors(request_format(), items, http_status(code))


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    mark_rollback()
    status = exc.code or 500
    if status >= 500:
        return _crash(exc)
    resp = render.errors(request_format(), [(status, _describe(exc))], http_status(status))
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        resp.headers["Allow"] = ", ".join(exc.valid_methods)
    return resp


@bp.errorhandler(Exception)
def _crash(exc: Exception) -> Response:
    mark_rollback()
    if isinstance(exc, DBAPIError):
        log.error("open311: database unavailable on %s %s: %s", request.method, request.path, exc.orig)
        resp = render.errors(request_format(), [(503, "Cơ sở dữ liệu tạm thời không truy cập được; "
                                                      "vui lòng thử lại sau.")], 503)
        resp.headers["Retry-After"] = "5"
        return resp
    log.exception("open311: unhandled error on %s %s", request.method, request.path)
    return render.errors(request_format(), [(500, "Đã có lỗi xảy ra; vui lòng thử lại sau.")], 500)


# Flask looks up handlers registered for a status code before class handlers: register by code too
for _code in (400, 403, 404, 405, 408, 413, 415, 429):
    bp.register_error_handler(_code, _http_error)


_DESCRIPTIONS = {
    400: "Yêu cầu không hợp lệ.",
    403: "Không có quyền truy cập.",
    404: "Không tìm thấy tài nguyên.",
    405: "Phương thức HTTP không được hỗ trợ cho tài nguyên này.",
    413: "Dữ liệu gửi lên quá lớn.",
    415: "Định dạng dữ liệu không được hỗ trợ.",
    429: "Quá nhiều yêu cầu; vui lòng thử lại sau.",
}


def _describe(exc: HTTPException) -> str:
    return _DESCRIPTIONS.get(exc.code or 400, exc.name)


@bp.after_request
def _cors(response: Response) -> Response:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        response.headers["Access-Control-Allow-Origin"] = "*"
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = "Accept, Accept-Language, Content-Type"
    return response


_ANY = ["GET", "POST", "PUT", "PATCH", "DELETE"]


@bp.route("", methods=_ANY, defaults={"_rest": ""}, strict_slashes=False)
@bp.route("/<path:_rest>", methods=_ANY)
def _unknown(_rest: str) -> Response:
    """Unknown paths and wrong methods on known ones still get the error array.

    ``…/v2//requests.xml`` (an endpoint configured with a trailing slash, as the ``open311`` 1.1
    client concatenates it) is served as ``…/v2/requests.xml`` rather than redirected: POST clients
    do not follow redirects.
    """
    if "//" in request.path:
        endpoint, args = _match(re.sub("/{2,}", "/", request.path), request.method)
        if endpoint and endpoint != "open311._unknown" and endpoint.startswith("open311."):
            return current_app.view_functions[endpoint](**args)
    known = _known_methods(request.path)
    if known:
        raise MethodNotAllowed(valid_methods=sorted(known))
    raise NotFound()


def _match(path: str, method: str) -> tuple[str | None, dict[str, Any]]:
    try:
        endpoint, args = current_app.url_map.bind("localhost").match(path, method=method)
    except HTTPException:
        return None, {}
    return str(endpoint), dict(args)


def _known_methods(path: str) -> set[str]:
    methods = {m for m in ("GET", "POST") if _match(path, m)[0] not in (None, "open311._unknown")}
    return methods
