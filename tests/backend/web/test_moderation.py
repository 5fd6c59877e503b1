"""Moderation (issue 18): staff redact a report's text (the original kept privately, an event with who and
why), blur a region of a photo's public copy (the original untouched, pixels compared), and hide a report
from every public channel with a reason (Open311, the public API, exports) — through the workflow service
with its role × unit checks. Bad input: a clear Vietnamese message and nothing changed."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image, ImageChops
from sqlmodel import select
from web_seed import by_code, token

from backend.models.photos import Photo
from backend.models.reports import ReportEvent
from backend.services import photos
from backend.services.photos import storage as storage_mod

from fixtures.images import jpeg

PHONE_TEXT = "Ổ gà lớn, gọi tôi 0901234567 để chỉ chỗ"
REDACTED = "Ổ gà lớn, gọi tôi [đã ẩn] để chỉ chỗ"


def _act(client: Any, session: Any, code: str, action: str, **fields: str) -> Any:
    report = by_code(session, code)
    return client.post(f"/inbox/r/{code}/act", data={"csrf_token": token(client, f"/inbox/r/{code}"),
                                                    "action": action, "version": report.version, **fields})


def test_officer_redacts_a_phone_number_and_the_original_is_kept_privately(login_as: Any, city: Any, session: Any,
                                                                           client: Any) -> None:
    code = city.reports["road"]
    road = by_code(session, code)
    road.description = PHONE_TEXT
    session.add(road)
    session.flush()
    officer = login_as("officer")
    resp = _act(officer, session, code, "edit_text", description=REDACTED, reason="Số điện thoại cá nhân")
    assert resp.status_code == 303
    road = by_code(session, code)
    assert road.description == REDACTED and road.original_description == PHONE_TEXT
    event = session.exec(select(ReportEvent).where(ReportEvent.report_id == road.id,
                                                   ReportEvent.kind == "text_edited")).one()
    assert not event.is_public and event.actor_id == str(city.staff["officer"])
    assert event.data["reason"] == "Số điện thoại cá nhân"
    public = client.get(f"/api/v1/reports/{code}").get_data(as_text=True)
    assert "0901234567" not in public and "[đã ẩn]" in public
    o311 = client.get(f"/open311/v2/requests/{code}.json").get_data(as_text=True)
    assert "0901234567" not in o311
    page = officer.get(f"/inbox/r/{code}").get_data(as_text=True)
    assert "Sửa nội dung phản ánh" in page and "Số điện thoại cá nhân" in page


@pytest.mark.parametrize("fields,message", [
    ({"description": REDACTED, "reason": ""}, "Vui lòng cung cấp: lý do."),
    ({"description": "   ", "reason": "Che số"}, "Vui lòng cung cấp: nội dung phản ánh."),
])
def test_bad_edit_is_refused_in_vietnamese_and_changes_nothing(login_as: Any, city: Any, session: Any,
                                                               fields: dict[str, str], message: str) -> None:
    code = city.reports["road"]
    before = by_code(session, code)
    text, version = before.description, before.version
    officer = login_as("officer")
    resp = _act(officer, session, code, "edit_text", **fields)
    html = officer.get(resp.headers["Location"]).get_data(as_text=True) if resp.status_code == 303 else \
        resp.get_data(as_text=True)
    assert message in html
    after = by_code(session, code)
    assert (after.description, after.version, after.original_description) == (text, version, None)


def test_another_units_officer_cannot_moderate(login_as: Any, city: Any, session: Any) -> None:
    code = city.reports["road"]  # Sở Xây dựng's
    resp = _act(login_as("other"), session, code, "hide", reason="Không phù hợp")
    assert resp.status_code == 403
    assert by_code(session, code).hidden_at is None


def _photo_of(session: Any, settings: Any, code: str) -> Photo:
    store = storage_mod.get_storage(settings)
    photo = photos.accept_upload(session, data=jpeg(640, 480, seed=7), storage=store, resident_id=None)
    photo = photos.process(session, photo=photo, storage=store)
    photo.report_id = by_code(session, code).id
    session.add(photo)
    session.flush()
    return photo


def test_blurring_changes_the_public_copy_in_the_region_only_and_never_the_original(
        login_as: Any, city: Any, session: Any, settings: Any) -> None:
    code = city.reports["road"]
    photo = _photo_of(session, settings, code)
    store = storage_mod.get_storage(settings)
    original = store.get(photo.original_key)
    public_before = Image.open(io.BytesIO(store.get(photo.public_key))).convert("RGB")
    thumbs_before = dict(photo.thumb_keys)
    officer = login_as("officer")
    resp = officer.post(f"/inbox/r/{code}/photos/{photo.id}/blur", data={
        "csrf_token": token(officer, f"/inbox/r/{code}"), "x": "100", "y": "80", "w": "200", "h": "120",
        "reason": "Biển số xe"})
    assert resp.status_code == 303
    session.refresh(photo)
    public_after = Image.open(io.BytesIO(store.get(photo.public_key))).convert("RGB")
    assert store.get(photo.original_key) == original  # the original: byte for byte
    inside = ImageChops.difference(public_before.crop((110, 90, 290, 190)), public_after.crop((110, 90, 290, 190)))
    outside = ImageChops.difference(public_before.crop((400, 300, 600, 460)), public_after.crop((400, 300, 600, 460)))
    assert max(inside.getextrema(), key=lambda e: e[1])[1] > 40  # the region changed visibly
    assert max(outside.getextrema(), key=lambda e: e[1])[1] < 25  # elsewhere only re-encoding noise
    assert photo.thumb_keys != thumbs_before  # thumbnails regenerated from the blurred copy
    event = session.exec(select(ReportEvent).where(ReportEvent.kind == "photo_redacted")).one()
    assert event.data["reason"] == "Biển số xe" and event.actor_id == str(city.staff["officer"])


@pytest.mark.parametrize("rect", [("-5", "0", "10", "10"), ("abc", "0", "10", "10"), ("5000", "5000", "10", "10"),
                                  ("0", "0", "0", "0")])
def test_a_bad_blur_rectangle_is_refused_and_changes_nothing(login_as: Any, city: Any, session: Any,
                                                             settings: Any, rect: tuple[str, ...]) -> None:
    code = city.reports["road"]
    photo = _photo_of(session, settings, code)
    key = photo.public_key
    officer = login_as("officer")
    resp = officer.post(f"/inbox/r/{code}/photos/{photo.id}/blur", data={
        "csrf_token": token(officer, f"/inbox/r/{code}"), **dict(zip("xywh", rect, strict=True)), "reason": "Che"},
        follow_redirects=True)
    assert resp.status_code in (200, 422)
    assert "Vùng cần che" in resp.get_data(as_text=True)
    session.refresh(photo)
    assert photo.public_key == key and photo.redacted_at is None


def test_a_hidden_report_disappears_from_open311_the_api_and_exports(login_as: Any, city: Any, session: Any,
                                                                     client: Any) -> None:
    code = city.reports["rubbish"]
    assert code in client.get("/open311/v2/requests.json").get_data(as_text=True)
    assert code in client.get("/").get_data(as_text=True) and code in client.get("/map.json").get_data(as_text=True)
    assert client.get(f"/r/{code}").status_code == 200
    admin = login_as("admin")
    assert code in admin.get("/exports/reports.csv").get_data(as_text=True)
    resp = _act(login_as("ioc"), session, code, "hide", reason="Nội dung xúc phạm")
    assert resp.status_code == 303
    assert by_code(session, code).hidden_at is not None
    assert code not in client.get("/open311/v2/requests.json").get_data(as_text=True)
    assert client.get(f"/open311/v2/requests/{code}.json").status_code == 404
    assert client.get(f"/api/v1/reports/{code}").status_code == 404
    assert code not in client.get("/api/v1/reports").get_data(as_text=True)
    assert code not in client.get("/api/v1/reports/nearby?lat=9.63135&lon=105.9334").get_data(as_text=True)
    assert code not in admin.get("/exports/reports.csv").get_data(as_text=True)
    # the public web pages: not on the city page or its map feed, and its own page answers 404
    assert code not in client.get("/").get_data(as_text=True)
    assert code not in client.get("/map.json").get_data(as_text=True)
    assert client.get(f"/r/{code}").status_code == 404 and client.get(f"/r/{code}.json").status_code == 404
    # staff still see it, with a banner; unhide brings it back
    page = admin.get(f"/inbox/r/{code}").get_data(as_text=True)
    assert 'id="hidden-banner"' in page and "Nội dung xúc phạm" in page
    assert _act(admin, session, code, "unhide", reason="Đã xem lại").status_code == 303
    assert client.get(f"/api/v1/reports/{code}").status_code == 200
    report_id = by_code(session, code).id
    kinds = [e.kind for e in session.exec(select(ReportEvent).where(ReportEvent.report_id == report_id))]
    assert "hidden" in kinds and "unhidden" in kinds


def test_hiding_twice_is_a_clear_message(login_as: Any, city: Any, session: Any) -> None:
    code = city.reports["rubbish"]
    ioc = login_as("ioc")
    _act(ioc, session, code, "hide", reason="Trùng lặp spam")
    resp = _act(ioc, session, code, "hide", reason="Lại")
    html = ioc.get(resp.headers["Location"]).get_data(as_text=True) if resp.status_code == 303 else \
        resp.get_data(as_text=True)
    assert "Phản ánh này đã được ẩn." in html


@pytest.mark.parametrize("rects,message", [
    (["10,10,50"], "Vùng cần che phải là"), (["10,10,50,²"], "Vùng cần che phải là"),
    (["10,10,50,50", "5000,5000,10,10"], "Vùng cần che không hợp lệ"),
    (["10,10,20,20"] * 21, "Chọn từ 1 đến 20 vùng"),
])
def test_bad_dragged_rectangles_are_refused_and_change_nothing(login_as: Any, city: Any, session: Any,
                                                              settings: Any, rects: list[str], message: str) -> None:
    code = city.reports["road"]
    photo = _photo_of(session, settings, code)
    key = photo.public_key
    officer = login_as("officer")
    resp = officer.post(f"/inbox/r/{code}/photos/{photo.id}/blur", data={
        "csrf_token": token(officer, f"/inbox/r/{code}"), "rect": rects, "reason": "Che"}, follow_redirects=True)
    assert resp.status_code in (200, 422) and message in resp.get_data(as_text=True)
    session.refresh(photo)
    assert photo.public_key == key and photo.redacted_at is None
    assert session.exec(select(ReportEvent).where(ReportEvent.kind == "photo_redacted")).first() is None
