"""Optional second factor for staff: TOTP (RFC 6238, any authenticator app) with one-time recovery codes.

- Set up at ``/auth/totp/setup``: a new secret is shown as a QR code and as text; it is saved only once a
  code from the app is confirmed. Ten recovery codes are shown once; only their SHA-256 is stored.
- Sign-in with a second factor: the password step (``auth.login_post``) leaves a pending marker in the
  session (no staff id), ``/auth/totp`` then asks for a 6-digit code or a recovery code. Codes are
  throttled like passwords, a code is accepted once (its time step is remembered) and a recovery code is
  spent when used.
- The city setting ``admin_totp_required`` (city pack ``settings``) makes it mandatory for admins: an
  admin without it is sent to the set-up page before any other page.
- Turning it on or off ends the account's other sessions and is audited.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

import pyotp
import segno
from flask import Blueprint, Response, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from backend.db import request_session
from backend.models.base import utcnow
from backend.models.staff import Staff
from backend.services import staff as staff_service
from backend.web import common, signin, throttle

bp = Blueprint("web_mfa", __name__, url_prefix="/auth/totp", template_folder="templates")
common.protect(bp)
common.PUBLIC_ENDPOINTS.update({"web_mfa.challenge", "web_mfa.challenge_post"})
common.MFA_SETUP_ENDPOINTS.update({"web_mfa.setup", "web_mfa.setup_post", "web_auth.logout"})

ISSUER = "Phản ánh hiện trường"
PENDING_TTL_S = 300
RECOVERY_CODES = 10


# --------------------------------------------------------------------------- codes (Flask-free)


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


def use_code(staff: Staff, code: str) -> str | None:
    """Accept a TOTP code or an unused recovery code for ``staff`` (recording it as used):
    ``"totp"``, ``"recovery"`` or None."""
    if staff.totp_secret:
        step = matching_step(staff.totp_secret, code, after=staff.totp_last_step)
        if step is not None:
            staff.totp_last_step = step
            return "totp"
    digest = _digest(code)
    for stored in staff.recovery_codes or []:
        if hmac.compare_digest(stored, digest):
            staff.recovery_codes = [c for c in staff.recovery_codes if c != stored]
            return "recovery"
    return None


# --------------------------------------------------------------------------- sign-in, second step


def start_challenge(staff: Staff, next_url: str) -> Response:
    """After a right password: remember who is half signed in (no staff id in the session yet)."""
    session.clear()
    session["mfa"] = {"id": staff.id, "epoch": staff.session_epoch, "at": int(time.time()), "next": next_url}
    return redirect(url_for("web_mfa.challenge"), code=303)


def _pending() -> dict[str, Any] | None:
    pending = session.get("mfa")
    if not isinstance(pending, dict) or time.time() - int(pending.get("at", 0)) > PENDING_TTL_S:
        return None
    return pending


@bp.get("")
def challenge() -> Any:
    if _pending() is None:
        return redirect(url_for("web_auth.login"))
    return render_template("web/totp.html")


@bp.post("")
def challenge_post() -> Any:
    pending = _pending()
    if pending is None:
        flash(_("Phiên đăng nhập đã hết hạn; vui lòng đăng nhập lại."), "error")
        return redirect(url_for("web_auth.login"), code=303)
    db_session = request_session()
    staff = staff_service.get(db_session, pending["id"])
    key = f"mfa:{pending['id']}"
    verdict = throttle.check(signin.counter(), email=key, ip=signin.client_ip())
    if verdict.locked:
        signin.audit(db_session, "login_backoff", staff_id=pending["id"], email=key, scope=verdict.locked)
    if not verdict.allowed:
        resp = Response(render_template("web/totp.html", error=_("Nhập sai quá nhiều lần; vui lòng thử lại sau "
                                                                 "%(n)s giây.", n=verdict.retry_after)), status=429)
        resp.headers["Retry-After"] = str(verdict.retry_after)
        return resp
    used = use_code(staff, request.form.get("code") or "") if (
        staff is not None and staff.session_epoch == pending["epoch"]) else None
    if used is None:
        return Response(render_template("web/totp.html", error=_("Mã xác thực không đúng hoặc đã dùng.")), status=401)
    throttle.succeeded(signin.counter(), email=key, ip=signin.client_ip())
    if used == "recovery":
        signin.audit(db_session, "recovery_code_used", staff_id=staff.id, left=len(staff.recovery_codes))
    staff.last_login_at = utcnow()
    db_session.add(staff)
    next_url = pending.get("next") or url_for("web_inbox.queue")
    common.login(staff)
    if used == "recovery":
        flash(_("Bạn đã dùng một mã khôi phục; còn %(n)s mã.", n=len(staff.recovery_codes)), "info")
    return redirect(next_url, code=303)


# --------------------------------------------------------------------------- set up and turn off


def _qr(uri: str) -> str:
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)


@bp.get("/setup")
def setup() -> Any:
    staff = common.require_staff()
    secret = session.get("totp_setup") or pyotp.random_base32()
    session["totp_setup"] = secret
    uri = pyotp.TOTP(secret).provisioning_uri(name=staff.email, issuer_name=ISSUER)
    return render_template("web/totp_setup.html", secret=secret, qr=_qr(uri), enabled=staff.totp_enabled_at,
                           required=common.totp_required(staff))


@bp.post("/setup")
def setup_post() -> Any:
    staff = common.require_staff()
    secret = session.get("totp_setup")
    step = matching_step(secret, request.form.get("code") or "", after=None) if secret else None
    if step is None:
        flash(_("Mã xác thực không đúng; kiểm tra giờ của điện thoại và nhập mã mới."), "error")
        return redirect(url_for("web_mfa.setup"), code=303)
    codes, hashes = new_recovery_codes()
    staff.totp_secret, staff.totp_enabled_at, staff.totp_last_step = secret, utcnow(), step
    staff.recovery_codes = hashes
    db_session = request_session()
    db_session.add(staff)
    signin.audit(db_session, "totp_enabled", staff_id=staff.id, actor_id=staff.id)
    staff.session_epoch = signin.end_sessions(db_session, staff.id, actor_id=staff.id, reason="totp_enabled")
    common.login(staff)
    return render_template("web/totp_codes.html", codes=codes)


@bp.post("/disable")
def disable() -> Any:
    staff = common.require_staff()
    db_session = request_session()
    if common.totp_required(staff):
        flash(_("Quản trị viên bắt buộc dùng xác thực hai bước; không thể tắt."), "error")
        return redirect(url_for("web_mfa.setup"), code=303)
    if not staff_service.check_password(staff, request.form.get("password") or ""):
        flash(_("Mật khẩu không đúng."), "error")
        return redirect(url_for("web_mfa.setup"), code=303)
    staff.totp_secret = staff.totp_enabled_at = staff.totp_last_step = None
    staff.recovery_codes = []
    db_session.add(staff)
    signin.audit(db_session, "totp_disabled", staff_id=staff.id, actor_id=staff.id)
    staff.session_epoch = signin.end_sessions(db_session, staff.id, actor_id=staff.id, reason="totp_disabled")
    common.login(staff)
    flash(_("Đã tắt xác thực hai bước."), "success")
    return redirect(url_for("web_mfa.setup"), code=303)
