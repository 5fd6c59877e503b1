"""Staff accounts in the admin pages: edit (role, unit, active, the categories an officer works on) and
an admin-initiated password reset. Admins only; every change is audited in ``staff_audit``.

Password reset: the admin is shown a **one-time temporary password** (never stored in clear, never
logged, shown once); the account's sessions end at once and ``must_change_password`` sends its owner to
the password page before any other page at the next sign-in (the self-service change, with the same
policy, clears it). There is no e-mailed link: staff e-mail is not a channel the city sends from.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime

from sqlmodel import Session, col, select

from backend.errors import InvalidInput, NotFound
from backend.models.categories import Category
from backend.models.staff import Role, Staff
from backend.models.units import Unit
from backend.services.city import admin
from backend.services.city import staff as staff_service
from backend.services.city.routing import is_active

#: letters and digits nobody confuses when reading them out (no 0/O, 1/l/I)
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"


def temporary_password() -> str:
    """Four groups of four characters (``xk7m-…``): 19 characters, ~80 bits, typed easily."""
    return "-".join("".join(secrets.choice(_ALPHABET) for _ in range(4)) for _ in range(4))


def _account(session: Session, staff_id: int) -> Staff:
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise NotFound("Không tìm thấy tài khoản.", code="unknown-staff")
    return staff


def _unit(session: Session, unit_id: int | None, now: datetime) -> Unit | None:
    if unit_id is None:
        return None
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise InvalidInput("Đơn vị đã chọn không tồn tại.", code="unknown-unit")
    if not is_active(unit, now):
        raise InvalidInput(f"Đơn vị “{unit.name_vi}” đã ngừng hoạt động; hãy chọn một đơn vị đang hoạt động.",
                           code="unit-ended")
    return unit


def _categories(session: Session, ids: Iterable[int]) -> list[int]:
    wanted = sorted(set(ids))
    if not wanted:
        return []
    found = set(session.exec(select(Category.id).where(col(Category.id).in_(wanted))).all())
    if found != set(wanted):
        raise InvalidInput("Có lĩnh vực đã chọn không tồn tại.", code="unknown-category")
    return wanted


def update_staff(session: Session, *, actor: Staff, staff_id: int, role: str, unit_id: int | None, active: bool,
                 name: str, category_ids: Iterable[int] = (), now: datetime, ip: str = "") -> Staff:
    """Change an account's role, unit, active flag, name and categories.

    InvalidInput: unknown role, unknown or ended unit, head/officer without a unit, unknown category,
    an admin taking away their own admin role or locking themselves out. Deactivating ends every session.
    """
    admin.ensure_admin(actor)
    staff = _account(session, staff_id)
    if role not in {r.value for r in Role}:
        raise InvalidInput("Vai trò không hợp lệ.", code="invalid-role")
    # keeping the account's current unit is always allowed; a new unit must exist and be active
    unit = session.get(Unit, unit_id) if unit_id is not None and unit_id == staff.unit_id \
        else _unit(session, unit_id, now)
    if unit is None and role in (Role.HEAD, Role.OFFICER):
        raise InvalidInput("Trưởng đơn vị và cán bộ phải thuộc một đơn vị.", code="unit-required")
    if staff.id == actor.id and (role != Role.ADMIN or not active):
        raise InvalidInput("Không thể tự bỏ quyền quản trị hoặc tự khóa tài khoản của mình.", code="self-lock")
    fields = {"role": role, "unit_id": unit.id if unit else None, "is_active": bool(active),
              "name": admin._text(name, "họ tên", max_len=255, required=False) or staff.name,
              "category_ids": _categories(session, category_ids)}
    changed = {k: [getattr(staff, k), v] for k, v in fields.items() if getattr(staff, k) != v}
    for key, value in fields.items():
        setattr(staff, key, value)
    if "is_active" in changed:
        staff.failed_logins, staff.locked_until = 0, None
    session.add(staff)
    session.flush()
    staff_service.audit(session, "staff_updated", ip=ip, staff_id=staff.id, actor_id=actor.id, email=staff.email,
                        changed=changed)
    if not active and "is_active" in changed:
        staff_service.end_sessions(session, staff_id=staff.id, actor_id=actor.id, reason="deactivated", ip=ip)
    return staff


def reset_password(session: Session, *, actor: Staff, staff_id: int, now: datetime, ip: str = "") -> tuple[Staff, str]:
    """Give the account a new temporary password (returned once, to show the admin), end its sessions and
    make its owner choose a new password at the next sign-in. An admin's own account is refused (the
    self-service page asks for the current password instead)."""
    admin.ensure_admin(actor)
    staff = _account(session, staff_id)
    if staff.id == actor.id:
        raise InvalidInput("Hãy đổi mật khẩu của chính mình ở trang “Đổi mật khẩu”.", code="own-account")
    password = temporary_password()
    staff.password_hash = staff_service.hash_password(password)
    staff.password_changed_at = now
    staff.must_change_password = True
    staff.failed_logins, staff.locked_until = 0, None
    session.add(staff)
    session.flush()
    staff_service.audit(session, "password_reset", ip=ip, staff_id=staff.id, actor_id=actor.id, email=staff.email)
    staff.session_epoch = staff_service.end_sessions(session, staff_id=staff.id, actor_id=actor.id,
                                                     reason="password_reset", ip=ip)
    return staff, password
