"""Admin edits behind the admin pages: staff accounts, units, categories, routing rules, templates.

Every function checks that the actor is an admin (Forbidden otherwise) — the pages check it too,
but authorisation lives here. Calendar overrides and API clients use their own services
(``services/city/calendar.py``, ``services/city/clients.py``) after :func:`ensure_admin`.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from backend.errors import Forbidden, InvalidInput, NotFound
from backend.models.base import utcnow
from backend.models.categories import Category, Priority
from backend.models.routing import RoutingRule
from backend.models.staff import Role, Staff
from backend.models.templates import ReplyTemplate
from backend.models.units import Unit
from backend.services.city import staff as staff_service
from backend.services.city.routing import is_active

log = logging.getLogger(__name__)

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def ensure_admin(actor: Staff) -> None:
    if actor.role != Role.ADMIN:
        raise Forbidden("Chỉ quản trị viên được thực hiện thao tác này.", code="admin-only")


def _text(value: str | None, name: str, *, max_len: int, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidInput(f"Thiếu {name}.", code="missing-field")
    if len(value) > max_len:
        raise InvalidInput(f"{name} quá dài (tối đa {max_len} ký tự).", code="too-long")
    return value


def local_day_start(day: date | None, tz: ZoneInfo = TZ) -> datetime | None:
    """Effective dates are city-local days; stored as the UTC instant of local midnight."""
    return datetime.combine(day, time(0), tzinfo=tz) if day else None


# --------------------------------------------------------------------------- staff


def set_staff_active(session: Session, *, actor: Staff, staff_id: int, active: bool, ip: str = "") -> Staff:
    ensure_admin(actor)
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise NotFound("Không tìm thấy tài khoản.", code="unknown-staff")
    if staff.id == actor.id and not active:
        raise InvalidInput("Không thể tự khóa tài khoản của mình.", code="self-lock")
    changed = staff.is_active != active
    staff.is_active = active
    staff.failed_logins = 0
    staff.locked_until = None
    session.add(staff)
    session.flush()
    staff_service.audit(session, "staff_activated" if active else "staff_deactivated", ip=ip, staff_id=staff.id,
                        actor_id=actor.id, email=staff.email, changed=changed)
    if not active:  # a deactivated account keeps no session, even if it is activated again later
        staff_service.end_sessions(session, staff_id=staff.id, actor_id=actor.id, reason="deactivated", ip=ip)
    log.info("admin %s set staff %s active=%s", actor.id, staff.id, active)
    return staff


def sign_out_everywhere(session: Session, *, actor: Staff, staff_id: int, ip: str = "") -> int:
    """End every session of an account at once (a lost phone, a shared password); audited. Admins only."""
    ensure_admin(actor)
    if session.get(Staff, staff_id) is None:
        raise NotFound("Không tìm thấy tài khoản.", code="unknown-staff")
    return staff_service.end_sessions(session, staff_id=staff_id, actor_id=actor.id, reason="signed_out_everywhere",
                                      ip=ip)


def create_staff(session: Session, *, actor: Staff, email: str, password: str, role: str,
                 unit_code: str | None, name: str, ip: str = "") -> Staff:
    """A new account (InvalidInput for a bad e-mail, role, password, or an unknown or ended unit); audited."""
    ensure_admin(actor)
    if unit_code:
        unit = session.exec(select(Unit).where(Unit.code == unit_code)).first()
        if unit is None or not is_active(unit, utcnow()):
            raise InvalidInput("Đơn vị đã chọn không tồn tại hoặc đã ngừng hoạt động.", code="unknown-unit")
    staff = staff_service.create_staff(session, email=email, password=password, role=role,
                                       unit_code=unit_code or None, name=_text(name, "họ tên", max_len=255,
                                                                               required=False))
    staff_service.audit(session, "staff_created", ip=ip, staff_id=staff.id, actor_id=actor.id, email=staff.email,
                        role=staff.role, unit_id=staff.unit_id)
    return staff


def _target_unit(session: Session, unit_id: int) -> Unit:
    """A unit a rule or a category may send reports to: it exists and has not ended."""
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise NotFound("Không tìm thấy đơn vị.", code="unknown-unit")
    if not is_active(unit, utcnow()):
        raise InvalidInput(f"Đơn vị “{unit.name_vi}” đã ngừng hoạt động; hãy chọn một đơn vị đang hoạt động.",
                           code="unit-ended")
    return unit


# --------------------------------------------------------------------------- units and categories


def update_category(session: Session, *, actor: Staff, category_id: int, active: bool,
                    requires_after_photo: bool, priority_default: str, default_unit_id: int | None) -> Category:
    ensure_admin(actor)
    category = session.get(Category, category_id)
    if category is None:
        raise NotFound("Không tìm thấy lĩnh vực.", code="unknown-category")
    if priority_default not in {p.value for p in Priority}:
        raise InvalidInput("Mức ưu tiên không hợp lệ.", code="invalid-priority")
    if default_unit_id is not None and default_unit_id != category.default_unit_id:
        _target_unit(session, default_unit_id)
    category.active = active
    category.requires_after_photo = requires_after_photo
    category.priority_default = priority_default
    category.default_unit_id = default_unit_id
    session.add(category)
    session.flush()
    return category


# --------------------------------------------------------------------------- routing rules


def create_rule(session: Session, *, actor: Staff, unit_id: int, category_id: int | None, area_id: int | None,
                priority: str | None, active_from: date | None, active_to: date | None, note: str = "") -> RoutingRule:
    """A routing rule with effective dates (city-local days; ``active_to`` exclusive)."""
    ensure_admin(actor)
    _target_unit(session, unit_id)
    if category_id is not None and session.get(Category, category_id) is None:
        raise NotFound("Không tìm thấy lĩnh vực.", code="unknown-category")
    if priority and priority not in {p.value for p in Priority}:
        raise InvalidInput("Mức ưu tiên không hợp lệ.", code="invalid-priority")
    if active_from and active_to and active_to <= active_from:
        raise InvalidInput("Ngày hết hiệu lực phải sau ngày bắt đầu.", code="invalid-period")
    rule = RoutingRule(unit_id=unit_id, category_id=category_id, area_id=area_id, priority=priority or None,
                       active_from=local_day_start(active_from), active_to=local_day_start(active_to),
                       note=_text(note, "ghi chú", max_len=500, required=False))
    session.add(rule)
    session.flush()
    return rule


def end_rule(session: Session, *, actor: Staff, rule_id: int, on: date) -> RoutingRule:
    """Stop a rule from the start of ``on`` (history is kept: rules are never deleted)."""
    ensure_admin(actor)
    rule = session.get(RoutingRule, rule_id)
    if rule is None:
        raise NotFound("Không tìm thấy quy tắc.", code="unknown-rule")
    end = local_day_start(on)
    if rule.active_from is not None and end is not None and end <= rule.active_from:
        raise InvalidInput("Ngày kết thúc phải sau ngày bắt đầu hiệu lực.", code="invalid-period")
    rule.active_to = end
    session.add(rule)
    session.flush()
    return rule


# --------------------------------------------------------------------------- reply templates


def save_template(session: Session, *, actor: Staff, template_id: int | None, category_id: int | None, state: str,
                  title: str, body: str, locale: str = "vi") -> ReplyTemplate:
    ensure_admin(actor)
    template = session.get(ReplyTemplate, template_id) if template_id else ReplyTemplate(state=state, title=title,
                                                                                         body=body)
    if template is None:
        raise NotFound("Không tìm thấy mẫu trả lời.", code="unknown-template")
    if locale not in ("vi", "en"):
        raise InvalidInput("Ngôn ngữ không hợp lệ.", code="invalid-locale")
    template.category_id = category_id
    template.state = _text(state, "trạng thái", max_len=32)
    template.title = _text(title, "tiêu đề", max_len=255)
    template.body = _text(body, "nội dung", max_len=4000)
    template.locale = locale
    session.add(template)
    session.flush()
    return template


def delete_template(session: Session, *, actor: Staff, template_id: int) -> None:
    ensure_admin(actor)
    template = session.get(ReplyTemplate, template_id)
    if template is None:
        raise NotFound("Không tìm thấy mẫu trả lời.", code="unknown-template")
    session.delete(template)
    session.flush()
