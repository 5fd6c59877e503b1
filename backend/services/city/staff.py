"""Staff accounts: creation, password hashing (argon2id), lookups.

Authentication with lockout and password changes live here too (see the inbox issue).
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from backend.errors import Conflict, Forbidden, InvalidInput, Unauthorized
from backend.models.staff import Role, Staff
from backend.services.city import catalog as queries

log = logging.getLogger(__name__)
_hasher = PasswordHasher()
MIN_PASSWORD = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(staff: Staff, password: str) -> bool:
    """Constant-time verification; never raises for a malformed stored hash."""
    try:
        return _hasher.verify(staff.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"Mật khẩu phải có ít nhất {MIN_PASSWORD} ký tự.", code="weak-password")


def create_staff(session: Session, *, email: str, password: str, role: str, unit_code: str | None = None,
                 name: str = "", locale: str = "vi") -> Staff:
    """Create a staff account. Raises InvalidInput (bad role/unit/password) or Conflict (e-mail taken)."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 255:
        raise InvalidInput("Địa chỉ e-mail không hợp lệ.", code="invalid-email")
    if role not in {r.value for r in Role}:
        raise InvalidInput(f"Vai trò không hợp lệ: {role}.", code="invalid-role")
    validate_password(password)
    unit_id = queries.unit_id_for(session, unit_code)
    if unit_id is None and role in (Role.HEAD, Role.OFFICER):
        raise InvalidInput("Trưởng đơn vị và cán bộ phải thuộc một đơn vị.", code="unit-required")
    if session.exec(select(Staff).where(Staff.email == email)).first():
        raise Conflict(f"E-mail {email} đã được dùng.", code="email-taken")
    staff = Staff(email=email, name=name or email.split("@")[0], password_hash=hash_password(password),
                  role=role, unit_id=unit_id, locale=locale)
    session.add(staff)
    session.flush()
    return staff


def by_email(session: Session, email: str) -> Staff | None:
    return session.exec(select(Staff).where(Staff.email == email.strip().lower())).first()


MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
_BAD_LOGIN = "E-mail hoặc mật khẩu không đúng."
#: a valid hash to verify against when the e-mail is unknown (same cost, no timing oracle)
_DUMMY_HASH = _hasher.hash("phananh-dummy-password")


def authenticate(session: Session, *, email: str, password: str, now: datetime) -> Staff:
    """Check credentials and return the staff member.

    Side effects: counts failures; after ``MAX_FAILURES`` the account is locked for ``LOCKOUT``;
    a success resets the counter and stamps ``last_login_at``. Raises Unauthorized with one generic
    message whether or not the e-mail exists, or Forbidden (code ``account-locked``) while locked.
    """
    staff = by_email(session, email or "")
    if staff is None or not staff.is_active:
        with contextlib.suppress(VerificationError, InvalidHashError):
            _hasher.verify(_DUMMY_HASH, password or "")
        raise Unauthorized(_BAD_LOGIN, code="bad-credentials")
    if staff.locked_until is not None and staff.locked_until > now:
        minutes = max(1, int((staff.locked_until - now).total_seconds() // 60) + 1)
        raise Forbidden(f"Tài khoản tạm khóa do đăng nhập sai nhiều lần; thử lại sau {minutes} phút.",
                        code="account-locked")
    if not check_password(staff, password or ""):
        staff.failed_logins += 1
        if staff.failed_logins >= MAX_FAILURES:
            staff.locked_until = now + LOCKOUT
            staff.failed_logins = 0
            log.warning("staff %s locked after %d failed logins", staff.id, MAX_FAILURES)
        session.add(staff)
        session.flush()
        raise Unauthorized(_BAD_LOGIN, code="bad-credentials")
    staff.failed_logins = 0
    staff.locked_until = None
    staff.last_login_at = now
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = hash_password(password)
    session.add(staff)
    session.flush()
    return staff


def change_password(session: Session, *, staff: Staff, current: str, new: str, now: datetime) -> Staff:
    """Replace the password after checking the current one. Raises InvalidInput (wrong/weak/same)."""
    if not check_password(staff, current or ""):
        raise InvalidInput("Mật khẩu hiện tại không đúng.", code="wrong-password")
    validate_password(new or "")
    if new == current:
        raise InvalidInput("Mật khẩu mới phải khác mật khẩu hiện tại.", code="same-password")
    staff.password_hash = hash_password(new)
    staff.password_changed_at = now
    session.add(staff)
    session.flush()
    return staff


def get(session: Session, staff_id: int | None) -> Staff | None:
    """The active staff member with this id, or None."""
    if staff_id is None:
        return None
    staff = session.get(Staff, staff_id)
    return staff if staff is not None and staff.is_active else None
