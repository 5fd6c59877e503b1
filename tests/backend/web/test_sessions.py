"""Server-side session revocation (issue 21, finding 3): signing out, a password change, deactivation and
an admin's "sign out everywhere" end every session of the account — a saved cookie no longer opens the
inbox. Each ending is in the staff audit trail."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from sqlmodel import select
from web_seed import PASSWORD, token

from backend.models import StaffAudit


def _opens_inbox(client: Any) -> bool:
    resp = client.get("/inbox")
    return resp.status_code == 200


def _saved_cookie(app: Any, client: Any) -> Any:
    """A second browser holding a copy of ``client``'s session cookie (what an attacker would replay)."""
    thief = app.test_client()
    cookie = client.get_cookie("phananh_session")
    thief.set_cookie("phananh_session", cookie.value)
    return thief


def _kinds(session: Any) -> list[str]:
    session.expire_all()
    return [a.kind for a in session.exec(select(StaffAudit).order_by(StaffAudit.id))]


def test_logout_ends_the_session_and_the_saved_cookie_no_longer_opens_the_inbox(app, login_as, session):
    browser = login_as("officer")
    saved = _saved_cookie(app, browser)
    assert _opens_inbox(saved)
    resp = browser.post("/auth/logout", data={"csrf_token": token(browser)})
    assert resp.status_code == 303 and urlparse(resp.headers["Location"]).path == "/auth/login"
    assert not _opens_inbox(browser)
    replay = saved.get("/inbox")
    assert replay.status_code == 302 and urlparse(replay.headers["Location"]).path == "/auth/login"
    assert "sessions_ended" in _kinds(session)


def test_logout_ends_the_sessions_on_other_devices_too(login_as):
    phone, desk = login_as("officer"), login_as("officer")
    phone.post("/auth/logout", data={"csrf_token": token(phone)})
    assert not _opens_inbox(desk)


def test_password_change_ends_other_sessions_but_keeps_this_one(app, login_as):
    desk, phone = login_as("officer"), login_as("officer")
    saved = _saved_cookie(app, desk)
    resp = desk.post("/auth/password", data={"current_password": PASSWORD, "new_password": "mat-khau-moi-2026-z",
                                             "confirm_password": "mat-khau-moi-2026-z",
                                             "csrf_token": token(desk, "/auth/password")})
    assert resp.status_code == 303
    assert _opens_inbox(desk)
    assert not _opens_inbox(phone) and not _opens_inbox(saved)


def test_deactivation_ends_every_session_even_after_reactivation(login_as, city):
    officer = login_as("officer")
    admin = login_as("admin")
    form = {"active": "0", "csrf_token": token(admin, "/admin/staff")}
    assert admin.post(f"/admin/staff/{city.staff['officer']}/active", data=form).status_code == 303
    assert not _opens_inbox(officer)
    form = {"active": "1", "csrf_token": token(admin, "/admin/staff")}
    assert admin.post(f"/admin/staff/{city.staff['officer']}/active", data=form).status_code == 303
    assert not _opens_inbox(officer)  # the old cookie stays dead; signing in again works
    assert _opens_inbox(login_as("officer"))


def test_admin_signs_an_account_out_everywhere(login_as, city, session):
    phone, desk = login_as("head"), login_as("head")
    admin = login_as("admin")
    page = admin.get("/admin/staff").get_data(as_text=True)
    assert f"/admin/staff/{city.staff['head']}/sessions" in page and "Đăng xuất mọi nơi" in page
    resp = admin.post(f"/admin/staff/{city.staff['head']}/sessions",
                      data={"csrf_token": token(admin, "/admin/staff")})
    assert resp.status_code == 303
    assert not _opens_inbox(phone) and not _opens_inbox(desk)
    assert _opens_inbox(admin)
    audit = session.exec(select(StaffAudit).where(StaffAudit.kind == "sessions_ended")).all()
    assert [(a.staff_id, a.actor_id, a.data["reason"]) for a in audit] == [
        (city.staff["head"], city.staff["admin"], "signed_out_everywhere")]
