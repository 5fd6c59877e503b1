"""Admin pages for units: list, create, edit (names, kind, contacts, queue scoping by category) and end
(effective day, successor unit). Routes are declared on the admin blueprint (``admin.bp``).

Ending a unit with open reports needs a successor; the reports move there through the workflow service
(``services/reports/handover.py``). Every change is audited (``staff_audit``, shown on ``/admin/audit``).
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_babel import gettext as _

from backend.db import request_session
from backend.errors import InvalidInput
from backend.models.units import UnitKind
from backend.schemas.common import parse_id
from backend.services import city, reports
from backend.web import common, signin
from backend.web.admin import _day, _done, _lists, bp

#: the kinds offered in the forms, with their Vietnamese names (the IOC is not created here)
KINDS = [k.value for k in (UnitKind.DEPARTMENT, UnitKind.WARD, UnitKind.UTILITY, UnitKind.OTHER)]


@bp.get("/units", endpoint="units")
def units_page() -> Any:
    return render_template("web/admin/units.html", kinds=KINDS, **_lists())


@bp.post("/units")
def unit_create() -> Any:
    f = request.form
    city.create_unit(request_session(), actor=common.require_staff(), code=f.get("code", ""),
                     name_vi=f.get("name_vi", ""), name_en=f.get("name_en", ""),
                     kind=f.get("kind", "department"), email=f.get("email"), phone=f.get("phone"),
                     ip=signin.client_ip())
    return _done("web_admin.units", _("Đã thêm đơn vị."))


@bp.get("/units/<int:unit_id>")
def unit_edit(unit_id: int) -> Any:
    session = request_session()
    unit = city.get_unit(session, unit_id)
    lists = _lists()
    successors = [u for u in lists["active_units"] if u.id != unit.id and u.active_to is None]
    return render_template("web/admin/unit_edit.html", unit=unit, kinds=KINDS, successors=successors,
                           open_count=city.open_report_count(session, unit_id),
                           staff_count=city.staff_count(session, unit_id),
                           ended=unit.active_to is not None and unit.active_to <= common.now(), **lists)


@bp.post("/units/<int:unit_id>")
def unit_update(unit_id: int) -> Any:
    f = request.form
    city.update_unit(request_session(), actor=common.require_staff(), unit_id=unit_id, name_vi=f.get("name_vi", ""),
                     name_en=f.get("name_en", ""), kind=f.get("kind"), email=f.get("email"), phone=f.get("phone"),
                     category_scoped=f.get("category_scoped") == "1", ip=signin.client_ip())
    return _done("web_admin.units", _("Đã lưu đơn vị."))


@bp.post("/units/<int:unit_id>/end")
def unit_end(unit_id: int) -> Any:
    on = _day("on", required=True)
    successor_id = parse_id(request.form.get("successor_id"), "successor_id")
    if on is None:  # pragma: no cover - _day(required=True) raises first
        raise InvalidInput(_("Thiếu ngày."), code="missing-date")
    unit, moved = reports.end_unit(request_session(), actor=common.require_staff(), unit_id=unit_id, on=on,
                                 successor_id=successor_id, now=common.now(), ip=signin.client_ip())
    message = _("Đã đặt ngày kết thúc hoạt động của “%(name)s”: %(day)s.", name=unit.name_vi,
                day=on.strftime("%d/%m/%Y"))
    if moved:
        message += " " + _("Đã chuyển %(n)d phản ánh đang xử lý sang đơn vị kế nhiệm.", n=moved)
    waiting = city.open_report_count(request_session(), unit_id) if unit.successor_id else 0
    if waiting:
        message += " " + _("%(n)d phản ánh đang xử lý sẽ được chuyển sang đơn vị kế nhiệm khi đến ngày kết thúc "
                           "(hoặc trong vài phút nếu đã đến ngày).", n=waiting)
    people = city.staff_count(request_session(), unit_id)
    if people:
        message += " " + _("Còn %(n)d tài khoản cán bộ thuộc đơn vị này; hãy chuyển họ sang đơn vị khác.", n=people)
    return _done("web_admin.units", message)
