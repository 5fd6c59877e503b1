"""Issue 18's moderation acceptance in Debian's Chromium: an officer redacts a phone number from a description
and blurs regions of a photo by dragging over it — the public copy's pixels change in the regions (compared
with Pillow) while the original's bytes do not; a hidden report disappears from ``/``, ``/r/<code>``, Open311
and the public API. No console error, no CSP violation; screenshots in ``tests/artifacts/``."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat
from playwright.sync_api import expect
from sqlmodel import select
from web_browser import PageProbe, shot

from backend.models.photos import Photo
from backend.models.reports import Report, ReportEvent
from backend.services import photos

from fixtures.images import jpeg

pytestmark = pytest.mark.browser

PLATES = ((100, 80, 300, 200), (440, 320, 560, 400))  # x0, y0, x1, y1 in pixels
PHONE_TEXT = "Ổ gà lớn giữa đường, gọi tôi 0901234567 để chỉ chỗ"


def _street_photo() -> bytes:
    """A 640×480 JPEG with two sharp "number plates" (8 px black-and-white squares) where the officer will drag."""
    im = Image.open(io.BytesIO(jpeg(640, 480, seed=7))).convert("RGB")
    draw = ImageDraw.Draw(im)
    for x0, y0, x1, y1 in PLATES:
        for x in range(x0, x1, 8):
            for y in range(y0, y1, 8):
                draw.rectangle((x, y, x + 7, y + 7), fill=(0, 0, 0) if (x // 8 + y // 8) % 2 else (255, 255, 255))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=92)
    return out.getvalue()


def _photo_on(live: Any, settings: Any, code: str) -> int:
    """A processed photo on the report, whose description carries the reporter's phone number."""
    store = photos.get_storage(settings)
    with live.db.session_scope() as s:
        photo = photos.accept_upload(s, data=_street_photo(), storage=store, resident_id=None)
        photo = photos.process(s, photo=photo, storage=store)
        report = s.exec(select(Report).where(Report.code == code)).one()
        photo.report_id = report.id
        report.description = PHONE_TEXT
        s.add_all([photo, report])
        s.flush()
        return int(photo.id)  # type: ignore[arg-type]


def _stored(live: Any, photo_id: int) -> Photo:
    with live.db.session_scope() as s:
        photo = s.get(Photo, photo_id)
        s.expunge(photo)
        return photo


def _drag(page: Any, img: Any, start: tuple[int, int], end: tuple[int, int], natural_width: int) -> None:
    """Press, move and release the mouse over ``img`` between two points given in image pixels."""
    img.scroll_into_view_if_needed()
    box = img.bounding_box()
    scale = box["width"] / natural_width
    page.mouse.move(box["x"] + start[0] * scale, box["y"] + start[1] * scale)
    page.mouse.down()
    page.mouse.move(box["x"] + end[0] * scale, box["y"] + end[1] * scale, steps=8)
    page.mouse.up()


def _changed(before: Image.Image, after: Image.Image, box: tuple[int, int, int, int]) -> float:
    """The mean absolute difference of the two images' pixels inside ``box`` (0–255)."""
    return max(ImageStat.Stat(ImageChops.difference(before.crop(box), after.crop(box))).mean)


def test_officer_redacts_a_phone_number_and_blurs_two_regions_by_dragging(
        probe: PageProbe, live_server: Any, settings: Any) -> None:
    code = live_server.seed.reports["road"]
    photo_id = _photo_on(live_server, settings, code)
    store = photos.get_storage(settings)
    photo = _stored(live_server, photo_id)
    original = store.get(photo.original_key)
    public_before = Image.open(io.BytesIO(store.get(photo.public_key))).convert("RGB")
    page = probe.new_page()
    probe.login(page, "officer")
    page.goto(f"{live_server.url}/inbox/r/{code}")
    # the text: the number is replaced, the reporter's words are kept privately
    page.locator("#details-edit-text summary").click()
    text = page.get_by_label("Nội dung công khai (xóa số điện thoại, tên, biển số…)")
    text.fill(text.input_value().replace("0901234567", "[đã ẩn]"))
    page.get_by_label("Lý do biên tập (chỉ nội bộ)").fill("Số điện thoại cá nhân")
    page.get_by_role("button", name="Lưu nội dung").click()
    expect(page.locator("#flashes")).to_contain_text("Đã thực hiện: Sửa / che nội dung")
    assert "0901234567" not in page.locator(".description").inner_text()
    with live_server.db.session_scope() as s:
        report = s.exec(select(Report).where(Report.code == code)).one()
        assert report.original_description == PHONE_TEXT and "0901234567" not in (report.description or "")
    # the photo: two rectangles dragged over the public copy
    page.locator(f"#details-blur-{photo_id} summary").click()
    form = page.locator(f"#blur-form-{photo_id}")
    img = form.locator("img[data-blur-image]")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())
    width = img.evaluate("img => img.naturalWidth")
    assert width == public_before.size[0]
    _drag(page, img, (100, 80), (300, 200), width)
    values = [int(form.get_by_label(label).input_value()) for label in ("Từ trái (x)", "Từ trên (y)", "Rộng", "Cao")]
    assert all(abs(got - want) <= 4 for got, want in zip(values, (100, 80, 200, 120), strict=True)), values
    _drag(page, img, (560, 400), (440, 320), width)  # dragged up and left: the same rectangle
    assert form.locator(".blur-box").count() == 2
    assert "Đã khoanh 2 vùng" in form.locator("[data-blur-count]").inner_text()
    assert form.locator("input[name=rect]").count() == 2
    shot(page, "moderation-blur-drag")
    form.get_by_label("Lý do (chỉ nội bộ)").fill("Biển số xe và khuôn mặt")
    form.get_by_role("button", name="Che vùng đã chọn").click()
    expect(page.locator("#flashes")).to_contain_text("Đã che 2 vùng trên ảnh công khai; ảnh gốc giữ nguyên.")
    after = _stored(live_server, photo_id)
    public_after = Image.open(io.BytesIO(store.get(after.public_key))).convert("RGB")
    assert store.get(after.original_key) == original  # the original, byte for byte
    assert _changed(public_before, public_after, (110, 90, 290, 190)) > 40  # inside the first rectangle
    assert _changed(public_before, public_after, (450, 330, 550, 390)) > 40  # inside the second
    assert _changed(public_before, public_after, (10, 300, 200, 470)) < 2  # elsewhere: re-encoding noise only
    assert after.thumb_keys != photo.thumb_keys and after.public_key != photo.public_key
    with live_server.db.session_scope() as s:
        event = s.exec(select(ReportEvent).where(ReportEvent.kind == "photo_redacted")).one()
        assert len(event.data["rects"]) == 2 and event.data["reason"] == "Biển số xe và khuôn mặt"
    # the page now shows the blurred copy; the public report page never shows the number
    assert after.public_key in (page.locator(f"#blur-form-{photo_id} img").get_attribute("src") or "")
    shot(page, "moderation-after")
    public = page.request.get(f"{live_server.url}/r/{code}").text()
    assert "0901234567" not in public and "[đã ẩn]" in public
    assert probe.errors == [], probe.errors


