"""The staff pages through the Flask test client: sign-in, queue, report page, actions, CSRF, errors."""

from __future__ import annotations

from typing import Any

from sqlmodel import func, select
from web_seed import PASSWORD, by_code, csrf_from, login, token

from backend.models.reports import ReportEvent


def test_pages_need_sign_in(client: Any, city: Any) -> None:
    resp = client.get("/inbox")
    assert resp.status_code == 302
    assert "/auth/login" in resp.headers["Location"]


def test_login_page_is_vietnamese_with_strict_csp(client: Any, city: Any) -> None:
    resp = client.get("/auth/login")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Đăng nhập" in html and 'lang="vi"' in html
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in html and " style=" not in html


def test_session_cookie_is_httponly_and_samesite(app: Any, city: Any) -> None:
    client = app.test_client()
    resp = login(client, "officer")
    cookie = resp.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_wrong_password_is_generic_and_unknown_email_looks_the_same(client: Any, city: Any) -> None:
    bad = login(client, "officer", password="sai-mat-khau-123")
    unknown = login(client, "khong-ton-tai", password="sai-mat-khau-123")
    assert bad.status_code == unknown.status_code == 401
    assert "E-mail hoặc mật khẩu không đúng." in bad.get_data(as_text=True)
    assert "E-mail hoặc mật khẩu không đúng." in unknown.get_data(as_text=True)


