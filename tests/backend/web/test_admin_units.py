"""Units in the admin pages (issue 18): validated codes, unique names, edit, end with a successor (open reports
move through the workflow, one event each; routing follows the successor), ended units never offered as
targets, every change audited. Every bad input: a Vietnamese message and the stored data unchanged."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

import pytest
from sqlmodel import col, select
from web_seed import by_code, token

from backend.models.base import utcnow
from backend.models.reports import EventKind, ReportEvent
from backend.models.staff import Staff, StaffAudit
from backend.models.units import Unit
from backend.services import city as city_service
from backend.services import reports as reports_service
from backend.services.city import routing

TODAY = "{:%d/%m/%Y}"


def _units(session: Any) -> list[tuple[Any, ...]]:
    session.expire_all()
    return [(u.id, u.code, u.name_vi, u.kind, u.email, u.phone, u.active_to, u.successor_id, u.category_scoped)
            for u in session.exec(select(Unit).order_by(col(Unit.id)))]


def _post(client: Any, path: str, form: dict[str, str], page: str) -> str:
    """Post a form as the browser does and return the page it lands on (with its flash message)."""
    resp = client.post(path, data={**form, "csrf_token": token(client, page)}, headers={"Referer": f"http://localhost{page}"})
    assert resp.status_code == 303, resp.get_data(as_text=True)[:300]
    return client.get(urlparse(resp.headers["Location"]).path).get_data(as_text=True)


def _today() -> str:
    return TODAY.format(utcnow() + timedelta(hours=7))


@pytest.mark.parametrize(("code", "message"), [
    ("Phòng QLĐT", "không hợp lệ"), ("phong qldt", "không hợp lệ"), ("Phong-QLDT", "không hợp lệ"),
    ("phong--qldt", "không hợp lệ"), ("-phong", "không hợp lệ"), ("phòng-qldt", "không hợp lệ"),
    ("so-xd", "đã có"), ("", "Thiếu mã đơn vị"),
])
def test_a_bad_or_taken_unit_code_is_refused_and_nothing_stored(login_as, city, session, code, message):
    before = _units(session)
    page = _post(login_as("admin"), "/admin/units", {"code": code, "name_vi": "Phòng Quản lý đô thị",
                                                       "kind": "department"}, "/admin/units")
    assert message in page
    assert _units(session) == before


@pytest.mark.parametrize("name", ["Sở Xây dựng", "SỞ XÂY DỰNG", "so xay dung", "  Sở  Xây dựng "])
def test_a_duplicate_unit_name_is_refused_whatever_its_accents_and_case(login_as, city, session, name):
    before = _units(session)
    page = _post(login_as("admin"), "/admin/units", {"code": "so-xd-2", "name_vi": name, "kind": "department"},
                 "/admin/units")
    assert "trùng với một đơn vị đã có" in page
    assert _units(session) == before


def test_a_valid_unit_is_created_with_its_kind_in_vietnamese_and_audited(login_as, city, session):
    client = login_as("admin")
    page = _post(client, "/admin/units", {"code": "phong-qldt", "name_vi": "Phòng Quản lý đô thị",
                                          "kind": "ward", "phone": "0299 3822 123"}, "/admin/units")
    assert "Đã thêm đơn vị" in page
    unit = session.exec(select(Unit).where(Unit.code == "phong-qldt")).one()
    assert (unit.kind, unit.phone) == ("ward", "0299 3822 123")
    listing = client.get("/admin/units").get_data(as_text=True)
    assert "UBND phường/xã" in listing and "Doanh nghiệp dịch vụ" in listing
    for english in ("<td>utility</td>", "<td>department</td>", "<td>ward</td>", "<td>ioc</td>", ">utility<"):
        assert english not in listing
    audit = session.exec(select(StaffAudit).where(StaffAudit.kind == "unit_created")).one()
    assert audit.actor_id == city.staff["admin"] and audit.data["unit_id"] == unit.id


def test_editing_a_unit_changes_names_kind_contacts_and_is_audited(login_as, city, session):
    unit_id = city.units["ctdt"]
    page = _post(login_as("admin"), f"/admin/units/{unit_id}",
                 {"name_vi": "Công ty Công trình đô thị Sóc Trăng", "name_en": "Urban Works", "kind": "other",
                  "email": "ctdt@soctrang.vn", "phone": "0299 123 456", "category_scoped": "1"},
                 f"/admin/units/{unit_id}")
    assert "Đã lưu đơn vị" in page
    session.expire_all()
    unit = session.get(Unit, unit_id)
    assert (unit.name_vi, unit.kind, unit.email, unit.category_scoped) == (
        "Công ty Công trình đô thị Sóc Trăng", "other", "ctdt@soctrang.vn", True)
    audit = session.exec(select(StaffAudit).where(StaffAudit.kind == "unit_updated")).one()
    assert audit.data["changed"]["name_vi"][1] == "Công ty Công trình đô thị Sóc Trăng"


@pytest.mark.parametrize(("form", "message"), [
    ({"name_vi": "sở xây dựng", "kind": "utility"}, "trùng với một đơn vị đã có"),
    ({"name_vi": "", "kind": "utility"}, "Thiếu tên đơn vị"),
    ({"name_vi": "Công ty mới", "kind": "ioc"}, "Loại đơn vị không hợp lệ"),
    ({"name_vi": "Công ty mới", "kind": "utility", "email": "không-phải-email"}, "e-mail của đơn vị không hợp lệ"),
    ({"name_vi": "Công ty mới", "kind": "utility", "phone": "gọi tôi"}, "điện thoại của đơn vị không hợp lệ"),
])
def test_a_bad_unit_edit_is_refused_and_nothing_stored(login_as, city, session, form, message):
    unit_id = city.units["ctdt"]
    before = _units(session)
    page = _post(login_as("admin"), f"/admin/units/{unit_id}", form, f"/admin/units/{unit_id}")
    assert message in page
    assert _units(session) == before


def _end(client: Any, unit_id: int, **form: str) -> str:
    return _post(client, f"/admin/units/{unit_id}/end", form, f"/admin/units/{unit_id}")


def _events(session: Any) -> int:
    return len(session.exec(select(ReportEvent.id)).all())


@pytest.mark.parametrize(("form", "message"), [
    ({}, "còn 2 phản ánh đang xử lý"),                                # open reports, no successor
    ({"successor": "so-gtvt"}, "đã hoặc sắp kết thúc"),               # the successor has itself ended
    ({"successor": "so-xd"}, "phải là một đơn vị khác"),
    ({"on": "31/02/2030", "successor": "ctdt"}, "Ngày không hợp lệ"),
    ({"on": "ngày mai", "successor": "ctdt"}, "Ngày không hợp lệ"),
    ({"on": "01/01/2020", "successor": "ctdt"}, "không được ở trong quá khứ"),
    ({"on": "", "successor": "ctdt"}, "Thiếu ngày"),
])
def test_a_bad_unit_end_is_refused_and_nothing_changes(login_as, city, session, form, message):
    before, events = _units(session), _events(session)
    successor = form.pop("successor", None)
    data = {"on": form.get("on", _today()), "successor_id": str(city.units[successor]) if successor else ""}
    page = _end(login_as("admin"), city.units["so-xd"], **data)
    assert message in page
    assert _units(session) == before
    assert _events(session) == events
    assert by_code(session, city.reports["road"]).unit_id == city.units["so-xd"]


def test_the_ioc_cannot_be_ended(login_as, city, session):
    before = _units(session)
    page = _end(login_as("admin"), city.units["ioc"], on=_today(), successor_id=str(city.units["so-xd"]))
    assert "Không thể kết thúc đơn vị tiếp nhận và phân loại" in page
    assert _units(session) == before


def test_ending_a_unit_today_moves_its_open_reports_to_the_successor_one_event_each(login_as, city, session):
    client = login_as("admin")
    page = _end(client, city.units["so-xd"], on=_today(), successor_id=str(city.units["ctdt"]))
    assert "Đã chuyển 2 phản ánh đang xử lý sang đơn vị kế nhiệm" in page
    assert "Còn 3 tài khoản cán bộ thuộc đơn vị này" in page     # head, officer, officer2: moved by hand
    for name in ("road", "road2"):
        report = by_code(session, city.reports[name])
        assert report.unit_id == city.units["ctdt"]
        moves = session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id,
                                                       ReportEvent.kind == EventKind.TRANSFERRED)).all()
        assert len(moves) == 1 and moves[0].actor_id == str(city.staff["admin"])
        assert "kết thúc hoạt động" in moves[0].data["reason"]
    unit = session.get(Unit, city.units["so-xd"])
    assert unit.successor_id == city.units["ctdt"] and unit.active_to <= utcnow()
    audit = session.exec(select(StaffAudit).where(StaffAudit.kind == "unit_ended")).one()
    assert audit.actor_id == city.staff["admin"] and audit.data["successor_id"] == city.units["ctdt"]
    # never offered again as a target: not in the inbox's transfer form, nor in the admin forms
    report_page = client.get(f"/inbox/r/{city.reports['rubbish']}").get_data(as_text=True)
    assert ">Sở Y tế</option>" in report_page
    assert ">Sở Xây dựng</option>" not in report_page
    for path in ("/admin/rules", "/admin/staff", "/admin/clients"):
        assert ">Sở Xây dựng</option>" not in client.get(path).get_data(as_text=True)
    # and a second end is refused
    assert "đã kết thúc hoạt động" in _end(client, city.units["so-xd"], on=_today(),
                                            successor_id=str(city.units["ctdt"]))


def test_routing_follows_the_successor_of_an_ended_unit(city, session):
    category = city_service.category_by_code(session, "duong-hu-hong")
    lat, lon = 9.6306, 105.98235
    assert routing.route(session, category=category, lat=lat, lon=lon).unit_id == city.units["so-xd"]
    admin = session.get(Staff, city.staff["admin"])
    today = (utcnow() + timedelta(hours=7)).date()
    reports_service.end_unit(session, actor=admin, unit_id=city.units["so-xd"], on=today,
                             successor_id=city.units["ctdt"], now=utcnow())
    assert routing.route(session, category=category, lat=lat, lon=lon).unit_id == city.units["ctdt"]


def test_an_end_on_a_later_day_moves_the_reports_once_the_day_has_come(city, session):
    admin = session.get(Staff, city.staff["admin"])
    now = utcnow()
    later = (now + timedelta(hours=7) + timedelta(days=3)).date()
    _, moved = reports_service.end_unit(session, actor=admin, unit_id=city.units["so-xd"], on=later,
                                      successor_id=city.units["ctdt"], now=now)
    assert moved == 0
    assert by_code(session, city.reports["road"]).unit_id == city.units["so-xd"]
    assert reports_service.hand_over_due(session, now=now) == 0          # not yet
    assert reports_service.hand_over_due(session, now=now + timedelta(days=4)) == 2
    assert by_code(session, city.reports["road"]).unit_id == city.units["ctdt"]
    assert reports_service.hand_over_due(session, now=now + timedelta(days=4)) == 0  # idempotent


def test_only_admins_edit_or_end_units(login_as, city, session):
    before = _units(session)
    for who in ("ioc", "head", "officer", "viewer"):
        client = login_as(who)
        resp = client.post(f"/admin/units/{city.units['so-xd']}/end",
                           data={"on": _today(), "successor_id": str(city.units["ctdt"]),
                                 "csrf_token": token(client, "/auth/password")})
        assert resp.status_code == 403
        assert "Chỉ quản trị viên" in resp.get_data(as_text=True)
    assert _units(session) == before


def test_a_unit_without_open_reports_ends_today_without_a_successor_but_not_on_a_later_day(login_as, city, session):
    client = login_as("admin")
    before, events = _units(session), _events(session)
    later = TODAY.format(utcnow() + timedelta(hours=7) + timedelta(days=10))
    assert "cần có đơn vị kế nhiệm" in _end(client, city.units["so-yt"], on=later, successor_id="")
    assert _units(session) == before
    assert "Đã đặt ngày kết thúc" in _end(client, city.units["so-yt"], on=_today(), successor_id="")
    session.expire_all()
    unit = session.get(Unit, city.units["so-yt"])
    assert unit.active_to <= utcnow() and unit.successor_id is None
    assert _events(session) == events


def test_a_report_reopened_in_an_ended_unit_goes_to_the_ioc_when_there_is_no_successor(login_as, city, session):
    _end(login_as("admin"), city.units["so-yt"], on=_today(), successor_id="")
    report = by_code(session, city.reports["road"])   # as if resolved before the end and reopened after it
    report.unit_id = city.units["so-yt"]
    session.add(report)
    session.flush()
    assert reports_service.hand_over_due(session, now=utcnow()) == 1
    report = by_code(session, city.reports["road"])
    assert (report.unit_id, report.status) == (city.units["ioc"], "triage")
    move = session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id,
                                                  ReportEvent.kind == EventKind.TRANSFERRED)).one()
    assert move.actor_id == str(city.staff["admin"])


def test_the_ioc_can_be_renamed_but_keeps_its_kind(login_as, city, session):
    ioc = city.units["ioc"]
    page = _post(login_as("admin"), f"/admin/units/{ioc}", {"name_vi": "Trung tâm IOC thành phố", "phone": "1022"},
                 f"/admin/units/{ioc}")
    assert "Đã lưu đơn vị" in page
    session.expire_all()
    unit = session.get(Unit, ioc)
    assert (unit.name_vi, unit.kind, unit.is_triage) == ("Trung tâm IOC thành phố", "ioc", True)
    assert "Trung tâm điều hành (IOC)" in login_as("admin").get("/admin/units").get_data(as_text=True)


def test_a_large_hand_over_is_left_to_the_periodic_job(login_as, city, session, monkeypatch):
    from backend.services.reports import handover

    monkeypatch.setattr(handover, "MOVE_NOW_LIMIT", 1)   # the seed's unit has 2 open reports
    page = _end(login_as("admin"), city.units["so-xd"], on=_today(), successor_id=str(city.units["ctdt"]))
    assert "2 phản ánh đang xử lý sẽ được chuyển sang đơn vị kế nhiệm" in page
    assert by_code(session, city.reports["road"]).unit_id == city.units["so-xd"]
    assert reports_service.hand_over_due(session, now=utcnow()) == 2
    assert by_code(session, city.reports["road"]).unit_id == city.units["ctdt"]