def test_keyboard_alternative_the_numeric_fields_blur_one_region(probe: PageProbe, live_server: Any,
                                                                  settings: Any) -> None:
    code = live_server.seed.reports["road"]
    photo_id = _photo_on(live_server, settings, code)
    page = probe.new_page()
    probe.login(page, "officer")
    page.goto(f"{live_server.url}/inbox/r/{code}")
    page.locator(f"#details-blur-{photo_id} summary").focus()
    page.keyboard.press("Enter")
    form = page.locator(f"#blur-form-{photo_id}")
    form.get_by_label("Từ trái (x)").focus()
    for value in ("20", "30", "120", "90"):  # x, y, w, h typed, Tab between them
        page.keyboard.type(value)
        page.keyboard.press("Tab")
    assert form.locator(".blur-box").count() == 1  # typing draws the rectangle too
    page.keyboard.type("Khuôn mặt người đi đường")
    with page.expect_navigation():  # Enter submits the form; the flash is on the page it lands on
        page.keyboard.press("Enter")
    expect(page.locator("#flashes")).to_contain_text("Đã che 1 vùng")
    with live_server.db.session_scope() as s:
        event = s.exec(select(ReportEvent).where(ReportEvent.kind == "photo_redacted")).one()
        assert event.data["rects"] == [[20, 30, 120, 90]]  # x, y, width, height as typed
    assert probe.errors == [], probe.errors


def test_a_hidden_report_disappears_from_the_city_page_its_page_open311_and_the_api(
        probe: PageProbe, live_server: Any, browser: Any) -> None:
    code = live_server.seed.reports["rubbish"]
    base = live_server.url
    page = probe.new_page()
    page.goto(base + "/")
    assert code in page.content()
    assert page.request.get(f"{base}/r/{code}").status == 200
    assert code in page.request.get(f"{base}/open311/v2/requests.json").text()
    assert page.request.get(f"{base}/api/v1/reports/{code}").status == 200
    probe.login(page, "ioc")
    page.goto(f"{base}/inbox/r/{code}")
    page.locator("#details-hide summary").click()
    page.get_by_label("Lý do (chỉ nội bộ)").fill("Nội dung xúc phạm")
    page.locator("#form-hide").get_by_role("button", name="Ẩn khỏi trang công khai").click()
    expect(page.locator("#flashes")).to_contain_text("Đã thực hiện: Ẩn khỏi trang công khai")
    assert page.locator("#hidden-banner").is_visible()
    shot(page, "moderation-hidden")
    # a visitor opening the city page now (the page that browser already holds may be up to a minute old:
    # public pages carry Cache-Control: public, max-age=60)
    visitor = PageProbe(browser, base)
    try:
        public = visitor.new_page()
        public.goto(base + "/")
        assert public.locator("body").inner_text() and code not in public.content()
        assert visitor.errors == [], visitor.errors
    finally:
        visitor.close()
    assert page.request.get(f"{base}/r/{code}").status == 404  # fetched, not navigated: a 404 logs a console line
    assert code not in page.request.get(f"{base}/open311/v2/requests.json").text()
    assert page.request.get(f"{base}/open311/v2/requests/{code}.json").status == 404
    assert page.request.get(f"{base}/api/v1/reports/{code}").status == 404
    assert code not in page.request.get(f"{base}/map.json").text()
    assert probe.errors == [], probe.errors
