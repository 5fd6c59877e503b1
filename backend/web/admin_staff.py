"""Admin pages for staff accounts: list, create, edit (role, unit, active, categories), lock/unlock, sign
out everywhere, reset the password (a temporary password shown once, on the answer page only — never in
a flash message, which lives in the session cookie). Routes are declared on the admin blueprint.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import gettext as _
from sqlmodel import col, select

from backend.db import request_session
from backend.errors import NotFound
from backend.models.staff import Role, Staff
from backend.schemas.common import parse_id
from backend.services import city
from backend.web import common, signin
from backend.web.admin import _done, _lists, bp


def _rows() -> list[Staff]:
    return list(request_session().exec(select(Staff).order_by(col(Staff.email))))


@bp.get("/staff")
def staff() -> Any:
    return render_template("web/admin/staff.html", rows=_rows(), roles=[r.value for r in Role], **_lists())


@bp.post("/staff")
def staff_create() -> Any:
    f = request.form
    city.admin_create_staff(request_session(), actor=common.require_staff(), email=f.get("email", ""),
                            password=f.get("password", ""), role=f.get("role", ""),
                            unit_code=f.get("unit_code") or None, name=f.get("name", ""), ip=signin.client_ip())
    return _done("web_admin.staff", _("Đã tạo tài khoản."))


def _account(staff_id: int) -> Staff:
    account = request_session().get(Staff, staff_id)
    if account is None:
        raise NotFound(_("Không tìm thấy tài khoản."), code="unknown-staff")
    return account


@bp.get("/staff/<int:staff_id>")
def staff_edit(staff_id: int) -> Any:
    return render_template("web/admin/staff_edit.html", account=_account(staff_id), roles=[r.value for r in Role],
                           temporary=None, **_lists())


@bp.post("/staff/<int:staff_id>")
def staff_update(staff_id: int) -> Any:
    f = request.form
    categories = [parse_id(v, "category_id") for v in f.getlist("category_id")]
    city.update_staff(request_session(), actor=common.require_staff(), staff_id=staff_id, role=f.get("role", ""),
                      unit_id=parse_id(f.get("unit_id"), "unit_id"), active=f.get("active") == "1",
                      name=f.get("name", ""), category_ids=[c for c in categories if c is not None],
                      now=common.now(), ip=signin.client_ip())
    return _done("web_admin.staff", _("Đã lưu tài khoản."))


@bp.post("/staff/<int:staff_id>/password")
def staff_password_reset(staff_id: int) -> Any:
    """Reset the password: the answer page shows the temporary password once (no redirect, no flash)."""
    account, temporary = city.reset_password(request_session(), actor=common.require_staff(), staff_id=staff_id,
                                             now=common.now(), ip=signin.client_ip())
    response = render_template("web/admin/staff_edit.html", account=account, roles=[r.value for r in Role],
                               temporary=temporary, **_lists())
    return response, 200, {"Cache-Control": "no-store"}


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
