"""Admin pages: categories, routing rules, calendar, reply templates, API clients, notifications that could
not be sent, and the month's Zalo messages per unit (what the city pays for). Staff accounts
(``admin_staff.py``) and units (``admin_units.py``) declare their routes on this blueprint."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlmodel import col, select

from backend.db import request_session
from backend.errors import InvalidInput
from backend.models.areas import Area
from backend.models.base import utcnow
from backend.models.calendar import CalendarOverride
from backend.models.categories import Category
from backend.models.clients import ApiClient
from backend.models.routing import RoutingRule
from backend.models.staff import Role, Staff, StaffAudit
from backend.models.templates import ReplyTemplate
from backend.models.units import Unit
from backend.schemas.common import parse_id as _int
from backend.services import city, notify
from backend.web import common

bp = Blueprint("web_admin", __name__, url_prefix="/admin", template_folder="templates")
common.protect(bp)


@bp.before_request
def _admins_only() -> Any:
    staff = common.current_staff()
    if staff is not None and staff.role != Role.ADMIN:
        return common.error_page(403, _("Chỉ quản trị viên được vào trang này."))
    return None


def _day(name: str, *, required: bool = False) -> date | None:
    raw = (request.form.get(name) or "").strip()
    if not raw:
        if required:
            raise InvalidInput(_("Thiếu ngày."), code="missing-date")
        return None
    day = common.parse_day(raw)
    if day is None:
        raise InvalidInput(_("Ngày không hợp lệ; hãy nhập theo dạng ngày/tháng/năm (dd/mm/yyyy)."),
                           code="invalid-date")
    return day.date()


def _done(endpoint: str, message: str) -> Any:
    flash(message, "success")
    return redirect(url_for(endpoint), code=303)


def _lists() -> dict[str, Any]:
    """Choices of the admin forms; ``active_units`` are the only ones offered as targets (never an ended
    or merged unit), ``units`` name every unit in the tables."""
    s = request_session()
    units = list(s.exec(select(Unit).order_by(col(Unit.code))))
    now = common.now()
    return {"units": units, "active_units": [u for u in units if city.is_unit_active(u, now)],
            "categories": list(s.exec(select(Category).order_by(col(Category.sort_order), col(Category.code)))),
            "areas": list(s.exec(select(Area.id, Area.name).order_by(col(Area.name)).limit(5000)))}


@bp.get("")
@bp.get("/")
def index() -> Any:
    return redirect(url_for("web_admin.staff"))


@bp.get("/categories")
def categories() -> Any:
    return render_template("web/admin/categories.html", **_lists())


@bp.post("/categories/<int:category_id>")
def category_update(category_id: int) -> Any:
    f = request.form
    city.update_category(request_session(), actor=common.require_staff(), category_id=category_id,
                                  active=f.get("active") == "1",
                                  requires_after_photo=f.get("requires_after_photo") == "1",
                                  priority_default=f.get("priority_default", "normal"),
                                  default_unit_id=_int(f.get("default_unit_id"), "default_unit_id"))
    return _done("web_admin.categories", _("Đã lưu lĩnh vực."))


@bp.get("/rules")
def rules() -> Any:
    rows = list(request_session().exec(select(RoutingRule).order_by(col(RoutingRule.id).desc()).limit(1000)))
    return render_template("web/admin/rules.html", rows=rows, **_lists())


@bp.post("/rules")
def rule_create() -> Any:
    f = request.form
    unit_id = _int(f.get("unit_id"), "unit_id")
    if unit_id is None:
        raise InvalidInput(_("Hãy chọn đơn vị."), code="unit-required")
    city.create_rule(request_session(), actor=common.require_staff(), unit_id=unit_id,
                              category_id=_int(f.get("category_id"), "category_id"),
                              area_id=_int(f.get("area_id"), "area_id"), priority=f.get("priority") or None,
                              active_from=_day("active_from"), active_to=_day("active_to"), note=f.get("note", ""))
    return _done("web_admin.rules", _("Đã thêm quy tắc phân luồng."))


@bp.post("/rules/<int:rule_id>/end")
def rule_end(rule_id: int) -> Any:
    city.end_rule(request_session(), actor=common.require_staff(), rule_id=rule_id,
                           on=_day("on", required=True))  # type: ignore[arg-type]
    return _done("web_admin.rules", _("Đã đặt ngày hết hiệu lực."))


@bp.get("/calendar")
def calendar() -> Any:
    rows = list(request_session().exec(select(CalendarOverride).order_by(col(CalendarOverride.day).desc())))
    return render_template("web/admin/calendar.html", rows=rows)


@bp.post("/calendar")
def calendar_set() -> Any:
    city.ensure_admin(common.require_staff())
    city.set_override(request_session(), day=_day("day", required=True),  # type: ignore[arg-type]
                                  is_working=request.form.get("is_working") == "1",
                                  note=(request.form.get("note") or "").strip())
    return _done("web_admin.calendar", _("Đã lưu ngày điều chỉnh."))


@bp.post("/calendar/remove")
def calendar_remove() -> Any:
    city.ensure_admin(common.require_staff())
    city.remove_override(request_session(), day=_day("day", required=True))  # type: ignore[arg-type]
    return _done("web_admin.calendar", _("Đã xóa ngày điều chỉnh."))


@bp.get("/templates")
def templates() -> Any:
    rows = list(request_session().exec(select(ReplyTemplate).order_by(col(ReplyTemplate.category_id),
                                                                      col(ReplyTemplate.state))))
    return render_template("web/admin/templates.html", rows=rows, states=list(common.STATE_LABELS), **_lists())


@bp.post("/templates")
def template_save() -> Any:
    f = request.form
    city.save_template(request_session(), actor=common.require_staff(),
                                template_id=_int(f.get("template_id"), "template_id"),
                                category_id=_int(f.get("category_id"), "category_id"), state=f.get("state", ""),
                                title=f.get("title", ""), body=f.get("body", ""), locale=f.get("locale", "vi"))
    return _done("web_admin.templates", _("Đã lưu mẫu trả lời."))


@bp.post("/templates/<int:template_id>/delete")
def template_delete(template_id: int) -> Any:
    city.delete_template(request_session(), actor=common.require_staff(), template_id=template_id)
    return _done("web_admin.templates", _("Đã xóa mẫu trả lời."))


@bp.get("/clients")
def clients() -> Any:
    rows = list(request_session().exec(select(ApiClient).order_by(col(ApiClient.id))))
    return render_template("web/admin/clients.html", rows=rows, new_key=None, **_lists())


@bp.post("/clients")
def client_create() -> Any:
    city.ensure_admin(common.require_staff())
    client, key = city.create_client(request_session(), name=request.form.get("name", ""),
                                                unit_code=request.form.get("unit_code") or None)
    rows = list(request_session().exec(select(ApiClient).order_by(col(ApiClient.id))))
    return render_template("web/admin/clients.html", rows=rows, new_key=key, new_client=client, **_lists())


@bp.post("/clients/<int:client_id>/revoke")
def client_revoke(client_id: int) -> Any:
    city.ensure_admin(common.require_staff())
    city.revoke_client(request_session(), client_id=client_id)
    return _done("web_admin.clients", _("Đã thu hồi khóa API."))


@bp.get("/zalo")
def zalo() -> Any:
    """The month's Zalo messages per unit by tier: free and paid customer-service messages, ZNS."""
    session = request_session()
    tz = city.timezone(session)
    raw = (request.args.get("month") or "").strip()
    month = _month(raw) if raw else common.localtime(utcnow(), "%Y-%m")
    if month is None:
        return common.error_page(400, _("Tháng không hợp lệ: cần dạng NNNN-TT, ví dụ 2026-11."))
    bills = notify.paid_counts(session, month=date.fromisoformat(month + "-01"), tz=tz)
    return render_template("web/admin/zalo.html", bills=bills, month=month, policy=city.zalo_policy(session),
                           totals={k: sum(getattr(b, k) for b in bills) for k in ("cs_free", "cs_paid", "zns", "paid")})


