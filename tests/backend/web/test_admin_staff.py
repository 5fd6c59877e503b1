"""Staff accounts in the admin pages (issue 18): edit role, unit, active and categories; an admin-initiated
password reset (a temporary password shown once, sessions ended, a new password required before anything
else); the self-service change; officers' queues scoped to their categories when their unit says so.
Every bad input: a Vietnamese message and the stored data unchanged."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlparse

import pytest
from sqlmodel import col, select
from web_seed import PASSWORD, by_code, login, token

from backend.models.categories import Category
from backend.models.staff import Staff, StaffAudit
from backend.models.units import Unit


def _accounts(session: Any) -> list[tuple[Any, ...]]:
    session.expire_all()
    return [(s.id, s.role, s.unit_id, s.is_active, s.name, list(s.category_ids), s.password_hash, s.session_epoch,
             s.must_change_password) for s in session.exec(select(Staff).order_by(col(Staff.id)))]


def _post(client: Any, path: str, form: dict[str, Any], page: str) -> str:
    resp = client.post(path, data={**form, "csrf_token": token(client, page)}, headers={"Referer": f"http://localhost{page}"})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:300]
    return client.get(urlparse(resp.headers["Location"]).path).get_data(as_text=True)


def _category(session: Any, code: str) -> int:
    return session.exec(select(Category.id).where(Category.code == code)).one()


def test_an_admin_edits_role_unit_and_categories_and_it_is_audited(login_as, city, session):
    officer2 = city.staff["officer2"]
    lamp = _category(session, "chieu-sang")
    page = _post(login_as("admin"), f"/admin/staff/{officer2}",
                 {"role": "head", "unit_id": str(city.units["ctdt"]), "active": "1", "name": "Trần Thị Bình",
                  "category_id": [str(lamp)]}, f"/admin/staff/{officer2}")
    assert "Đã lưu tài khoản" in page
    session.expire_all()
    account = session.get(Staff, officer2)
    assert (account.role, account.unit_id, account.category_ids) == ("head", city.units["ctdt"], [lamp])
    audit = session.exec(select(StaffAudit).where(StaffAudit.kind == "staff_updated")).one()
    assert audit.actor_id == city.staff["admin"] and audit.staff_id == officer2
    assert audit.data["changed"]["role"] == ["officer", "head"]
    assert "Sửa tài khoản" in login_as("admin").get("/admin/audit").get_data(as_text=True)


@pytest.mark.parametrize(("form", "message"), [
    ({"unit_id": "999999"}, "Đơn vị đã chọn không tồn tại"),
    ({"unit_id": "so-xd"}, "Giá trị không hợp lệ cho unit_id"),
    ({"unit_id": "{so-gtvt}"}, "đã ngừng hoạt động"),
    ({"unit_id": ""}, "phải thuộc một đơn vị"),
    ({"role": "superuser"}, "Vai trò không hợp lệ"),
    ({"category_id": ["999999"]}, "lĩnh vực đã chọn không tồn tại"),
    ({"name": "x" * 300}, "quá dài"),
])
def test_a_bad_staff_edit_is_refused_and_nothing_stored(login_as, city, session, form, message):
    officer2 = city.staff["officer2"]
    data = {"role": "officer", "unit_id": str(city.units["so-xd"]), "active": "1", "name": "Trần Thị Bình", **form}
    if data["unit_id"] == "{so-gtvt}":
        data["unit_id"] = str(city.units["so-gtvt"])
    before = _accounts(session)
    page = _post(login_as("admin"), f"/admin/staff/{officer2}", data, f"/admin/staff/{officer2}")
    assert message in page
    assert _accounts(session) == before


def test_an_admin_cannot_demote_or_lock_themselves(login_as, city, session):
    me = city.staff["admin"]
    before = _accounts(session)
    for form in ({"role": "viewer", "active": "1"}, {"role": "admin"}):
        page = _post(login_as("admin"), f"/admin/staff/{me}", {**form, "unit_id": "", "name": "Quản trị viên"},
                     f"/admin/staff/{me}")
        assert "Không thể tự bỏ quyền quản trị hoặc tự khóa" in page
    assert _accounts(session) == before


def test_deactivating_in_the_edit_form_ends_the_accounts_sessions(app, login_as, city, session):
    officer = login_as("officer")
    assert officer.get("/inbox").status_code == 200
    _post(login_as("admin"), f"/admin/staff/{city.staff['officer']}",
          {"role": "officer", "unit_id": str(city.units["so-xd"]), "name": "Cán bộ Nguyễn Văn An"},
          f"/admin/staff/{city.staff['officer']}")
    assert urlparse(officer.get("/inbox").headers["Location"]).path == "/auth/login"
    assert urlparse(login(app.test_client(), "officer").headers.get("Location", "")).path != "/inbox"
    assert session.get(Staff, city.staff["officer"]).is_active is False


def _reset(admin: Any, staff_id: int) -> str:
    resp = admin.post(f"/admin/staff/{staff_id}/password",
                      data={"csrf_token": token(admin, f"/admin/staff/{staff_id}")})
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    match = re.search(r'<code id="temporary-password">([^<]+)</code>', resp.get_data(as_text=True))
    assert match, "the temporary password is shown once on the answer page"
    return match.group(1)


def test_a_password_reset_shows_a_temporary_password_ends_sessions_and_forces_a_change(
        app, login_as, city, session, caplog):
    caplog.set_level(logging.DEBUG)
    officer = login_as("officer")
    admin = login_as("admin")
    temporary = _reset(admin, city.staff["officer"])
    assert len(temporary) >= 10
    assert "chờ đổi mật khẩu tạm thời" in admin.get("/admin/staff").get_data(as_text=True)
    # the old session is over, the old password no longer works, the temporary one does
    assert urlparse(officer.get("/inbox").headers["Location"]).path == "/auth/login"
    fresh = app.test_client()
    assert urlparse(login(fresh, "officer").headers.get("Location", "")).path != "/inbox"
    assert login(fresh, "officer", temporary).status_code == 303
    # nothing else before a new password
    resp = fresh.get("/inbox")
    assert urlparse(resp.headers["Location"]).path == "/auth/password"
    assert "vừa được quản trị viên đặt lại" in fresh.get("/auth/password").get_data(as_text=True)
    # audited, and the temporary password is nowhere in the audit trail or the logs
    audit = session.exec(select(StaffAudit).where(StaffAudit.kind == "password_reset")).one()
    assert (audit.actor_id, audit.staff_id) == (city.staff["admin"], city.staff["officer"])
    assert temporary not in repr(audit.data) and temporary not in caplog.text
    # the self-service change with the temporary password as the current one clears the requirement
    page = _post(fresh, "/auth/password", {"current_password": temporary, "new_password": "mat-khau-rieng-2027",
                                           "confirm_password": "mat-khau-rieng-2027"}, "/auth/password")
    assert "Đã đổi mật khẩu" in page
    session.expire_all()
    assert session.get(Staff, city.staff["officer"]).must_change_password is False
    assert fresh.get("/inbox").status_code == 200


def test_a_wrong_current_password_is_refused_and_nothing_changes(login_as, city, session):
    officer = login_as("officer")
    before = _accounts(session)
    for current, new, confirm, message in (
            ("sai-mat-khau-123", "mat-khau-moi-2027", "mat-khau-moi-2027", "Mật khẩu hiện tại không đúng"),
            (PASSWORD, "ngan", "ngan", "ít nhất 10 ký tự"),
            (PASSWORD, "mat-khau-moi-2027", "mat-khau-khac-2027", "không khớp")):
        page = _post(officer, "/auth/password", {"current_password": current, "new_password": new,
                                                  "confirm_password": confirm}, "/auth/password")
        assert message in page
    assert _accounts(session) == before


def test_an_admin_resets_only_other_accounts(login_as, city, session):
    admin = login_as("admin")
    before = _accounts(session)
    page = _post(admin, f"/admin/staff/{city.staff['admin']}/password", {}, f"/admin/staff/{city.staff['admin']}")
    assert "Hãy đổi mật khẩu của chính mình" in page
    resp = admin.post("/admin/staff/999999/password", data={"csrf_token": token(admin, "/admin/staff")})
    assert resp.status_code in (303, 404)
    assert _accounts(session) == before


def test_non_admins_cannot_reset_or_edit(login_as, city, session):
    before = _accounts(session)
    for who in ("ioc", "head", "officer", "viewer"):
        client = login_as(who)
        csrf = token(client, "/auth/password")
        for path, form in ((f"/admin/staff/{city.staff['officer2']}/password", {}),
                           (f"/admin/staff/{city.staff['officer2']}", {"role": "admin", "active": "1"})):
            resp = client.post(path, data={**form, "csrf_token": csrf})
            assert resp.status_code == 403 and "Chỉ quản trị viên" in resp.get_data(as_text=True)
    assert _accounts(session) == before


def test_an_officer_sees_only_their_categories_when_the_unit_says_so(login_as, city, session):
    road, road2 = city.reports["road"], city.reports["road2"]
    assert by_code(session, road).unit_id == city.units["so-xd"]
    officer = session.get(Staff, city.staff["officer"])
    officer.category_ids = [_category(session, "chieu-sang")]   # street lamps only
    session.add(officer)
    session.flush()

    def queue(who: str) -> str:
        return login_as(who).get("/inbox").get_data(as_text=True)

    assert road in queue("officer")        # the unit does not scope queues yet
    unit = session.get(Unit, city.units["so-xd"])
    unit.category_scoped = True
    session.add(unit)
    session.flush()
    assert road not in queue("officer") and road2 not in queue("officer")
    assert road in queue("officer2")       # no categories on the account: all of the unit's
    assert road in queue("head")           # heads are never scoped
