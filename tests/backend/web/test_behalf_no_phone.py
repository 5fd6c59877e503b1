"""Report on behalf for a caller who will not give a phone number (``/inbox/new``, the checkbox "Người gọi không
để lại số điện thoại"): the report has no reporter and nobody is notified, yet it is routed and gets a code; the
page after the submit gives the public page without a reporter's token and says no one will be notified. A number
typed anyway is used; neither a number nor the checkbox is refused in Vietnamese with nothing stored."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import func, select
from test_behalf import _code, _counts, _fields, _post

from backend.models import Delivery
from backend.models.reports import Report, ReportEvent
from backend.models.residents import Identity, Resident


def _to_residents(session: Any, report: Report) -> list[Delivery]:
    return list(session.exec(select(Delivery).where(Delivery.report_id == report.id,
                                                    Delivery.recipient_kind == "resident")))


def _report(session: Any, code: str) -> Report:
    session.expire_all()
    return session.exec(select(Report).where(Report.code == code)).one()


def test_a_caller_without_a_number_gets_a_routed_report_and_nobody_is_notified(
        login_as: Any, city: Any, session: Any, run_jobs: Any) -> None:
    ioc = login_as("ioc")
    residents_before = session.exec(select(func.count()).select_from(Resident)).one()
    code = _code(_post(ioc, _fields(ioc, caller_phone="", no_phone="1")))
    run_jobs()
    report = _report(session, code)
    assert report.resident_id is None and report.channel == "hotline"
    assert report.status == "assigned" and report.unit_id == city.units["ubnd-soc-trang"]
    assert report.resolve_due_at is not None and code.startswith("PA-")
    assert session.exec(select(func.count()).select_from(Resident)).one() == residents_before  # no reporter kept
    assert _to_residents(session, report) == []
    assert session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id,
                                                  ReportEvent.kind == "notified")).all() == []

    done = ioc.get(f"/inbox/new/{code}").get_data(as_text=True)
    assert f'id="report-code">{code}<' in done and "UBND phường Sóc Trăng" in done
    link = re.search(r'id="public-link" href="([^"]+)"', done).group(1)  # type: ignore[union-attr]
    assert link.endswith(f"/r/{code}") and "?t=" not in done
    assert "không có ai nhận được thông báo" in done
    assert 'id="sms-text"' not in done and 'id="reporter-link"' not in done and 'id="send-zalo"' not in done
    public = ioc.get(link.removeprefix("http://localhost"))
    assert public.status_code == 200 and code in public.get_data(as_text=True)
    page = ioc.get(f"/inbox/r/{code}").get_data(as_text=True)
    assert "Cán bộ nhập phản ánh thay người dân (qua đường dây nóng)" in page
    refused = ioc.post(f"/inbox/new/{code}/zalo", data={"csrf_token": re.search(
        r'name="csrf_token" value="([^"]+)"', page).group(1)})  # type: ignore[union-attr]
    assert refused.status_code == 303
    assert "không có ai để gửi" in ioc.get(refused.headers["Location"]).get_data(as_text=True)
    assert _to_residents(session, report) == []


def test_a_number_typed_with_the_checkbox_is_used(login_as: Any, city: Any, session: Any, run_jobs: Any) -> None:
    ioc = login_as("ioc")
    code = _code(_post(ioc, _fields(ioc, no_phone="1")))
    run_jobs()
    report = _report(session, code)
    assert _to_residents(session, report)  # the caller is told (their feed), unlike a caller without a number
    identity = session.exec(select(Identity).where(Identity.resident_id == report.resident_id)).one()
    assert (identity.provider, identity.subject) == ("phone", "84912345678")
    assert f"/r/{code}?t=" in ioc.get(f"/inbox/new/{code}").get_data(as_text=True)


def test_neither_a_number_nor_the_checkbox_is_refused_and_nothing_is_stored(login_as: Any, city: Any,
                                                                          session: Any) -> None:
    ioc = login_as("ioc")
    for change in ({"caller_phone": ""}, {"caller_phone": "  ", "no_phone": "0"}):
        before = _counts(session)
        resp = _post(ioc, _fields(ioc, **change))
        html = resp.get_data(as_text=True)
        assert resp.status_code == 422, html[:500]
        assert "Vui lòng nhập số điện thoại của người phản ánh, hoặc đánh dấu" in html
        assert 'id="form-error"' in html and "Quán nước lấn chiếm" in html
        assert _counts(session) == before


def test_a_bad_number_with_the_checkbox_is_still_refused(login_as: Any, city: Any, session: Any) -> None:
    ioc = login_as("ioc")
    before = _counts(session)
    resp = _post(ioc, _fields(ioc, caller_phone="12345", no_phone="1"))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "Số điện thoại không hợp lệ" in html
    assert re.search(r'id="no_phone"[^>]*checked', html)  # the form comes back as it was typed
    assert _counts(session) == before


def test_a_double_submit_without_a_number_makes_one_report(login_as: Any, city: Any, session: Any) -> None:
    ioc = login_as("ioc")
    data = _fields(ioc, caller_phone="", no_phone="1")
    first, second = _code(_post(ioc, dict(data))), _code(_post(ioc, dict(data)))
    assert first == second
    assert session.exec(select(func.count()).select_from(Report).where(Report.channel == "hotline")).one() == 1
    assert "đã được gửi trước đó" in ioc.get(f"/inbox/new/{first}").get_data(as_text=True)

