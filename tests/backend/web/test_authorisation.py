"""Authorisation matrix: every role × every staff action × a report of their own unit / another unit.

Each case posts the action through the web page (what a signed-in user can do) and, when refused,
also calls the workflow service directly to show the service refuses it too (not only the view).
Every case runs inside a SAVEPOINT that is rolled back, so cases do not see each other.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from web_seed import AN_HIEP, SOC_TRANG, by_code, csrf_from, login, report, staff_by_email

from backend.errors import Forbidden
from backend.models.photos import Photo
from backend.services.events import Actor
from backend.services.reports import workflow

from fixtures.images import jpeg

ROLES = ("admin", "ioc", "head", "officer", "viewer")
CITY_WIDE = {"admin", "ioc"}
ACTIONS = ("route", "acknowledge", "assign", "transfer", "start", "hold", "resume", "extend", "reply", "note",
           "change_category", "change_priority", "mark_duplicate", "reject", "not_competent", "resolve", "reopen",
           "close")
#: what the report must have gone through (as the system/admin) before the action is possible
SETUP = {"hold": ("acknowledge",), "resume": ("acknowledge", "hold"), "reopen": ("resolve",), "close": ("resolve",)}


def expected(role: str, action: str, own: bool) -> bool:
    if role == "viewer":
        return False
    if role in CITY_WIDE:
        return True
    if action == "route":  # only the IOC dispatches triage reports
        return False
    if action == "extend":
        return role == "head" and own
    return own


def _fields(action: str, city: Any, unit: str, ids: dict[str, int]) -> dict[str, Any]:
    return {
        "assign": {"assignee_id": ids["officer2"] if unit == "so-xd" else ids["other"]},
        "transfer": {"unit_id": city.units["cap-nuoc"], "reason": "Thuộc lĩnh vực cấp nước"},
        "route": {"unit_id": city.units["so-xd"]}, "hold": {"reason": "Chờ phối hợp điện lực"},
        "extend": {"budget": "3d", "reason": "Cần thêm vật tư"}, "reply": {"text": "Đơn vị đang xử lý."},
        "note": {"text": "Đã gọi đội thi công."}, "change_category": {"category_code": "cay-xanh"},
        "change_priority": {"priority": "urgent"}, "mark_duplicate": {"of_code": city.reports["road2"]},
        "reject": {"reason": "Không đúng thực tế"},
        "not_competent": {"reason": "Thuộc trung ương", "guidance": "Liên hệ Bộ Xây dựng"},
        "resolve": {"reply": "Đã khắc phục xong."}, "reopen": {"reason": "Chưa sửa xong"}, "close": {},
    }.get(action, {})


def _prepare(session: Any, city: Any, action: str, unit: str) -> str:
    """A fresh report in the state ``action`` needs, in ``unit`` (the IOC for ``route``)."""
    if action == "route":
        r = report(session, resident_id=city.resident_id, category=None, description="Chưa rõ lĩnh vực",
                   point=AN_HIEP)
    else:
        category, point = ("duong-hu-hong", SOC_TRANG) if unit == "so-xd" else ("rac-thai", AN_HIEP)
        r = report(session, resident_id=city.resident_id, category=category, description="Trường hợp thử quyền",
                   point=point)
    admin = staff_by_email(session, "admin@demo.vn")
    for step in SETUP.get(action, ()):
        extra: dict[str, Any] = {"hold": {"reason": "Chờ"}}.get(step, {})
        if step == "resolve":
            photo = Photo(staff_id=admin.id, state="ready", mime="image/jpeg", role="after")
            session.add(photo)
            session.flush()
            extra = {"reply": "Đã xử lý.", "after_photo_ids": [photo.id]}
        workflow.apply(session, r, step, actor=Actor.staff(admin), expected_version=r.version, **extra)
    session.flush()
    return r.code


@pytest.fixture
def clients(app: Any, city: Any) -> dict[str, Any]:
    out = {}
    for role in ROLES:
        client = app.test_client()
        assert login(client, role).status_code == 303
        out[role] = client
    return out


@pytest.mark.parametrize("action", ACTIONS)
def test_authorisation_matrix(action: str, clients: dict[str, Any], city: Any, session: Any, connection: Any) -> None:
    failures = []
    for role in ROLES:
        for unit, own in (("so-xd", True), ("ctdt", False)):
            if action == "route" and not own:
                continue  # a triage report belongs to the IOC: one case per role
            savepoint = connection.begin_nested()
            try:
                outcome = _case(clients[role], session, city, role, action, unit)
            finally:
                savepoint.rollback()
                session.expire_all()
            want = expected(role, action, own if action != "route" else False)
            if outcome != want:
                failures.append(f"{role} × {action} × {'own' if own else 'other'} unit: "
                                f"{'allowed' if outcome else 'refused'}, expected {'allowed' if want else 'refused'}")
    assert not failures, "\n".join(failures)


def _case(client: Any, session: Any, city: Any, role: str, action: str, unit: str) -> bool:
    code = _prepare(session, city, action, unit)
    version = by_code(session, code).version
    page = client.get(f"/inbox/r/{code}")
    tok = csrf_from(page.get_data(as_text=True)) if page.status_code == 200 else csrf_from(
        client.get("/inbox").get_data(as_text=True))
    data: dict[str, Any] = {"action": action, "version": version, "csrf_token": tok,
                            **_fields(action, city, unit, city.staff)}
    if action == "resolve":
        data["after_photo"] = (io.BytesIO(jpeg(320, 240)), "sau.jpg")
    resp = client.post(f"/inbox/r/{code}/act", data=data, content_type="multipart/form-data")
    assert resp.status_code in (303, 403), resp.status_code
    after = by_code(session, code)
    allowed = after.version > version
    if not allowed:
        staff = staff_by_email(session, f"{role}@demo.vn")
        fields = _fields(action, city, unit, city.staff)
        if action == "resolve":
            fields["after_photo_ids"] = []
        with pytest.raises(Forbidden):
            workflow.apply(session, after, action, actor=Actor.staff(staff), expected_version=after.version,
                           **fields)
    return allowed
