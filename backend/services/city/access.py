"""Who may see and change what: the staff access rules every service and view applies.

Admin and dispatcher (the IOC) see every unit; head and officer see their own unit; a viewer sees their
unit, or every unit without one. Viewers never act; units act only on their own reports.
"""

from __future__ import annotations

from sqlmodel import Session, select

from backend.errors import Forbidden
from backend.models.reports import Report
from backend.models.staff import Role, Staff
from backend.models.units import Unit

ACTING_ROLES = {Role.ADMIN.value, Role.DISPATCHER.value, Role.HEAD.value, Role.OFFICER.value}


def sees_all_units(staff: Staff) -> bool:
    return staff.role in (Role.ADMIN, Role.DISPATCHER) or (staff.role == Role.VIEWER and staff.unit_id is None)


def visible_unit_ids(session: Session, *, staff: Staff) -> list[int] | None:
    """Units whose queue ``staff`` may read: ``None`` means every unit."""
    if sees_all_units(staff):
        return None
    return [staff.unit_id] if staff.unit_id is not None else []


def can_see_report(staff: Staff, report: Report) -> bool:
    if sees_all_units(staff):
        return True
    return staff.unit_id is not None and report.unit_id == staff.unit_id


def ensure_can_see(staff: Staff, report: Report) -> None:
    """Raise Forbidden unless ``staff`` may read ``report``."""
    if not can_see_report(staff, report):
        raise Forbidden("Phản ánh này thuộc đơn vị khác; bạn không có quyền xem.", code="other-unit")


def can_act(staff: Staff, report: Report | None = None) -> bool:
    """May ``staff`` change reports (optionally: this one)? Viewers never; units only their own."""
    if staff.role not in ACTING_ROLES:
        return False
    if report is None or staff.role in (Role.ADMIN, Role.DISPATCHER):
        return True
    return staff.unit_id is not None and report.unit_id == staff.unit_id


def ensure_can_act(staff: Staff, report: Report | None = None) -> None:
    if staff.role not in ACTING_ROLES:
        raise Forbidden("Tài khoản chỉ xem không được thực hiện thao tác.", code="read-only")
    if not can_act(staff, report):
        raise Forbidden("Phản ánh này thuộc đơn vị khác; bạn không có quyền xử lý.", code="other-unit")


def home_unit(session: Session, *, staff: Staff) -> Unit | None:
    """The unit whose queue opens first: the staff member's unit, else the IOC triage unit."""
    if staff.unit_id is not None:
        return session.get(Unit, staff.unit_id)
    return session.exec(select(Unit).where(Unit.is_triage == True)).first()  # noqa: E712


def category_scope(session: Session, *, staff: Staff) -> list[int] | None:
    """The categories an officer's queue is limited to, or ``None`` (no limit).

    Only when the officer's unit says so (``units.category_scoped``) and the account lists categories
    (``staff.category_ids``; empty means all of the unit's). Heads, dispatchers and admins are never limited.
    """
    if staff.role != Role.OFFICER or not staff.category_ids or staff.unit_id is None:
        return None
    unit = session.get(Unit, staff.unit_id)
    return list(staff.category_ids) if unit is not None and unit.category_scoped else None
