"""Report on behalf in Debian's Chromium (Playwright): a hotline operator enters a caller's report — ward search,
pin, category, description — it routes to the ward's People's Committee and gets a code; the reporter's link
shown opens ``/r/<code>``. Bad input (bad phone, no category, no description, a point outside the city, a file
that is not an image) gets a Vietnamese message and stores nothing; a double submit stores one report. No
console error (a strict-CSP violation is one). Screenshots: ``tests/artifacts/behalf-form.png``,
``behalf-done.png``."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

import pytest
from sqlmodel import func, select
from web_browser import PageProbe, shot

from backend.models.photos import Photo
from backend.models.reports import Report

pytestmark = pytest.mark.browser

CATEGORY = "Lấn chiếm vỉa hè, lòng đường"


def _count(live: Any) -> tuple[int, int]:
    with live.db.session_scope() as s:
        return (s.exec(select(func.count()).select_from(Report)).one(),
                s.exec(select(func.count()).select_from(Photo)).one())


def _fill(page: Any, *, phone: str = "0912 345 678", category: str | None = CATEGORY,
          description: str = "Quán nước lấn chiếm vỉa hè trước số 45 Hùng Vương") -> None:
    page.get_by_label("Đường dây nóng").check()
    page.get_by_label("Họ tên").fill("Nguyễn Thị Hoa")
    page.get_by_label("Số điện thoại *").fill(phone)
    if category:
        page.get_by_label("Lĩnh vực *").select_option(label=category)
    page.get_by_label("Nội dung phản ánh *").fill(description)
    page.get_by_label("Tìm phường/xã").fill("soc trang")
    page.get_by_role("button", name="Tìm", exact=True).click()
    page.get_by_role("button", name=re.compile("Phường Sóc Trăng")).click()
    page.wait_for_selector("#behalf-map[data-placed='1']")


def _refused(page: Any, live: Any, message: str, before: tuple[int, int]) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="Gửi phản ánh").click()
    assert message.lower() in page.locator("#form-error").inner_text().lower()
    assert _count(live) == before


def _no_errors(probe: PageProbe, *, refusals: int = 0) -> None:
    """No script or CSP error; the refused submissions' own 4xx answers are the only "failed" loads."""
    refused = [e for e in probe.errors if re.match(r"console error: Failed to load resource: .* status of 4\d\d", e)]
    assert len(refused) == refusals and len(probe.errors) == refusals, probe.errors


def test_hotline_operator_enters_a_report_for_a_caller(probe: PageProbe, live_server: Any, tmp_path: Any) -> None:
    page = probe.new_page()
    probe.login(page, "ioc")
    page.get_by_role("link", name="Nhập phản ánh").click()
    page.wait_for_selector("#behalf-map[data-ready='1']")
    before = _count(live_server)

    _fill(page, phone="12345")
    _refused(page, live_server, "Số điện thoại không hợp lệ", before)
    assert page.get_by_label("Nội dung phản ánh *").input_value().startswith("Quán nước")  # what was typed stays
    _fill(page, category=None)
    page.get_by_label("Lĩnh vực *").select_option(value="")
    _refused(page, live_server, "Vui lòng chọn lĩnh vực", before)
    _fill(page, description=" ")
    _refused(page, live_server, "Vui lòng ghi nội dung phản ánh", before)
    _fill(page)
    page.evaluate("() => { const f = document.getElementById('behalf-form');"
                  " f.lat.value = '21.0285'; f.lon.value = '105.8542'; }")  # a pin far outside the city (Hà Nội)
    _refused(page, live_server, "nằm ngoài địa bàn", before)
    _fill(page)
    bad = tmp_path / "don-thu.pdf"
    bad.write_bytes(b"%PDF-1.4 not an image")
    page.get_by_label("Ảnh (không bắt buộc)").set_input_files(str(bad))
    _refused(page, live_server, "Định dạng tệp không được hỗ trợ", before)

    page.get_by_role("link", name="Nhập phản ánh").click()  # a fresh form
    page.wait_for_selector("#behalf-map[data-ready='1']")
    _fill(page)
    shot(page, "behalf-form")
    with page.expect_navigation():
        page.get_by_role("button", name="Gửi phản ánh").click()
    code = page.locator("#report-code").inner_text()
    assert re.fullmatch(r"PA-[A-Z0-9]{6}", code) and f"/inbox/new/{code}" in page.url
    assert page.get_by_role("heading", name=f"Đã tạo phản ánh {code}").is_visible()
    assert page.locator("#report-unit").inner_text() == "UBND phường Sóc Trăng"
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d:\d\d", page.locator("#report-deadline").inner_text())
    assert code in page.locator("#sms-text").input_value()
    shot(page, "behalf-done")
    with live_server.db.session_scope() as s:
        report = s.exec(select(Report).where(Report.code == code)).one()
        assert report.channel == "hotline" and report.unit_id == live_server.seed.units["ubnd-soc-trang"]
    assert _count(live_server) == (before[0] + 1, before[1])

    link = urlparse(page.locator("#reporter-link").get_attribute("href"))
    assert link.path == f"/r/{code}" and link.query.startswith("t=")
    public = probe.new_page()
    response = public.goto(f"{live_server.url}{link.path}?{link.query}")
    assert response.status == 200 and code in public.locator("main").inner_text()
    assert "0912" not in public.content()
    _no_errors(probe, refusals=5)


def test_a_double_submit_stores_one_report(probe: PageProbe, live_server: Any) -> None:
    page = probe.new_page()
    probe.login(page, "officer")
    page.goto(live_server.url + "/inbox/new")
    page.wait_for_selector("#behalf-map[data-ready='1']")
    _fill(page)
    before = _count(live_server)
    statuses = page.evaluate("""async () => {
        const form = document.getElementById('behalf-form');
        const send = () => fetch(form.action, {method: 'POST', body: new FormData(form), credentials: 'same-origin'});
        const answers = await Promise.all([send(), send()]);
        return answers.map(r => [r.status, r.url]);
    }""")
    assert [s for s, _url in statuses] == [200, 200], statuses  # both followed the redirect to the same page
    assert statuses[0][1] == statuses[1][1] and "/inbox/new/PA-" in statuses[0][1]
    assert _count(live_server) == (before[0] + 1, before[1])
    _no_errors(probe)
