"""End-to-end staff flows in Debian's Chromium (Playwright), against a live server on 127.0.0.1.

Every test also checks that the page logged no console error — a strict-CSP violation (inline
script or style) shows up there. Screenshots land in ``tests/artifacts/``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import select
from web_browser import PageProbe, shot
from web_seed import PASSWORD

from backend.models.photos import Photo
from backend.models.reports import Report

from fixtures.images import jpeg

pytestmark = pytest.mark.browser


def _report(live: Any, code: str) -> Report:
    with live.db.session_scope() as s:
        report = s.exec(select(Report).where(Report.code == code)).one()
        s.expunge(report)
        return report


def _no_errors(probe: PageProbe) -> None:
    assert probe.errors == [], probe.errors


def test_dispatcher_routes_a_triage_report(probe: PageProbe, live_server: Any) -> None:
    page = probe.new_page()
    probe.login(page, "ioc")
    page.get_by_role("link", name="Điều phối IOC").click()
    code = live_server.seed.reports["triage"]
    row = page.locator("#triage-table tr", has_text=code)
    row.get_by_label(f"Đơn vị nhận {code}").select_option(str(live_server.seed.units["so-xd"]))
    row.get_by_role("button").click()
    page.wait_for_url("**/inbox/ioc")
    expect(page.locator("#flashes")).to_contain_text("Đã thực hiện: Chuyển xử lý")
    report = _report(live_server, code)
    assert report.unit_id == live_server.seed.units["so-xd"] and report.status == "assigned"
    _no_errors(probe)


def test_officer_acknowledges_replies_from_template_and_resolves_with_after_photo(
        probe: PageProbe, live_server: Any, tmp_path: Any) -> None:
    code = live_server.seed.reports["road"]
    page = probe.new_page()
    probe.login(page, "officer")
    assert page.locator("tr.qrow").count() == 2
    shot(page, "queue")
    # keyboard: j selects the first row (nearest deadline), Enter opens it
    page.keyboard.press("j")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    if code not in page.url:
        page.goto(f"{live_server.url}/inbox/r/{code}")
    page.wait_for_selector("#report-map[data-ready='1']")
    shot(page, "report")
    with page.expect_navigation():
        page.keyboard.press("a")  # acknowledge
    expect(page.locator("#flashes")).to_contain_text("Đã thực hiện: Tiếp nhận")
    assert _report(live_server, code).status == "acknowledged"
    page.keyboard.press("r")  # reply
    page.get_by_label("Mẫu trả lời").first.select_option(label="Đã tiếp nhận · Đơn vị đã tiếp nhận")
    text = page.get_by_label("Nội dung trả lời (người dân sẽ thấy)")
    assert "Kính gửi Quý công dân" in text.input_value()
    text.fill(text.input_value() + " Dự kiến hoàn thành trong tuần.")
    page.get_by_role("button", name="Gửi trả lời").click()
    expect(page.locator("#flashes")).to_contain_text("Đã thực hiện: Trả lời công khai")
    assert "Dự kiến hoàn thành trong tuần." in page.locator(".timeline").inner_text()
    # resolve: the category requires an "after" photo
    page.locator("#details-resolve summary").click()
    page.locator("#tpl-resolve-text").select_option(label="Đã vá sửa mặt đường · Đã xử lý")
    after = tmp_path / "sau-xu-ly.jpg"
    after.write_bytes(jpeg(640, 480, seed=3))
    page.get_by_label(re.compile("Ảnh sau xử lý")).set_input_files(str(after))
    page.locator("#form-resolve button[type=submit]").click()
    expect(page.locator("#flashes")).to_contain_text("Đã thực hiện: Hoàn thành xử lý")
    report = _report(live_server, code)
    assert report.status == "resolved"
    with live_server.db.session_scope() as s:
        roles = [p.role for p in s.exec(select(Photo).where(Photo.report_id == report.id))]
    assert "after" in roles
    _no_errors(probe)


def test_viewer_cannot_act(probe: PageProbe, live_server: Any) -> None:
    code = live_server.seed.reports["road"]
    page = probe.new_page()
    probe.login(page, "viewer")
    page.goto(f"{live_server.url}/inbox/r/{code}")
    assert page.locator("#no-actions").inner_text().startswith("Tài khoản chỉ xem")
    assert page.locator("form.act").count() == 0
    assert page.locator("#bulk-form").count() == 0
    page.keyboard.press("a")  # the shortcut has nothing to press
    assert _report(live_server, code).status == "assigned"
    _no_errors(probe)


def test_second_officer_gets_a_conflict(probe: PageProbe, live_server: Any, browser: Any) -> None:
    code = live_server.seed.reports["road"]
    before = _report(live_server, code).version
    first = probe.new_page()
    probe.login(first, "officer")
    first.goto(f"{live_server.url}/inbox/r/{code}")
    other = PageProbe(browser, live_server.url)
    try:
        second = other.new_page()
        other.login(second, "officer2")
        second.goto(f"{live_server.url}/inbox/r/{code}")
        first.locator("#action-acknowledge").click()
        first.wait_for_load_state()
        assert "Đã thực hiện: Tiếp nhận" in first.locator("#flashes").inner_text()
        second.locator("#action-acknowledge").click()  # rendered before the first officer acted
        second.wait_for_load_state()
        message = second.locator(".flash-conflict").inner_text()
        assert "vừa được người khác cập nhật" in message and "Đơn vị đã tiếp nhận" in message
        _no_errors(other)
    finally:
        other.close()
    assert _report(live_server, code).version == before + 1  # one write only: the first officer's
    _no_errors(probe)


def test_post_without_csrf_token_is_refused(probe: PageProbe, live_server: Any) -> None:
    code = live_server.seed.reports["road"]
    page = probe.new_page()
    probe.login(page, "officer")
    version = _report(live_server, code).version
    resp = page.request.post(f"{live_server.url}/inbox/r/{code}/act",
                             form={"action": "acknowledge", "version": str(version)})
    assert resp.status == 400
    assert "tải lại trang" in resp.text()
    resp = page.request.post(f"{live_server.url}/auth/login", form={"email": "officer@demo.vn", "password": PASSWORD})
    assert resp.status == 400
    assert _report(live_server, code).version == version


def test_dashboard_renders_charts_with_data(probe: PageProbe, live_server: Any) -> None:
    page = probe.new_page()
    probe.login(page, "ioc")
    page.get_by_role("link", name="Thống kê").click()
    page.wait_for_selector("#charts[data-ready='1']")
    page.wait_for_selector("#heat-map[data-ready='1']")
    assert int(page.locator("#charts").get_attribute("data-total") or 0) == 4
    received = page.evaluate("Chart.getChart('chart-trend').data.datasets[0].data.reduce((a, b) => a + b, 0)")
    assert received == 4
    assert page.evaluate("Chart.getChart('chart-hist') !== undefined && Chart.getChart('chart-ontime') !== undefined")
    assert int(page.locator("#heat-map").get_attribute("data-count") or 0) == 4
    shot(page, "dashboard")
    _no_errors(probe)


def test_queue_map_and_live_refresh(probe: PageProbe, live_server: Any) -> None:
    page = probe.new_page()
    probe.login(page, "officer")
    assert page.locator("tr.qrow").count() == 2
    with live_server.db.session_scope() as s:
        from web_seed import SOC_TRANG, report

        new = report(s, resident_id=live_server.seed.resident_id, category="duong-hu-hong",
                     description="Nắp cống bị vỡ trên vỉa hè", point=SOC_TRANG).code
    page.evaluate("htmx.trigger(document.body, 'queue-refresh')")  # what the 20 s poll does
    page.wait_for_selector(f"tr.qrow[data-code='{new}']")
    page.get_by_role("link", name="Xem trên bản đồ").click()
    page.wait_for_selector("#queue-map[data-ready='1']")
    assert page.locator("#queue-map").get_attribute("data-count") == "3"
    page.keyboard.press("?")
    _no_errors(probe)
