"""The admin's unit and staff pages in Debian's Chromium (issue 18): a bad unit code refused in Vietnamese, a
unit edited, a unit with open reports ended onto a successor (its reports move), a staff password reset and
the staff member forced to choose a new one. Screenshots: ``tests/artifacts/admin-*.png``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import select
from web_browser import PageProbe, shot

from backend.models.base import utcnow
from backend.models.reports import Report
from backend.models.units import Unit

pytestmark = pytest.mark.browser


def _unit(live: Any, code: str) -> Unit:
    with live.db.session_scope() as s:
        unit = s.exec(select(Unit).where(Unit.code == code)).one()
        s.expunge(unit)
        return unit


def _report_unit(live: Any, code: str) -> int | None:
    with live.db.session_scope() as s:
        return s.exec(select(Report.unit_id).where(Report.code == code)).one()


def test_admin_edits_and_ends_a_unit(probe: PageProbe, live_server: Any) -> None:
    page = probe.new_page()
    probe.login(page, "admin")
    page.goto(live_server.url + "/admin/units")
    # a code with spaces and diacritics: the browser's own check is bypassed to reach the server's message
    page.locator("#u-code").evaluate("el => el.removeAttribute('pattern')")
    page.get_by_label("Mã").fill("Phòng QLĐT")
    page.get_by_label("Tên", exact=True).fill("Phòng Quản lý đô thị")
    page.get_by_role("button", name="Thêm đơn vị").click()
    page.wait_for_url("**/admin/units")
    expect(page.locator("#flashes")).to_contain_text("không hợp lệ")
    shot(page, "admin-unit-code-refused")
    with live_server.db.session_scope() as s:
        assert s.exec(select(Unit).where(Unit.name_vi == "Phòng Quản lý đô thị")).first() is None

    # edit Sở Xây dựng's contacts
    page.get_by_role("link", name="Sửa Sở Xây dựng").click()
    page.get_by_label("Điện thoại").fill("0299 3822 000")
    page.get_by_role("button", name="Lưu đơn vị").click()
    page.wait_for_url("**/admin/units")
    expect(page.locator("#flashes")).to_contain_text("Đã lưu đơn vị")
    assert _unit(live_server, "so-xd").phone == "0299 3822 000"

    # end it today without a successor: refused, it still has open reports
    page.get_by_role("link", name="Sửa Sở Xây dựng").click()
    assert page.locator("#open-count").inner_text() == "2"
    page.get_by_role("button", name="Kết thúc hoạt động").click()
    expect(page.locator("#flashes")).to_contain_text("hãy chọn đơn vị kế nhiệm")
    assert _unit(live_server, "so-xd").active_to is None
    # with a successor: ended, the reports move
    today = (utcnow() + timedelta(hours=7)).strftime("%d/%m/%Y")
    page.get_by_label("Kết thúc từ ngày (dd/mm/yyyy)").fill(today)
    page.get_by_label("Đơn vị kế nhiệm").select_option(label="Công ty Cổ phần Công trình đô thị (mô phỏng)")
    shot(page, "admin-unit-end-form")
    page.get_by_role("button", name="Kết thúc hoạt động").click()
    page.wait_for_url("**/admin/units")
    expect(page.locator("#flashes")).to_contain_text("Đã chuyển 2 phản ánh")
    row = page.locator("tr", has_text="so-xd")
    assert "Đã kết thúc từ" in row.inner_text()
    shot(page, "admin-units-after-end")
    ctdt = live_server.seed.units["ctdt"]
    assert _report_unit(live_server, live_server.seed.reports["road"]) == ctdt
    assert probe.errors == [], probe.errors


def test_admin_resets_a_password_and_the_officer_must_change_it(probe: PageProbe, live_server: Any,
                                                                browser: Any) -> None:
    page = probe.new_page()
    probe.login(page, "admin")
    page.goto(live_server.url + "/admin/staff")
    page.get_by_role("link", name="officer@demo.vn").click()
    page.get_by_role("button", name="Đặt lại mật khẩu").click()
    temporary = page.locator("#temporary-password").inner_text().strip()
    assert len(temporary) >= 10
    shot(page, "admin-staff-password-reset")

    other = PageProbe(browser, live_server.url)
    try:
        officer = other.new_page()
        officer.goto(live_server.url + "/auth/login")
        officer.get_by_label("E-mail").fill("officer@demo.vn")
        officer.get_by_label("Mật khẩu").fill(temporary)
        officer.get_by_role("button", name="Đăng nhập").click()
        officer.wait_for_url("**/auth/password")
        assert "vừa được quản trị viên đặt lại" in officer.locator("#flashes").inner_text()
        shot(officer, "admin-staff-must-change-password")
        officer.get_by_label("Mật khẩu hiện tại").fill(temporary)
        officer.get_by_label("Mật khẩu mới (ít nhất 10 ký tự)").fill("mat-khau-rieng-2027")
        officer.get_by_label("Nhập lại mật khẩu mới").fill("mat-khau-rieng-2027")
        officer.get_by_role("button", name="Lưu mật khẩu mới").click()
        officer.wait_for_url("**/inbox**")
        assert "Đã đổi mật khẩu" in officer.locator("#flashes").inner_text()
        assert other.errors == [], other.errors
    finally:
        other.close()
    assert probe.errors == [], probe.errors