def test_failures_slow_this_address_down_but_never_lock_the_account(app: Any, client: Any, city: Any) -> None:
    for _ in range(5):
        assert login(client, "officer", password="sai-mat-khau-123").status_code == 401
    sixth = login(client, "officer", password="sai-mat-khau-123")  # takes the back-off ticket
    assert sixth.status_code == 401
    slowed = login(client, "officer")  # right password, but this address must wait
    assert slowed.status_code == 429 and int(slowed.headers["Retry-After"]) >= 1
    assert "thử lại sau" in slowed.get_data(as_text=True)
    # the officer at another address is not locked out by someone guessing from this one
    elsewhere = app.test_client()
    resp = elsewhere.post("/auth/login", data={"email": "officer@demo.vn", "password": PASSWORD,
                                               "csrf_token": token(elsewhere, "/auth/login")},
                          environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert resp.status_code == 303


def test_login_refuses_post_without_csrf(client: Any, city: Any) -> None:
    resp = client.post("/auth/login", data={"email": "officer@demo.vn", "password": "mat-khau-thu-nghiem-1"})
    assert resp.status_code == 400
    assert "tải lại trang" in resp.get_data(as_text=True)


def test_queue_lists_own_unit_sorted_by_deadline(login_as: Any, city: Any) -> None:
    html = login_as("officer").get("/inbox").get_data(as_text=True)
    assert city.reports["road"] in html and city.reports["road2"] in html
    assert city.reports["rubbish"] not in html  # another unit's report
    assert "Hàng đợi xử lý" in html


def test_queue_search_is_accent_insensitive(login_as: Any, city: Any) -> None:
    client = login_as("officer")
    html = client.get("/inbox?q=tran+hung+dao").get_data(as_text=True)
    assert city.reports["road"] in html
    assert city.reports["road2"] not in html


def test_queue_rejects_bad_filter_politely(login_as: Any, city: Any) -> None:
    resp = login_as("officer").get("/inbox?state=bogus")
    assert resp.status_code == 422
    assert "Trạng thái không hợp lệ" in resp.get_data(as_text=True)


def test_officer_cannot_open_other_units_queue_or_report(login_as: Any, city: Any) -> None:
    client = login_as("officer")
    assert client.get(f"/inbox?unit_id={city.units['ctdt']}").status_code == 403
    assert client.get(f"/inbox/r/{city.reports['rubbish']}").status_code == 403


def test_report_page_shows_timeline_templates_and_nearby(login_as: Any, city: Any) -> None:
    html = login_as("officer").get(f"/inbox/r/{city.reports['road']}").get_data(as_text=True)
    assert "Diễn biến" in html and "Công khai" in html
    assert "Đã vá sửa mặt đường" in html  # the category's reply template
    assert city.reports["road2"] in html  # nearby duplicate candidate
    assert 'id="action-acknowledge"' in html


def test_acknowledge_then_stale_version_gets_conflict(login_as: Any, city: Any, session: Any) -> None:
    code = city.reports["road"]
    one, two = login_as("officer"), login_as("officer2")
    page_one = one.get(f"/inbox/r/{code}").get_data(as_text=True)
    page_two = two.get(f"/inbox/r/{code}").get_data(as_text=True)
    version = by_code(session, code).version
    r1 = one.post(f"/inbox/r/{code}/act", data={"action": "acknowledge", "version": version,
                                                "csrf_token": csrf_from(page_one)})
    assert r1.status_code == 303
    r2 = two.post(f"/inbox/r/{code}/act", data={"action": "note", "version": version, "text": "Ghi chú",
                                                "csrf_token": csrf_from(page_two)})
    assert r2.status_code == 303
    html = two.get(r2.headers["Location"]).get_data(as_text=True)
    assert "vừa được người khác cập nhật" in html
    report = by_code(session, code)
    assert report.status == "acknowledged" and report.version == version + 1


def test_action_without_csrf_is_refused_and_changes_nothing(login_as: Any, city: Any, session: Any) -> None:
    code = city.reports["road"]
    before = by_code(session, code).version
    resp = login_as("officer").post(f"/inbox/r/{code}/act", data={"action": "acknowledge", "version": before})
    assert resp.status_code == 400
    assert by_code(session, code).version == before


def test_viewer_sees_but_cannot_act(login_as: Any, city: Any, session: Any) -> None:
    client = login_as("viewer")
    code = city.reports["road"]
    html = client.get(f"/inbox/r/{code}").get_data(as_text=True)
    assert "Tài khoản chỉ xem" in html and 'id="action-acknowledge"' not in html
    version = by_code(session, code).version
    resp = client.post(f"/inbox/r/{code}/act", data={"action": "acknowledge", "version": version,
                                                     "csrf_token": csrf_from(html)},
                       headers={"Referer": f"http://localhost/inbox/r/{code}"})
    assert resp.status_code == 403  # refused, with the reason and the way back to the report
    page = resp.get_data(as_text=True)
    assert "chỉ xem" in page and f'href="http://localhost/inbox/r/{code}"' in page
    assert by_code(session, code).version == version


def test_contact_view_is_logged(login_as: Any, city: Any, session: Any) -> None:
    client = login_as("officer")
    code = city.reports["road"]
    resp = client.post(f"/inbox/r/{code}/contact", data={"csrf_token": token(client, f"/inbox/r/{code}")})
    assert "+84901234567" in resp.get_data(as_text=True)
    report = by_code(session, code)
    n = session.exec(select(func.count()).select_from(ReportEvent)
                     .where(ReportEvent.report_id == report.id, ReportEvent.kind == "pii_viewed")).one()
    assert n == 1


def test_unknown_report_is_a_friendly_404(login_as: Any, city: Any) -> None:
    resp = login_as("officer").get("/inbox/r/PA-ZZZZZZ")
    assert resp.status_code == 404
    assert "Không tìm thấy phản ánh" in resp.get_data(as_text=True)


def test_password_change_signs_out_other_sessions(login_as: Any, city: Any) -> None:
    one, two = login_as("officer"), login_as("officer")
    resp = one.post("/auth/password", data={"current_password": "mat-khau-thu-nghiem-1",
                                            "new_password": "mat-khau-moi-2026",
                                            "confirm_password": "mat-khau-moi-2026",
                                            "csrf_token": token(one, "/auth/password")})
    assert resp.status_code == 303
    assert one.get("/inbox").status_code == 200
    assert two.get("/inbox").status_code == 302  # the old session no longer works


def test_api_is_not_subject_to_web_csrf(client: Any, city: Any) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert "Content-Security-Policy" not in resp.headers


def test_original_photo_needs_a_click_and_is_logged(login_as: Any, city: Any, session: Any, settings: Any) -> None:
    from backend.services import photos
    from backend.services.photos import storage

    from fixtures.images import jpeg

    code = city.reports["road"]
    report = by_code(session, code)
    data = jpeg(320, 240)
    photo = photos.accept_upload(session, data=data, storage=storage.get_storage(settings),
                                 resident_id=city.resident_id)
    photo.report_id = report.id
    session.add(photo)
    session.flush()
    client = login_as("officer")
    page = client.get(f"/inbox/r/{code}").get_data(as_text=True)
    assert "Xem ảnh gốc (được ghi nhận)" in page
    assert client.get(f"/inbox/r/{code}/photos/{photo.id}/original").status_code == 405  # GET never shows it
    resp = client.post(f"/inbox/r/{code}/photos/{photo.id}/original", data={"csrf_token": csrf_from(page)})
    assert resp.status_code == 200 and resp.get_data() == data
    assert resp.headers["Cache-Control"] == "no-store, private"
    kinds = session.exec(select(ReportEvent.kind).where(ReportEvent.report_id == report.id)).all()
    assert "pii_viewed" in kinds
    viewer = login_as("viewer")
    resp = viewer.post(f"/inbox/r/{code}/photos/{photo.id}/original",
                       data={"csrf_token": token(viewer, f"/inbox/r/{code}")})
    assert resp.status_code == 403  # refused, with the reason
    assert "quyền xem ảnh gốc" in resp.get_data(as_text=True)
