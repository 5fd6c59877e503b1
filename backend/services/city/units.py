"""Units in the admin pages: create and edit (validated codes, unique names), and the checks that come
before a unit is ended (``services/reports/handover.py`` moves its open reports through the workflow).

Rules:

- a unit **code** is lowercase ASCII letters, digits and single hyphens (``so-xd``, ``ubnd-phu-loi``),
  at most 64 characters; it never changes once created (routing rules, city packs and API clients name it);
- unit **names** (Vietnamese) are unique among units, compared accent- and case-insensitively
  (``backend.text.fold``: "Sở Xây dựng" = "so xay dung");
- every change is audited in ``staff_audit`` (who, what, when; ``staff.audit``).
"""

from __future__ import annotations

import re
from datetime import date, datetime

from sqlmodel import Session, col, select

from backend.errors import InvalidInput, NotFound
from backend.models.reports import OPEN_STATES, Report
from backend.models.staff import Staff
from backend.models.units import Unit, UnitKind
from backend.services.city import admin
from backend.services.city import staff as staff_service
from backend.services.city.routing import is_active
from backend.text import fold

CODE_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
#: kinds an admin may give a unit (the IOC is set up by the city pack, never from the admin page)
EDITABLE_KINDS = frozenset({UnitKind.DEPARTMENT, UnitKind.WARD, UnitKind.UTILITY, UnitKind.OTHER})
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"^[0-9 +().-]{3,32}$")


def validate_code(code: str | None) -> str:
    """The code, stripped; InvalidInput unless lowercase ASCII letters, digits and hyphens."""
    code = (code or "").strip()
    if not code:
        raise InvalidInput("Thiếu mã đơn vị.", code="missing-field")
    if len(code) > 64 or not CODE_RE.match(code):
        raise InvalidInput(f"Mã đơn vị “{code[:64]}” không hợp lệ: chỉ dùng chữ thường không dấu (a–z), chữ số "
                           "và dấu gạch nối, không có khoảng trắng, ví dụ “phong-qldt”.", code="invalid-unit-code")
    return code


def _kind(kind: str | None) -> str:
    if kind not in {k.value for k in EDITABLE_KINDS}:
        raise InvalidInput("Loại đơn vị không hợp lệ.", code="invalid-kind")
    return str(kind)


