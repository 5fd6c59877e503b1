"""Admin pages: staff accounts, units, categories, routing rules, calendar, reply templates, API clients,
notifications that could not be sent, and the month's Zalo messages per unit (what the city pays for)."""

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
from backend.models.staff import Role, Staff
from backend.models.templates import ReplyTemplate
from backend.models.units import Unit
from backend.schemas.common import parse_id as _int
from backend.services import city, notify
from backend.web import common, signin

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
    s = request_session()
    return {"units": list(s.exec(select(Unit).order_by(col(Unit.code)))),
            "categories": list(s.exec(select(Category).order_by(col(Category.sort_order), col(Category.code)))),
            "areas": list(s.exec(select(Area.id, Area.name).order_by(col(Area.name)).limit(5000)))}


@bp.get("")
@bp.get("/")
def index() -> Any:
    return redirect(url_for("web_admin.staff"))


@bp.get("/staff")
def staff() -> Any:
    rows = list(request_session().exec(select(Staff).order_by(col(Staff.email))))
    return render_template("web/admin/staff.html", rows=rows, roles=[r.value for r in Role], **_lists())


@bp.post("/staff")
def staff_create() -> Any:
    f = request.form
    city.admin_create_staff(request_session(), actor=common.require_staff(), email=f.get("email", ""),
                               password=f.get("password", ""), role=f.get("role", ""),
                               unit_code=f.get("unit_code") or None, name=f.get("name", ""))
    return _done("web_admin.staff", _("Đã tạo tài khoản."))


@bp.post("/staff/<int:staff_id>/active")
def staff_active(staff_id: int) -> Any:
    active = request.form.get("active") == "1"
    city.set_staff_active(request_session(), actor=common.require_staff(), staff_id=staff_id, active=active,
                          ip=signin.client_ip())
    return _done("web_admin.staff", _("Đã mở khóa tài khoản.") if active else _("Đã khóa tài khoản."))


@bp.post("/staff/<int:staff_id>/sessions")
def staff_sessions(staff_id: int) -> Any:
    """Sign out everywhere: every session of the account ends at once (e.g. a lost phone)."""
    city.sign_out_everywhere(request_session(), actor=common.require_staff(), staff_id=staff_id,
                             ip=signin.client_ip())
    return _done("web_admin.staff", _("Đã đăng xuất tài khoản khỏi mọi thiết bị."))


@bp.get("/units")
def units() -> Any:
    return render_template("web/admin/units.html", **_lists())


@bp.post("/units")
def unit_create() -> Any:
    f = request.form
    city.create_unit(request_session(), actor=common.require_staff(), code=f.get("code", ""),
                              name_vi=f.get("name_vi", ""), name_en=f.get("name_en", ""),
                              kind=f.get("kind", "department"), email=f.get("email"))
    return _done("web_admin.units", _("Đã thêm đơn vị."))


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
