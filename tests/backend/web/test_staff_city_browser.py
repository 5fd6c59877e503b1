"""Issue 18's staff acceptance in Debian's Chromium: a dispatcher finds another unit's report by its code and by
the reporter's phone; an officer who transfers a report out lands on their queue with the message (no 403);
a leader lands on the city's numbers, which are ``deadlines.figures``'. No console error, no CSP violation;
screenshots in ``tests/artifacts/``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect
from sqlmodel import select
from web_browser import PageProbe, shot
from web_seed import SOC_TRANG, report

from backend.models.base import utcnow
from backend.models.reports import Report
from backend.services import deadlines
from backend.web.home import month_bounds

pytestmark = pytest.mark.browser


def _search(page: Any, text: str) -> None:
    box = page.get_by_label("Tìm kiếm")
    box.fill(text)
    with page.expect_navigation():
        box.press("Enter")


def test_dispatcher_finds_another_units_report_by_code_and_by_reporter_phone(probe: PageProbe,
                                                                             live_server: Any) -> None:
    codes = live_server.seed.reports
    page = probe.new_page()
    probe.login(page, "ioc")
    assert page.locator(f"tr.qrow[data-code='{codes['road']}']").count() == 0  # Sở Xây dựng's, not in the IOC queue
    _search(page, codes["road"].lower())
    row = page.locator(f"tr.qrow[data-code='{codes['road']}']")
    assert row.is_visible() and "Sở Xây dựng" in row.inner_text()
    assert "Không có phản ánh nào phù hợp" not in page.locator("#queue-table").inner_text()
    shot(page, "staff-search-code")
    _search(page, "0901 234 567")  # the seeded resident's phone, as a caller reads it out
    found = {page.locator("tr.qrow").nth(i).get_attribute("data-code") for i in range(page.locator("tr.qrow").count())}
    assert found == {codes["road"], codes["road2"], codes["triage"], codes["rubbish"]}
    shot(page, "staff-search-phone")
    page.locator(f"tr.qrow[data-code='{codes['rubbish']}'] a.code").click()
    page.wait_for_url(f"**/inbox/r/{codes['rubbish']}")
    assert probe.errors == [], probe.errors


def test_officer_transfers_out_and_lands_on_the_queue_with_the_message(probe: PageProbe, live_server: Any) -> None:
    code = live_server.seed.reports["road"]
    page = probe.new_page()
    probe.login(page, "officer")
    page.goto(f"{live_server.url}/inbox/r/{code}")
    page.keyboard.press("t")  # the transfer form, from the keyboard
    page.get_by_label("Đơn vị nhận").select_option(str(live_server.seed.units["ctdt"]))
    page.locator("#transfer-reason").fill("Thuộc phạm vi công trình đô thị")
    with page.expect_navigation():
        page.locator("#form-transfer").get_by_role("button", name="Chuyển đơn vị").click()
    assert page.url.rstrip("/").endswith("/inbox")
    expect(page.locator("#flashes")).to_contain_text("Đã thực hiện: Chuyển đơn vị.")
    assert page.get_by_role("heading", name="Hàng đợi xử lý").is_visible()
    assert page.locator(f"tr.qrow[data-code='{code}']").count() == 0  # it left the officer's unit
    shot(page, "staff-transfer-out")
    with live_server.db.session_scope() as s:
        moved = s.exec(select(Report).where(Report.code == code)).one()
        assert moved.unit_id == live_server.seed.units["ctdt"]
    assert probe.errors == [], probe.errors


def test_leader_lands_on_the_citys_numbers_which_are_the_kpi_figures(probe: PageProbe, live_server: Any) -> None:
    with live_server.db.session_scope() as s:  # a pothole reported three weeks ago: past its resolve deadline
        late = report(s, resident_id=live_server.seed.resident_id, category="duong-hu-hong",
                      description="Ổ gà cũ chưa ai xử lý", point=SOC_TRANG, at=utcnow() - timedelta(days=21)).code
    page = probe.new_page()
    probe.login(page, "viewer")
    assert page.url.endswith("/inbox/city")
    with live_server.db.session_scope() as s:
        _month, start, end = month_bounds(s)
        period = deadlines.figures(s, start=start, end=end, now=utcnow())["period"]
    numbers = page.locator("#city-numbers")
    assert numbers.locator("[data-open]").inner_text() == str(period["open"]) == "5"
    assert numbers.locator("[data-overdue]").inner_text() == str(period["open_overdue"]) == "1"
    month = page.locator("#city-month")
    assert month.locator("[data-figure=received]").inner_text() == str(period["received"])
    assert month.locator("[data-figure=resolved]").inner_text() == str(period["resolved"])
    units = page.locator("#city-units tbody tr")
    assert sum(int(units.nth(i).locator("td").nth(1).inner_text()) for i in range(units.count())) == period["open"]
    assert late in page.locator("main").inner_text()  # the overdue one is listed
    shot(page, "staff-city-leader")
    assert probe.errors == [], probe.errors
