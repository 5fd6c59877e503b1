"""Pages of the optional second factor for staff (``city.totp``): TOTP from any authenticator app, with
one-time recovery codes.

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

import time
from typing import Any

import segno
from flask import Blueprint, Response, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from backend.db import request_session
from backend.models.base import utcnow
from backend.models.staff import Staff
from backend.services import city
from backend.web import common, signin

bp = Blueprint("web_mfa", __name__, url_prefix="/auth/totp", template_folder="templates")
common.protect(bp)
common.PUBLIC_ENDPOINTS.update({"web_mfa.challenge", "web_mfa.challenge_post"})
common.MFA_SETUP_ENDPOINTS.update({"web_mfa.setup", "web_mfa.setup_post", "web_auth.logout"})

PENDING_TTL_S = 300


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
    staff = city.get_staff(db_session, pending["id"])
    key, ip = f"mfa:{pending['id']}", signin.client_ip()
    verdict = city.throttle_login(signin.counter(), email=key, ip=ip)
    if verdict.locked:
        city.audit_staff(db_session, "login_backoff", ip=ip, staff_id=pending["id"], email=key, scope=verdict.locked)
    if not verdict.allowed:
        resp = Response(render_template("web/totp.html", error=_("Nhập sai quá nhiều lần; vui lòng thử lại sau "
                                                                 "%(n)s giây.", n=verdict.retry_after)), status=429)
        resp.headers["Retry-After"] = str(verdict.retry_after)
        return resp
    used = city.totp.use_code(db_session, staff=staff, code=request.form.get("code") or "", ip=ip) if (
        staff is not None and staff.session_epoch == pending["epoch"]) else None
    if used is None:
        return Response(render_template("web/totp.html", error=_("Mã xác thực không đúng hoặc đã dùng.")), status=401)
    city.login_succeeded(signin.counter(), email=key, ip=ip)
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
    secret = session.get("totp_setup") or city.totp.new_secret()
    session["totp_setup"] = secret
    qr = _qr(city.totp.provisioning_uri(secret, staff.email))
    return render_template("web/totp_setup.html", secret=secret, qr=qr, enabled=staff.totp_enabled_at,
                           required=city.totp.required(request_session(), staff))


@bp.post("/setup")
def setup_post() -> Any:
    staff = common.require_staff()
    secret = session.get("totp_setup")
    codes = city.totp.enable(request_session(), staff=staff, secret=secret, code=request.form.get("code") or "",
                             now=utcnow(), ip=signin.client_ip()) if secret else None
    if codes is None:
        flash(_("Mã xác thực không đúng; kiểm tra giờ của điện thoại và nhập mã mới."), "error")
        return redirect(url_for("web_mfa.setup"), code=303)
    session.pop("totp_setup", None)
    common.login(staff)  # under the new epoch: the account's other sessions have ended
    return render_template("web/totp_codes.html", codes=codes)


@bp.post("/disable")
def disable() -> Any:
    staff = common.require_staff()
    db_session = request_session()
    if city.totp.required(db_session, staff):
        flash(_("Quản trị viên bắt buộc dùng xác thực hai bước; không thể tắt."), "error")
        return redirect(url_for("web_mfa.setup"), code=303)
    if not city.totp.disable(db_session, staff=staff, password=request.form.get("password") or "",
                             ip=signin.client_ip()):
        flash(_("Mật khẩu không đúng."), "error")
        return redirect(url_for("web_mfa.setup"), code=303)
    common.login(staff)
    flash(_("Đã tắt xác thực hai bước."), "success")
    return redirect(url_for("web_mfa.setup"), code=303)