def _month(raw: str) -> str | None:
    """``YYYY-MM`` between 2000 and 2100, else None."""
    try:
        first = date.fromisoformat(raw + "-01")
    except ValueError:
        return None
    return raw if len(raw) == 7 and 2000 <= first.year <= 2100 else None


@bp.get("/deliveries")
def deliveries() -> Any:
    """Failed and undeliverable notifications, newest first, with a retry button each."""
    session = request_session()
    return render_template("web/admin/deliveries.html", rows=notify.problems(session), reasons=notify.DELIVERY_REASONS,
                           summary=notify.stuck_summary(session))


@bp.post("/deliveries/<int:delivery_id>/retry")
def delivery_retry(delivery_id: int) -> Any:
    city.ensure_admin(common.require_staff())
    notify.retry(request_session(), delivery_id=delivery_id)
    return _done("web_admin.deliveries", _("Đã xếp lịch gửi lại thông báo."))


#: the audit trail's kinds in Vietnamese (``staff_audit.kind``)
AUDIT_LABELS: dict[str, str] = {
    "login_backoff": "Tạm chặn đăng nhập", "sessions_ended": "Kết thúc phiên đăng nhập",
    "totp_enabled": "Bật xác thực hai bước", "totp_disabled": "Tắt xác thực hai bước",
    "recovery_code_used": "Dùng mã khôi phục", "staff_created": "Tạo tài khoản", "staff_updated": "Sửa tài khoản",
    "staff_activated": "Mở khóa tài khoản", "staff_deactivated": "Khóa tài khoản",
    "password_reset": "Đặt lại mật khẩu", "unit_created": "Thêm đơn vị", "unit_updated": "Sửa đơn vị",
    "unit_ended": "Kết thúc đơn vị",
}


@bp.get("/audit")
def audit() -> Any:
    """Who changed what and when: the newest 300 rows of the audit trail (staff accounts, units, security)."""
    session = request_session()
    rows = list(session.exec(select(StaffAudit).order_by(col(StaffAudit.id).desc()).limit(300)))
    people = {s.id: s.email for s in session.exec(select(Staff))}
    return render_template("web/admin/audit.html", rows=rows, people=people, labels=AUDIT_LABELS, **_lists())
