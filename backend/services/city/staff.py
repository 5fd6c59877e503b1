"""Staff accounts: creation, password hashing (argon2id), lookups, sign-in checks, password changes,
server-side session revocation (the per-account session epoch) and the security audit trail.

Sign-in is throttled by the caller with :mod:`backend.services.city.throttle` (atomic counters per
e-mail+address and per address, exponential back-off) *before* :func:`verify` is called: there is no
account-wide lockout that an attacker could set off for the account's owner.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import update
from sqlmodel import Session, select

from backend.errors import Conflict, InvalidInput, Unauthorized
from backend.models.staff import Role, Staff, StaffAudit
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


_BAD_LOGIN = "E-mail hoặc mật khẩu không đúng."
#: a valid hash to verify against when the e-mail is unknown (same cost, no timing oracle)
_DUMMY_HASH = _hasher.hash("phananh-dummy-password")


def verify(session: Session, *, email: str, password: str) -> Staff | None:
    """The active staff member with these credentials, or None — in the same time whether or not the
    e-mail exists (a dummy hash is verified for unknown or inactive accounts). Changes nothing."""
    staff = by_email(session, email or "") if email else None
    if staff is None or not staff.is_active:
        with contextlib.suppress(VerificationError, InvalidHashError):
            _hasher.verify(_DUMMY_HASH, password or "")
        return None
    return staff if check_password(staff, password or "") else None


def signed_in(session: Session, *, staff: Staff, password: str, now: datetime) -> Staff:
    """Record a successful sign-in: ``last_login_at``, a re-hash when the argon2 cost changed."""
    staff.last_login_at = now
    staff.failed_logins, staff.locked_until = 0, None  # the former account-wide lockout is not used
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = hash_password(password)
    session.add(staff)
    session.flush()
    return staff


def authenticate(session: Session, *, email: str, password: str, now: datetime) -> Staff:
    """:func:`verify` then :func:`signed_in`; raises Unauthorized with one generic message whether or
    not the e-mail exists. Throttling is the caller's (see the module docstring)."""
    staff = verify(session, email=email, password=password)
    if staff is None:
        raise Unauthorized(_BAD_LOGIN, code="bad-credentials")
    return signed_in(session, staff=staff, password=password, now=now)


def audit(session: Session, kind: str, *, ip: str, staff_id: int | None = None, actor_id: int | None = None,
          email: str = "", **data: Any) -> StaffAudit:
    """Append one security event in the caller's transaction (committed with the change it records):
    ``login_backoff``, ``sessions_ended``, ``totp_enabled``, ``totp_disabled``, ``recovery_code_used``, and the
    admin changes (``staff_created staff_updated staff_activated staff_deactivated password_reset unit_created
    unit_updated unit_ended``; units have no ``staff_id``, their id is in ``data``). Never pass a password."""
    row = StaffAudit(kind=kind, staff_id=staff_id, actor_id=actor_id, email=email[:255], ip=ip[:64], data=data)
    session.add(row)
    session.flush()
    log.warning("staff security event %s (staff %s, actor %s, %s)", kind, staff_id, actor_id, data)
    return row


def end_sessions(session: Session, *, staff_id: int, actor_id: int | None, reason: str, ip: str = "") -> int:
    """End every session of the account at once, in the caller's transaction (so with the password change
    or deactivation that causes it): bumps ``session_epoch``, audited. Returns the new epoch."""
    session.execute(update(Staff).where(Staff.id == staff_id).values(session_epoch=Staff.session_epoch + 1))
    epoch = session.exec(select(Staff.session_epoch).where(Staff.id == staff_id)).one()
    audit(session, "sessions_ended", ip=ip, staff_id=staff_id, actor_id=actor_id, reason=reason)
    return int(epoch)


def change_password(session: Session, *, staff: Staff, current: str, new: str, now: datetime, ip: str = "") -> Staff:
    """Replace the password after checking the current one, ending every session of the account (the
    caller signs its own browser in again under the new epoch). Raises InvalidInput (wrong/weak/same)."""
    if not check_password(staff, current or ""):
        raise InvalidInput("Mật khẩu hiện tại không đúng.", code="wrong-password")
    validate_password(new or "")
    if new == current:
        raise InvalidInput("Mật khẩu mới phải khác mật khẩu hiện tại.", code="same-password")
    staff.password_hash = hash_password(new)
    staff.password_changed_at = now
    staff.must_change_password = False  # a temporary password from an admin reset is replaced
    session.add(staff)
    session.flush()
    staff.session_epoch = end_sessions(session, staff_id=staff.id, actor_id=staff.id, reason="password_changed",
                                       ip=ip)
    return staff


def get(session: Session, staff_id: int | None) -> Staff | None:
    """The active staff member with this id, or None."""
    if staff_id is None:
        return None
    staff = session.get(Staff, staff_id)
    return staff if staff is not None and staff.is_active else None
