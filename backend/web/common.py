"""Shared glue for the staff pages: the signed-in staff member, role guards, error pages, headers.

Sessions are Flask's signed cookie (HttpOnly, SameSite=Lax, Secure in production — set by the
factory) holding the staff id, a stamp of the password-change time and the account's session epoch:
signing out, changing the password, deactivation and an admin's "sign out everywhere" bump the
epoch in the database (``signin.end_sessions``), which ends every session of the account at once,
saved cookies included.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlparse
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, Response, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from backend import http
from backend.db import request_session
from backend.errors import DomainError, Forbidden, InvalidInput
from backend.http import mark_rollback
from backend.models.base import utcnow
from backend.models.staff import Role, Staff
from backend.schemas import inputs
from backend.services import city, reports

log = logging.getLogger(__name__)

TZ = ZoneInfo("Asia/Ho_Chi_Minh")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'self'")


def csp(tile_origin: str | None) -> str:
    """The pages' CSP: :data:`CSP` with the base map's tile origin (only that origin) added to ``img-src``."""
    if not tile_origin:
        return CSP
    return CSP.replace("img-src 'self' data: blob:;", f"img-src 'self' data: blob: {tile_origin};")

STATE_LABELS: dict[str, str] = {
    "received": "Mới tiếp nhận", "triage": "Chờ phân loại", "assigned": "Đã chuyển đơn vị xử lý",
    "acknowledged": "Đơn vị đã tiếp nhận", "in_progress": "Đang xử lý", "on_hold": "Gia hạn / Chờ phối hợp",
    "resolved": "Đã xử lý", "reopened": "Người dân phản ánh lại", "rejected": "Không hợp lệ",
    "not_competent": "Không thuộc thẩm quyền", "duplicate": "Trùng phản ánh", "closed": "Đã đóng",
}
ROLE_LABELS: dict[str, str] = {"admin": "Quản trị", "dispatcher": "Điều phối (IOC)", "head": "Trưởng đơn vị",
                               "officer": "Cán bộ xử lý", "viewer": "Chỉ xem"}
CHANNEL_LABELS: dict[str, str] = {"app": "Ứng dụng", "zalo": "Zalo", "open311": "Open311", "staff": "Cán bộ",
                                  "web": "Web",
                                  "hotline": "Đường dây nóng", "counter": "Tại quầy tiếp dân"}
UNIT_KIND_LABELS: dict[str, str] = {"department": "Sở, ngành", "ward": "UBND phường/xã",
                                    "utility": "Doanh nghiệp dịch vụ", "ioc": "Trung tâm điều hành (IOC)",
                                    "other": "Khác"}
PRIORITY_LABELS: dict[str, str] = {"urgent": "Khẩn", "normal": "Thường", "complex": "Phức tạp"}
DEADLINE_LABELS: dict[str, str] = {"ok": "Trong hạn", "due_soon": "Sắp đến hạn", "overdue": "Quá hạn",
                                   "none": "Chưa có hạn"}
FLAG_LABELS: dict[str, str] = {"reused_photo": "Ảnh dùng lại", "far_from_location": "Ảnh xa vị trí",
                               "old_photo": "Ảnh cũ", "reopened": "Phản ánh lại",
                               "comment_waiting": "Người dân vừa bổ sung", "escalated": "Đã báo cáo cấp trên",
                               "unverified": "Chưa xác minh"}

csrf = CSRFProtect()

#: the resident pages (no staff session is read there)
RESIDENT_BLUEPRINTS = frozenset({"web_public", "web_home", "web_report_form"})

PUBLIC_ENDPOINTS = {"web_auth.login", "web_auth.login_post"}
#: the pages an admin who must set up a second factor may still open (see ``mfa``)
MFA_SETUP_ENDPOINTS: set[str] = set()
#: the pages an account with a temporary password (an admin reset) may open before choosing a new one
PASSWORD_CHANGE_ENDPOINTS = {"web_auth.password", "web_auth.password_post", "web_auth.logout"}


# --------------------------------------------------------------------------- current staff


def current_staff() -> Staff | None:
    if "staff" in g:
        return g.staff
    staff = None
    staff_id = session.get("staff_id")
    if isinstance(staff_id, int):
        staff = city.get_staff(request_session(), staff_id)
        if staff is not None and (session.get("pw") != password_stamp(staff)
                                  or session.get("epoch") != staff.session_epoch):
            staff = None
    g.staff = staff
    return staff


def password_stamp(staff: Staff) -> str:
    return staff.password_changed_at.isoformat() if staff.password_changed_at else "-"


def login(staff: Staff) -> None:
    """Start a fresh session (no fixation: the old cookie's content is dropped)."""
    session.clear()
    session["staff_id"] = staff.id
    session["pw"] = password_stamp(staff)
    session["epoch"] = staff.session_epoch
    session.permanent = False
    g.staff = staff


def logout() -> None:
    session.clear()
    g.pop("staff", None)


def require_staff() -> Staff:
    staff = current_staff()
    assert staff is not None  # guaranteed by the blueprint guard
    return staff


def roles(*allowed: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Refuse the view (403 page) unless the staff member has one of ``allowed`` roles."""

    def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def inner(*args: Any, **kwargs: Any) -> Any:
            staff = require_staff()
            if staff.role not in allowed:
                return error_page(403, _("Bạn không có quyền truy cập trang này."))
            return view(*args, **kwargs)

        return inner

    return wrap


def now() -> datetime:
    return utcnow()


# --------------------------------------------------------------------------- blueprint guards


def protect(bp: Blueprint) -> Blueprint:
    """CSRF on unsafe methods, sign-in required (except the login page), HTML error pages."""

    @bp.before_request
    def _guard() -> Any:
        # who is asking comes first: a signed-out caller is sent to the login page before its form
        # (CSRF token included) is looked at
        if request.endpoint not in PUBLIC_ENDPOINTS and current_staff() is None:
            if request.headers.get("HX-Request"):
                resp = Response(status=401)
                resp.headers["HX-Redirect"] = url_for("web_auth.login")
                return resp
            return redirect(url_for("web_auth.login", next=_safe_next(request.full_path)))
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            csrf.protect()
        staff = current_staff()
        if (staff is not None and request.endpoint not in MFA_SETUP_ENDPOINTS
                and city.totp.missing(request_session(), staff)):
            flash(_("Quản trị viên phải bật xác thực hai bước trước khi tiếp tục."), "error")
            return redirect(url_for("web_mfa.setup"))
        if (staff is not None and staff.must_change_password
                and request.endpoint not in PASSWORD_CHANGE_ENDPOINTS | MFA_SETUP_ENDPOINTS):
            flash(_("Mật khẩu của bạn vừa được quản trị viên đặt lại; hãy chọn mật khẩu mới trước khi tiếp tục."),
                  "error")
            return redirect(url_for("web_auth.password"))
        refuse_bad_parameters()
        return None

    bp.register_error_handler(DomainError, _domain_error)
    bp.register_error_handler(CSRFError, _csrf_error)
    bp.register_error_handler(HTTPException, _http_error)
    return bp


#: query parameters of the staff pages that are dates or months (filters, dashboard, exports)
DATE_PARAMETERS = ("from", "to", "since", "until", "start", "end", "on")


def refuse_bad_parameters() -> None:
    """Refuse (InvalidInput → a Vietnamese page or flash) query/form text the database cannot store
    (NUL) and dates outside the years the calendar works in, before any view or service sees them."""
    for source in (request.args, request.form):
        for key, value in source.items(multi=True):
            if inputs.unstorable(key) or inputs.unstorable(value):
                raise InvalidInput(_("Dữ liệu gửi lên có ký tự không hợp lệ."), code="invalid-characters")
    for name in DATE_PARAMETERS:
        raw = (request.args.get(name) or request.form.get(name) or "").strip()
        if raw and not _date_in_range(raw):
            raise InvalidInput(_("Ngày %(name)s nằm ngoài khoảng cho phép (%(first)s–%(last)s).", name=name,
                                 first=inputs.EARLIEST.year, last=inputs.LATEST.year - 1), code="out-of-range")


def parse_day(raw: str) -> datetime | None:
    """A day typed as Vietnamese write it, ``dd/mm/yyyy`` (also ``d/m/yyyy`` and ISO ``yyyy-mm-dd``, which
    older forms and links send); None when it is not a date."""
    text = (raw or "").strip()
    match = re.fullmatch(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})", text)
    try:
        if match:
            return datetime(int(match[3]), int(match[2]), int(match[1]))
        return datetime.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
    except ValueError:
        return None


def _date_in_range(raw: str) -> bool:
    """False for a date, month or instant outside the accepted years; True otherwise (including text
    that is not a date at all, which the view's own parser refuses with its own message)."""
    day = parse_day(raw)
    if day is not None:
        return inputs.within_range(day)
    text = raw.replace("Z", "+00:00")
    for candidate in (text, text + "-01"):
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        return inputs.within_range(parsed)
    return True


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target.rstrip("?")


def back_url(default: str) -> str:
    """Where to go after a form: the same-origin ``next`` field or the default."""
    return _safe_next(request.form.get("next")) or default


def _domain_error(exc: DomainError) -> Any:
    """A refusal (Forbidden) is a 403 page; other errors of a form post go back to the form as a message."""
    mark_rollback()
    if (request.method == "POST" and not isinstance(exc, Forbidden) and not request.headers.get("HX-Request")
            and request.endpoint != "web_auth.login_post"):
        flash(exc.message, "error")
        return redirect(back_url(request.referrer if _same_origin(request.referrer) else url_for("web_inbox.queue")),
                        code=303)
    return error_page(exc.status, exc.message)


def _same_origin(url: str | None) -> bool:
    if not url:
        return False
    parsed = urlparse(url)
    return parsed.scheme in ("http", "https") and parsed.netloc == request.host


def _csrf_error(exc: CSRFError) -> Any:
    mark_rollback()
    log.info("CSRF refused on %s: %s", request.path, exc.description)
    return error_page(400, _("Phiên làm việc đã hết hạn hoặc biểu mẫu không hợp lệ. "
                             "Vui lòng tải lại trang và thử lại."))


def _http_error(exc: HTTPException) -> Any:
    mark_rollback()
    messages = {404: _("Không tìm thấy trang."), 405: _("Phương thức không được hỗ trợ."),
                413: _("Tệp tải lên quá lớn."), 400: _("Yêu cầu không hợp lệ."),
                429: _("Bạn thao tác quá nhanh; vui lòng chờ một chút rồi thử lại."),
                422: _("Dữ liệu gửi lên không hợp lệ.")}
    # never the library's English (Flask-Limiter's "6 per 1 minute"); an unknown status gets a generic line
    return error_page(exc.code or 400, messages.get(exc.code or 400, _("Yêu cầu không thực hiện được.")))


def error_page(status: int, message: str) -> Response:
    if request.headers.get("HX-Request"):
        resp = Response(render_template("web/_flash_one.html", message=message, category="error"), status=status)
        resp.headers["HX-Reswap"] = "none"
        return resp
    back = request.referrer if _same_origin(request.referrer) else None  # e.g. the report the form was on
    return Response(render_template("web/error.html", status=status, message=message, back=back), status=status)


# --------------------------------------------------------------------------- app-level hooks


def install(app: Flask) -> None:
    app.after_request(_security_headers)
    app.context_processor(_context)
    app.jinja_env.filters["localtime"] = localtime
    app.jinja_env.filters["age"] = age
    app.jinja_env.filters["countdown"] = countdown
    app.jinja_env.filters["working_hours"] = working_hours
    app.jinja_env.globals["qs"] = qs
    app.jinja_env.globals["audience"] = audience


def _is_web() -> bool:
    return bool(request.blueprint and request.blueprint.startswith("web_"))


def _security_headers(response: Response) -> Response:
    if not _is_web():
        return response
    response.headers["Content-Security-Policy"] = csp(http.settings().tile_origin)
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    # the web report form allows the camera and the location for itself (it sets its own policy)
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if response.mimetype == "text/html" and not g.get("public_cache") and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"  # resident pages set their own (CDN) caching
    return response


def _context() -> dict[str, Any]:
    if not _is_web():
        return {}
    # the resident pages never read the session unless they must (no "Vary: Cookie": a CDN may share them)
    signed_in = request.endpoint not in PUBLIC_ENDPOINTS and request.blueprint not in RESIDENT_BLUEPRINTS
    return {"me": current_staff() if signed_in else None,
            "STATE_LABELS": STATE_LABELS, "ROLE_LABELS": ROLE_LABELS, "CHANNEL_LABELS": CHANNEL_LABELS,
            "PRIORITY_LABELS": PRIORITY_LABELS, "DEADLINE_LABELS": DEADLINE_LABELS, "FLAG_LABELS": FLAG_LABELS,
            "UNIT_KIND_LABELS": UNIT_KIND_LABELS, "Role": Role, "now": now(), "TILES": _tiles(),
            "tile_url": _tiles()["url"]}


def _tiles() -> dict[str, str]:
    """The base map for ``maps.js`` (``data-tiles`` / ``data-attribution`` on ``<body>``)."""
    s = http.settings()
    return {"url": s.tile_url if s.tile_origin else "", "attribution": s.tile_attribution}


# --------------------------------------------------------------------------- filters


def audience(action: str, field: str) -> str:
    """What a staff form says next to a text field: will residents see it? (the one visibility rule)."""
    if reports.is_public_field(action, field):
        return _("người dân sẽ thấy")
    return _("chỉ cán bộ thấy")


def qs(query: dict[str, Any], **extra: Any) -> str:
    """A query string from a filter dict (lists repeat the key) plus ``extra``."""
    merged = {**query, **{k: v for k, v in extra.items() if v is not None}}
    return urlencode(merged, doseq=True)


def localtime(value: datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    return value.astimezone(TZ).strftime(fmt) if value else ""


def _span(seconds: float) -> str:
    minutes = int(abs(seconds) // 60)
    if minutes < 60:
        return f"{minutes} phút"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} giờ"
    return f"{hours // 24} ngày"


def working_hours(value: float | None) -> str:
    """A KPI duration in hours, as a person reads it: ``1.5`` → "1 giờ 30 phút", ``0.25`` → "15 phút"."""
    if value is None:
        return "—"
    minutes = round(value * 60)
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} phút"
    return f"{hours} giờ" + (f" {rest} phút" if rest else "")


def age(value: datetime | None) -> str:
    return _span((now() - value).total_seconds()) if value else ""


def countdown(value: datetime | None) -> str:
    if value is None:
        return "—"
    delta = (value - now()).total_seconds()
    return f"còn {_span(delta)}" if delta >= 0 else f"quá {_span(delta)}"
