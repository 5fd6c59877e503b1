"""The reporter's page in Debian's Chromium (Playwright), phone (390×844) and desktop (1366×768):
open the reporter's link, add a comment, see the after-photo and the unit's reply once staff resolved
it (through the workflow service), rate it, reopen it. No console error, no CSP violation (a strict-CSP
violation is logged as a console error). Screenshots land in ``tests/artifacts/``."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select
from web_browser import PageProbe, shot

from backend.models.reports import Report, ReportEvent
from backend.models.staff import Staff
from backend.services import photos, reports
from backend.services.events import Actor
from backend.services.photos.storage import get_storage

from fixtures.images import jpeg

pytestmark = pytest.mark.browser

REPLY = "Đã vá ổ gà bằng bê tông nhựa, mặt đường đã phẳng."


def _report(live: Any, code: str) -> Report:
    with live.db.session_scope() as s:
        report = s.exec(select(Report).where(Report.code == code)).one()
        s.expunge(report)
        return report


def _resolve(live: Any, settings: Any, code: str) -> None:
    """Staff acknowledge and resolve with an after-photo, through the workflow service."""
    with live.db.session_scope() as s:
        report = s.exec(select(Report).where(Report.code == code)).one()
        officer = s.exec(select(Staff).where(Staff.email == "officer@demo.vn")).one()
        store = get_storage(settings)
        photo = photos.accept_upload(s, data=jpeg(640, 480), storage=store, staff_id=officer.id, role="after")
        photos.process(s, photo=photo, storage=store)
        staff = Actor.staff(officer)
        reports.apply(s, report, "acknowledge", actor=staff, expected_version=report.version)
        reports.apply(s, report, "resolve", actor=staff, expected_version=report.version, reply=REPLY,
                      after_photo_ids=[photo.id])


@pytest.mark.parametrize("device,size", [("phone", (390, 844)), ("desktop", (1366, 768))])
def test_reporter_comments_sees_the_result_rates_and_reopens(probe: PageProbe, live_server: Any, settings: Any,
                                                            tmp_path: Any, device: str, size: tuple[int, int]) -> None:
    code = live_server.seed.reports["road"]
    link = reports.reporter_link(_report(live_server, code), base_url=live_server.url,
                                 secret_key=settings.secret_key)
    page = probe.new_page()
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto(link)
    assert page.locator(".code").inner_text() == code
    assert page.locator(".state").inner_text() == "Đã chuyển đơn vị xử lý"
    page.wait_for_selector("[data-map=point][data-ready='1']")
    shot(page, f"resident-report-{device}-open")

    photo = tmp_path / "o-ga.jpg"
    photo.write_bytes(jpeg(400, 300))
    page.get_by_label("Bổ sung thông tin").fill("Ổ gà rộng thêm sau cơn mưa tối qua.")
    page.get_by_label("Ảnh (không bắt buộc)").set_input_files(str(photo))
    page.get_by_role("button", name="Gửi bổ sung").click()
    page.wait_for_selector(".flash-ok")
    assert "Đã gửi thông tin bổ sung" in page.locator(".flash-ok").inner_text()
    with live_server.db.session_scope() as s:
        kinds = [e.kind for e in s.exec(select(ReportEvent).where(ReportEvent.report_id == _report(
            live_server, code).id))]
    assert "resident_comment" in kinds

    _resolve(live_server, settings, code)
    page.goto(link)
    assert page.locator(".state").inner_text() == "Đã xử lý"
    assert REPLY in page.locator(".replies").inner_text()
    after = page.locator(".gallery.after img").first
    after.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=after.element_handle())
    shot(page, f"resident-report-{device}-resolved")

    page.get_by_label("4 ★").check()
    page.get_by_label("Nhận xét (không bắt buộc)").fill("Vá nhanh, cảm ơn đơn vị.")
    page.get_by_role("button", name="Gửi đánh giá").click()
    page.wait_for_selector(".flash-ok")
    rated = _report(live_server, code)
    assert rated.status == "closed" and rated.rating == 4

    page.get_by_label("Chưa được xử lý triệt để? Phản ánh lại").fill("Sau hai ngày ổ gà lại lún xuống.")
    page.get_by_role("button", name="Phản ánh lại").click()
    page.wait_for_selector(".flash-ok")
    assert _report(live_server, code).status == "reopened"
    assert page.locator(".state").inner_text() == "Người dân phản ánh lại"
    shot(page, f"resident-report-{device}-reopened")

    public = probe.new_page()
    public.set_viewport_size({"width": size[0], "height": size[1]})
    public.goto(f"{live_server.url}/r/{code}")
    assert public.locator("form").count() == 1  # the lookup box only: no reporter form without the token
    assert "Lê Thị Cúc" not in public.content()
    assert probe.errors == [], probe.errors
