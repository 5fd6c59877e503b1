"""The optional second factor of staff accounts: TOTP (RFC 6238, any authenticator app, via pyotp) and
one-time recovery codes.

A code is accepted once: the time step it belongs to is remembered (``totp_last_step``) and only later
steps are accepted (one step of clock drift either way). Recovery codes are ten random ``xxxxx-xxxxx``
strings shown once; only their SHA-256 is stored and each is spent when used. Admins must have a second
factor when the city setting ``admin_totp_required`` is on. Turning it on or off ends the account's
other sessions and is audited (``staff.end_sessions``, ``staff.audit``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import datetime

import pyotp
from sqlmodel import Session

from backend.models.staff import Role, Staff
from backend.services.city import settings
from backend.services.city import staff as staff_service

ISSUER = "Phản ánh hiện trường"
RECOVERY_CODES = 10
SETTING = "admin_totp_required"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def _digest(code: str) -> str:
    return hashlib.sha256(code.strip().lower().replace("-", "").replace(" ", "").encode()).hexdigest()


def new_recovery_codes() -> tuple[list[str], list[str]]:
    """(codes to show once, their hashes to store): ten ``xxxxx-xxxxx`` codes of 40 random bits each."""
    codes = [f"{c[:5]}-{c[5:]}" for c in (secrets.token_hex(5) for _ in range(RECOVERY_CODES))]
    return codes, [_digest(c) for c in codes]


def matching_step(secret: str, code: str, *, after: int | None, now: float | None = None) -> int | None:
    """The time step (30 s) whose code is ``code`` — this one or a neighbour, for clock drift — if it is
    later than ``after`` (a code is accepted once); else None."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int((now if now is not None else time.time()) // totp.interval)
    for step in (current - 1, current, current + 1):
        if (after is None or step > after) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def required(session: Session, staff: Staff) -> bool:
    """The city requires a second factor of admins and ``staff`` is one."""
    return staff.role == Role.ADMIN and bool(settings.get(session, SETTING, False))


def missing(session: Session, staff: Staff) -> bool:
    """``staff`` must set up a second factor before anything else."""
    return staff.totp_enabled_at is None and required(session, staff)


def use_code(session: Session, *, staff: Staff, code: str, ip: str = "") -> str | None:
    """Accept a TOTP code or an unused recovery code (recording it as used, audited for a recovery code):
    ``"totp"``, ``"recovery"`` or None."""
    if staff.totp_secret:
        step = matching_step(staff.totp_secret, code, after=staff.totp_last_step)
        if step is not None:
            staff.totp_last_step = step
            session.add(staff)
            return "totp"
    digest = _digest(code)
    for stored in staff.recovery_codes or []:
        if hmac.compare_digest(stored, digest):
            staff.recovery_codes = [c for c in staff.recovery_codes if c != stored]
            session.add(staff)
            staff_service.audit(session, "recovery_code_used", ip=ip, staff_id=staff.id,
                                left=len(staff.recovery_codes))
            return "recovery"
    return None


def enable(session: Session, *, staff: Staff, secret: str, code: str, now: datetime, ip: str = "") -> list[str] | None:
    """Turn the second factor on once ``code`` proves the app holds ``secret``; returns the recovery codes
    to show once, or None for a wrong code. Ends the account's other sessions."""
    step = matching_step(secret, code, after=None)
    if step is None:
        return None
    codes, hashes = new_recovery_codes()
    staff.totp_secret, staff.totp_enabled_at, staff.totp_last_step = secret, now, step
    staff.recovery_codes = hashes
    session.add(staff)
    staff_service.audit(session, "totp_enabled", ip=ip, staff_id=staff.id, actor_id=staff.id)
    staff.session_epoch = staff_service.end_sessions(session, staff_id=staff.id, actor_id=staff.id,
                                                     reason="totp_enabled", ip=ip)
    return codes


def disable(session: Session, *, staff: Staff, password: str, ip: str = "") -> bool:
    """Turn the second factor off after checking the password (not allowed when it is required); False
    if refused. Ends the account's other sessions."""
    if required(session, staff) or not staff_service.check_password(staff, password):
        return False
    staff.totp_secret = staff.totp_enabled_at = staff.totp_last_step = None
    staff.recovery_codes = []
    session.add(staff)
    staff_service.audit(session, "totp_disabled", ip=ip, staff_id=staff.id, actor_id=staff.id)
    staff.session_epoch = staff_service.end_sessions(session, staff_id=staff.id, actor_id=staff.id,
                                                     reason="totp_disabled", ip=ip)
    return True