def _contact(value: str | None, pattern: re.Pattern[str], message: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > 255 or not pattern.match(value):
        raise InvalidInput(message, code="invalid-contact")
    return value


def _unique_name(session: Session, name: str, *, unit_id: int | None) -> None:
    key = fold(name)
    for other_id, other_name in session.exec(select(Unit.id, Unit.name_vi)).all():
        if other_id != unit_id and fold(other_name) == key:
            raise InvalidInput(f"Tên đơn vị “{name}” trùng với một đơn vị đã có (“{other_name}”).",
                               code="unit-name-taken")


def _fields(session: Session, *, unit_id: int | None, name_vi: str, name_en: str, kind: str | None,
            email: str | None, phone: str | None, keep_kind: str | None = None) -> dict[str, object]:
    """Validated editable fields; ``keep_kind`` (the IOC's) is kept instead of a submitted kind."""
    name = admin._text(name_vi, "tên đơn vị", max_len=255)
    _unique_name(session, name, unit_id=unit_id)
    return {"name_vi": name, "name_en": admin._text(name_en, "tên tiếng Anh", max_len=255, required=False),
            "kind": keep_kind or _kind(kind),
            "email": _contact(email, EMAIL_RE, "Địa chỉ e-mail của đơn vị không hợp lệ."),
            "phone": _contact(phone, PHONE_RE, "Số điện thoại của đơn vị không hợp lệ (chỉ chữ số, dấu cách, +, -).")}


def create_unit(session: Session, *, actor: Staff, code: str, name_vi: str, name_en: str = "",
                kind: str = UnitKind.DEPARTMENT, email: str | None = None, phone: str | None = None,
                ip: str = "") -> Unit:
    """A new unit. InvalidInput for a bad code, a code or name already used, a bad kind or contact."""
    admin.ensure_admin(actor)
    code = validate_code(code)
    fields = _fields(session, unit_id=None, name_vi=name_vi, name_en=name_en, kind=kind, email=email, phone=phone)
    if session.exec(select(Unit).where(Unit.code == code)).first():
        raise InvalidInput(f"Mã đơn vị {code} đã có.", code="unit-exists")
    unit = Unit(code=code, **fields)  # type: ignore[arg-type]
    session.add(unit)
    session.flush()
    staff_service.audit(session, "unit_created", ip=ip, actor_id=actor.id, unit_id=unit.id, code=code,
                        name=unit.name_vi)
    return unit


def update_unit(session: Session, *, actor: Staff, unit_id: int, name_vi: str, name_en: str = "",
                kind: str | None = None, email: str | None = None, phone: str | None = None,
                category_scoped: bool = False, ip: str = "") -> Unit:
    """Edit a unit's names, kind, contacts and queue scoping (the code never changes); audited with the
    fields that changed. The IOC keeps its kind."""
    admin.ensure_admin(actor)
    unit = get_unit(session, unit_id)
    fields = _fields(session, unit_id=unit.id, name_vi=name_vi, name_en=name_en, kind=kind, email=email, phone=phone,
                     keep_kind=unit.kind if unit.is_triage else None)
    fields["category_scoped"] = bool(category_scoped)
    changed = {k: [getattr(unit, k), v] for k, v in fields.items() if getattr(unit, k) != v}
    for key, value in fields.items():
        setattr(unit, key, value)
    session.add(unit)
    session.flush()
    staff_service.audit(session, "unit_updated", ip=ip, actor_id=actor.id, unit_id=unit.id, code=unit.code,
                        changed=changed)
    return unit


def get_unit(session: Session, unit_id: int | None) -> Unit:
    unit = session.get(Unit, unit_id) if unit_id is not None else None
    if unit is None:
        raise NotFound("Không tìm thấy đơn vị.", code="unknown-unit")
    return unit


def staff_count(session: Session, unit_id: int) -> int:
    """Active staff accounts that still belong to the unit (an ended unit's people are moved by an admin)."""
    return len(session.exec(select(Staff.id).where(Staff.unit_id == unit_id, Staff.is_active == True)).all())  # noqa: E712


def open_report_count(session: Session, unit_id: int) -> int:
    return len(session.exec(select(Report.id).where(Report.unit_id == unit_id,
                                                    col(Report.status).in_(list(OPEN_STATES)))).all())


def check_end(session: Session, *, unit: Unit, end: datetime, on: date, today: date,
              successor_id: int | None, now: datetime) -> Unit | None:
    """Refuse (InvalidInput) an end the city cannot live with; returns the successor unit (or None).

    - the IOC never ends; a unit that has already ended cannot end again;
    - the day is today or later (an end is never back-dated: reports routed since then would be wrong)
      and after the unit's start;
    - the successor exists, is another unit, is active now and has no end of its own;
    - a unit that still has open reports needs a successor (they are moved there), and so does an end on a
      later day (reports may arrive before it).
    """
    if unit.is_triage:
        raise InvalidInput("Không thể kết thúc đơn vị tiếp nhận và phân loại (IOC).", code="triage-unit")
    if unit.active_to is not None and unit.active_to <= now:
        raise InvalidInput("Đơn vị này đã kết thúc hoạt động.", code="unit-ended")
    if on < today:
        raise InvalidInput("Ngày kết thúc không được ở trong quá khứ; hãy chọn hôm nay hoặc một ngày sau.",
                           code="invalid-date")
    if unit.active_from is not None and end <= unit.active_from:
        raise InvalidInput("Ngày kết thúc phải sau ngày bắt đầu hoạt động của đơn vị.", code="invalid-period")
    successor = _successor(session, unit=unit, successor_id=successor_id, now=now)
    if successor is None and on > today:
        raise InvalidInput("Kết thúc vào một ngày sau cần có đơn vị kế nhiệm: phản ánh mới có thể đến trước "
                           "ngày đó.", code="successor-required")
    if successor is None:
        count = open_report_count(session, unit.id)  # type: ignore[arg-type]
        if count:
            raise InvalidInput(f"Đơn vị còn {count} phản ánh đang xử lý; hãy chọn đơn vị kế nhiệm để chuyển các "
                               "phản ánh này trước khi kết thúc.", code="successor-required")
    return successor


def _successor(session: Session, *, unit: Unit, successor_id: int | None, now: datetime) -> Unit | None:
    if successor_id is None:
        return None
    successor = session.get(Unit, successor_id)
    if successor is None:
        raise InvalidInput("Không tìm thấy đơn vị kế nhiệm.", code="unknown-successor")
    if successor.id == unit.id:
        raise InvalidInput("Đơn vị kế nhiệm phải là một đơn vị khác.", code="invalid-successor")
    if not is_active(successor, now) or successor.active_to is not None:
        raise InvalidInput(f"Đơn vị kế nhiệm “{successor.name_vi}” đã hoặc sắp kết thúc hoạt động; hãy chọn "
                           "một đơn vị đang hoạt động.", code="successor-ended")
    return successor
