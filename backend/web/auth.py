"""Staff sign-in, sign-out and password change.

Sign-in is throttled before any password is checked (``city.throttle_login``: atomic counters per
e-mail+address and per address, exponential back-off, 429 with ``Retry-After``); known and unknown
e-mails get the same answers in the same time. Signing out and changing the password end every session
of the account (``city.end_sessions``); a second factor, when set up, is asked next (``mfa``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from backend.db import request_session
from backend.models.staff import Staff
from backend.services import city
from backend.web import common, mfa, signin

bp = Blueprint("web_auth", __name__, url_prefix="/auth", template_folder="templates")
common.protect(bp)

BAD_LOGIN = "E-mail hoặc mật khẩu không đúng."


@bp.record_once
def _install(state: Any) -> None:
    signin.install(state.app)


@bp.get("/login")
def login() -> Any:
    if common.current_staff() is not None:
        return redirect(url_for("web_inbox.queue"))
    return render_template("web/login.html", next=request.args.get("next", ""), email="")


def _page(status: int, error: str, email: str) -> Response:
    return Response(render_template("web/login.html", error=error, email=email, next=request.form.get("next", "")),
                    status=status)


@bp.post("/login")
def login_post() -> Any:
    email = (request.form.get("email") or "").strip()[:255]
    password = (request.form.get("password") or "")[:1024]
    ip = signin.client_ip()
    # counters first, each in its own short transaction, before this request opens its own
    verdict = city.throttle_login(signin.counter(), email=email, ip=ip)
    staff = _verify(email, password) if verdict.allowed else None
    if staff is not None:
        city.login_succeeded(signin.counter(), email=email, ip=ip)
    session = request_session()
    if verdict.locked:
        known = city.staff_by_email(session, email)
        city.audit_staff(session, "login_backoff", ip=ip, staff_id=known.id if known else None, email=email,
                         scope=verdict.locked)
    if not verdict.allowed:
        resp = _page(429, _("Đăng nhập sai quá nhiều lần; vui lòng thử lại sau %(n)s giây.", n=verdict.retry_after),
                     email)
        resp.headers["Retry-After"] = str(verdict.retry_after)
        return resp
    if staff is None:
        return _page(401, _(BAD_LOGIN), email)
    staff = session.merge(staff)
    if staff.totp_enabled_at is not None:  # second step: a code from the app or a recovery code
        return mfa.start_challenge(staff, common.back_url(url_for("web_inbox.queue")))
    city.staff_signed_in(session, staff=staff, password=password, now=common.now())
    common.login(staff)
    return redirect(common.back_url(url_for("web_inbox.queue")), code=303)


def _verify(email: str, password: str) -> Staff | None:
    """``city.verify_staff`` in a short session of its own, closed before the throttle writes again
    (SQLite has one writer at a time)."""
    with current_app.extensions["phananh.db"].session() as session:
        staff = city.verify_staff(session, email=email, password=password)
        if staff is not None:
            session.expunge(staff)
    return staff


@bp.post("/logout")
def logout() -> Any:
    staff = common.current_staff()
    if staff is not None:
        city.end_sessions(request_session(), staff_id=staff.id, actor_id=staff.id, reason="logout",
                          ip=signin.client_ip())
    common.logout()
    flash(_("Bạn đã đăng xuất."), "info")
    return redirect(url_for("web_auth.login"), code=303)


@bp.get("/password")
def password() -> Any:
    return render_template("web/password.html")


@bp.post("/password")
def password_post() -> Any:
    staff = common.require_staff()
    new = request.form.get("new_password") or ""
    if new != (request.form.get("confirm_password") or ""):
        flash(_("Mật khẩu nhập lại không khớp."), "error")
        return redirect(url_for("web_auth.password"), code=303)
    city.change_password(request_session(), staff=staff, current=request.form.get("current_password") or "",
                         new=new, now=common.now(), ip=signin.client_ip())
    common.login(staff)  # this browser stays signed in under the new epoch; every other session ended
    flash(_("Đã đổi mật khẩu."), "success")
    return redirect(url_for("web_inbox.queue"), code=303)
