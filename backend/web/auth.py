"""Staff sign-in, sign-out and password change."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from backend.db import request_session
from backend.errors import DomainError
from backend.services import city
from backend.web import common

bp = Blueprint("web_auth", __name__, url_prefix="/auth", template_folder="templates")
common.protect(bp)


@bp.get("/login")
def login() -> Any:
    if common.current_staff() is not None:
        return redirect(url_for("web_inbox.queue"))
    return render_template("web/login.html", next=request.args.get("next", ""), email="")


@bp.post("/login")
def login_post() -> Any:
    email = (request.form.get("email") or "").strip()[:255]
    password = (request.form.get("password") or "")[:1024]
    session = request_session()
    try:
        staff = city.authenticate_staff(session, email=email, password=password, now=common.now())
    except DomainError as exc:
        # keep the failure counter / lock (commit), but say nothing about whether the e-mail exists
        return render_template("web/login.html", error=exc.message, email=email,
                               next=request.form.get("next", "")), exc.status
    common.login(staff)
    return redirect(common.back_url(url_for("web_inbox.queue")), code=303)


@bp.post("/logout")
def logout() -> Any:
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
                                  new=new, now=common.now())
    common.login(staff)
    flash(_("Đã đổi mật khẩu."), "success")
    return redirect(url_for("web_inbox.queue"), code=303)
