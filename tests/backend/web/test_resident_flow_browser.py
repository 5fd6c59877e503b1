"""A resident's whole web journey in Debian's Chromium (Playwright), phone 390×844 and desktop 1366×768:
report on ``/report`` (photo from the file chooser, the phone's location, then the pin dragged), the
confirmation with the code, the reporter's link (a comment), staff resolve it, the resident sees the
after-photo and the reply, rates, reopens. And the city page ``/``: clustered map, a filter, the
lookup box. Base map tiles come from a loopback tile server and show in the screenshots
(``tests/artifacts/``); no console error and no CSP violation on any page.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlmodel import select
from web_browser import PageProbe, shot
from web_seed import SOC_TRANG, staff_by_email

from backend.models.reports import Report, ReportEvent
from backend.services import photos, reports
from backend.services.events import Actor
from backend.services.photos import get_storage

from fakes.tiles import FakeTiles
from fixtures.images import jpeg

pytestmark = pytest.mark.browser

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1366, "height": 768}}


@pytest.fixture
def settings(settings: Any, tiles: FakeTiles) -> Any:
    settings.tile_url = tiles.url_template
    settings.tile_attribution = "© Bản đồ thử nghiệm"
    return settings


def _page(probe: PageProbe, browser: Any, size: str, *, geolocation: bool = False) -> Any:
    """A page in its own context with the viewport (and the phone's location when allowed)."""
    options: dict[str, Any] = {"viewport": VIEWPORTS[size], "locale": "vi-VN", "is_mobile": size == "phone",
                               "has_touch": size == "phone"}
    if geolocation:
        options.update(geolocation={"latitude": SOC_TRANG[0], "longitude": SOC_TRANG[1], "accuracy": 12},
                       permissions=["geolocation"])
    probe.context.close()
    probe.context = browser.new_context(**options)
    probe.context.set_default_timeout(15_000)
    return probe.new_page()


def _tiles_shown(page: Any) -> int:
    page.locator("img.leaflet-tile-loaded").first.wait_for()
    return page.locator("img.leaflet-tile-loaded").count()


def _resolve(live: Any, settings: Any, code: str) -> None:
    with live.db.session_scope() as s:
        report = s.exec(select(Report).where(Report.code == code)).one()
        officer = staff_by_email(s, "officer@demo.vn")
        actor = Actor.staff(officer)
        reports.apply(s, report, "acknowledge", actor=actor, expected_version=report.version)
        store = get_storage(settings)
        photo = photos.accept_upload(s, data=jpeg(320, 240), storage=store, staff_id=officer.id, role="after")
        photos.process(s, photo=photo, storage=store)
        reports.apply(s, report, "resolve", actor=actor, expected_version=report.version,
                      reply="Đã vá xong ổ gà, mặt đường đã phẳng.", after_photo_ids=[photo.id])


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_resident_reports_follows_rates_and_reopens(probe: PageProbe, browser: Any, live_server: Any,
                                                   settings: Any, tiles: FakeTiles, size: str) -> None:
    page = _page(probe, browser, size, geolocation=True)
    page.goto(live_server.url + "/report")
    with page.expect_file_chooser() as chooser:
        page.locator("#photo").click()
    chooser.value.set_files(files=[{"name": "o-ga.jpg", "mimeType": "image/jpeg", "buffer": jpeg(800, 600)}])
    page.get_by_role("button", name="Dùng vị trí của tôi").click()
    picker = page.locator("#picker")
    page.locator("#picker[data-placed=gps]").wait_for()
    gps = (page.locator("input[name=lat]").input_value(), page.locator("input[name=lon]").input_value())
    assert abs(float(gps[0]) - SOC_TRANG[0]) < 1e-5 and abs(float(gps[1]) - SOC_TRANG[1]) < 1e-5
    assert _tiles_shown(page) > 0
    pin = page.locator(".leaflet-marker-icon").bounding_box()
    assert pin is not None
    x, y = pin["x"] + pin["width"] / 2, pin["y"] + pin["height"] - 4
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 20, y + 15, steps=8)
    page.mouse.up()
    page.locator("#picker[data-placed=pin]").wait_for()
    dragged = (page.locator("input[name=lat]").input_value(), page.locator("input[name=lon]").input_value())
    assert dragged != gps and float(dragged[0]) < float(gps[0])  # dragged down = south
    assert picker.get_attribute("data-ready") == "1"
    page.locator("#category").select_option("duong-hu-hong")
    page.locator("#description").fill("Ổ gà lớn trước nhà số 12, xe máy dễ ngã")
    shot(page, f"resident-report-form-{size}")
    page.get_by_role("button", name="Gửi phản ánh").click()
    code = page.locator("#report-code").inner_text(timeout=20_000)
    assert re.fullmatch(r"PA-[A-Z0-9]{6}", code)
    shot(page, f"resident-report-sent-{size}")
    link = page.locator("#reporter-link").get_attribute("href") or ""
    path = "/r/" + link.split("/r/", 1)[1]

    page.goto(live_server.url + path)
    page.locator("#comment-text").fill("Ổ gà đã to hơn sau cơn mưa tối qua.")
    page.get_by_role("button", name="Gửi bổ sung").click()
    page.get_by_text("Đã gửi thông tin bổ sung đến đơn vị xử lý.").wait_for()

    _resolve(live_server, settings, code)
    page.goto(live_server.url + path)
    page.get_by_text("Đã vá xong ổ gà, mặt đường đã phẳng.").first.wait_for()
    assert page.locator("img[alt*='sau xử lý'], img[alt*='Ảnh sau']").count() >= 1
    _tiles_shown(page)
    shot(page, f"resident-report-resolved-{size}")
    page.locator("input[name=rating][value='4']").check()
    page.get_by_role("button", name="Gửi đánh giá").click()
    page.get_by_text("Cảm ơn Quý công dân đã đánh giá.").wait_for()
    page.locator("#reopen-reason").fill("Mưa xong lại lún, chưa xử lý triệt để.")
    page.get_by_role("button", name="Phản ánh lại").click()
    page.get_by_text("Đã gửi phản ánh lại").wait_for()
    with live_server.db.session_scope() as s:
        report = s.exec(select(Report).where(Report.code == code)).one()
        assert (report.channel, report.status) == ("web", "reopened")
        kinds = [e.kind for e in s.exec(select(ReportEvent).where(ReportEvent.report_id == report.id))]
        assert {"resident_comment", "rated", "reopened"} <= set(kinds), kinds
        assert abs(report.lat - float(dragged[0])) < 1e-6 and abs(report.lon - float(dragged[1])) < 1e-6
    shot(page, f"resident-report-reopened-{size}")
    assert tiles.requests
    assert probe.errors == [], probe.errors


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_city_page_map_filter_and_lookup(probe: PageProbe, browser: Any, live_server: Any, size: str) -> None:
    page = _page(probe, browser, size)
    page.goto(live_server.url + "/")
    page.locator("#city-map[data-ready='1']").wait_for()
    assert page.locator("#city-map").get_attribute("data-count") == "4"
    assert page.locator(".marker-cluster").count() >= 1  # the two nearby road reports cluster
    assert _tiles_shown(page) > 0
    assert "© Bản đồ thử nghiệm" in page.locator(".leaflet-control-attribution").inner_text()
    page.locator("#city-map").scroll_into_view_if_needed()
    shot(page, f"city-home-{size}")
    page.locator("select[name=category]").select_option(label="Rác thải, vệ sinh môi trường")
    page.get_by_role("button", name="Lọc").click()
    page.locator("#city-map[data-ready='1']").wait_for()
    assert page.locator("#city-map").get_attribute("data-count") == "1"
    code = live_server.seed.reports["road"]
    page.locator("#home-lookup").fill(code.lower())
    page.locator("#home-lookup").press("Enter")
    page.wait_for_url(f"**/r/{code}")
    assert probe.errors == [], probe.errors


def test_staff_drag_the_pin_to_correct_the_location(probe: PageProbe, live_server: Any) -> None:
    page = probe.new_page()
    probe.login(page, "ioc")
    code = live_server.seed.reports["road"]
    page.goto(f"{live_server.url}/inbox/r/{code}")
    _tiles_shown(page)
    pin = page.locator("#report-map .leaflet-marker-icon").bounding_box()
    assert pin is not None
    x, y = pin["x"] + pin["width"] / 2, pin["y"] + pin["height"] - 4
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 30, y - 20, steps=8)
    page.mouse.up()
    page.get_by_role("button", name="Lưu vị trí mới").click()
    page.get_by_text("Đã thực hiện: Sửa vị trí.").wait_for()
    shot(page, "staff-relocated")
    with live_server.db.session_scope() as s:
        report = s.exec(select(Report).where(Report.code == code)).one()
        moved = s.exec(select(ReportEvent).where(ReportEvent.report_id == report.id,
                                                 ReportEvent.kind == "location_changed")).one()
        assert report.lat > SOC_TRANG[0] and report.lon < SOC_TRANG[1]  # dragged up-left: north-west
        assert moved.data["from"]["lat"] == SOC_TRANG[0]
    assert probe.errors == [], probe.errors
