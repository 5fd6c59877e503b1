"""The public report page ``/r/<code>``, its JSON feed, the code lookup and the reporter's signed link
(comment, rate, reopen without signing in), with the privacy and bad-input rules of issue 15."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlmodel import func, select
from web_seed import by_code, csrf_from, staff_by_email

from backend.models import Photo, Report, ReportEvent
from backend.models.base import utcnow
from backend.services import photos, reports
from backend.services.events import Actor
from backend.services.photos.storage import get_storage

from fixtures import images as corpus

HOLD_REASON = "Chờ kinh phí nội bộ XYZ-bí-mật"
OWN_WORDS = "Nhà tôi số 45, cứ gọi tôi khi đến"
NOTE = "Ghi chú nội bộ: anh Hùng xử lý, đừng báo dân"


def link(settings: Any, report: Report) -> str:
    url = reports.reporter_link(report, base_url=settings.base_url, secret_key=settings.secret_key)
    return url.split(settings.base_url, 1)[1]


def token_of(path: str) -> str:
    return path.split("?t=", 1)[1]


def staff_act(session: Any, report: Report, action: str, who: str = "officer", **fields: Any) -> None:
    staff = staff_by_email(session, f"{who}@demo.vn")
    reports.apply(session, report, action, actor=Actor.staff(staff), expected_version=report.version, **fields)
    session.flush()


def after_photo(session: Any, settings: Any, staff_id: int) -> int:
    store = get_storage(settings)
    photo = photos.accept_upload(session, data=corpus.jpeg(320, 240), storage=store, staff_id=staff_id, role="after")
    photos.process(session, photo=photo, storage=store)
    return photo.id


def resolve(session: Any, settings: Any, code: str, reply: str = "Đã vá xong ổ gà, mặt đường đã phẳng.") -> Report:
    report = by_code(session, code)
    officer = staff_by_email(session, "officer@demo.vn")
    if report.status == "assigned":
        staff_act(session, report, "acknowledge")
    staff_act(session, report, "resolve", reply=reply, after_photo_ids=[after_photo(session, settings, officer.id)])
    return by_code(session, code)


def snapshot(session: Any, code: str) -> tuple:
    session.expire_all()
    r = session.exec(select(Report).where(Report.code == code)).one()
    events = session.exec(select(func.count()).select_from(ReportEvent).where(ReportEvent.report_id == r.id)).one()
    photos_n = session.exec(select(func.count()).select_from(Photo)).one()
    return (r.status, r.rating, r.rating_text, r.reopen_count, r.version, events, photos_n)


def form_token(client: Any, path: str) -> str:
    return csrf_from(client.get(path).get_data(as_text=True))


# --------------------------------------------------------------------------- the public page


def test_public_page_shows_status_unit_deadline_and_timeline(client, city, session):
    code = city.reports["road"]
    page = client.get(f"/r/{code}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert code in html and "Đã chuyển đơn vị xử lý" in html and "Sở Xây dựng" in html
    assert re.search(r"còn \d+ ngày làm việc|hạn trong hôm nay", html)
    assert "Hạn xử lý" in html and "Quá trình xử lý" in html
    assert page.headers["Cache-Control"] == "public, max-age=60" and "Cookie" not in page.headers.get("Vary", "")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert "<script>" not in html and "Set-Cookie" not in page.headers
    assert 'data-map="point"' in html


def test_unknown_code_is_a_vietnamese_404_page(client, city):
    for path in ("/r/PA-ZZZZZZ", "/r/khong-phai-ma", "/r/" + "A" * 300, "/r/PA-%00"):
        page = client.get(path)
        assert page.status_code == 404, path
        assert "Không tìm thấy" in page.get_data(as_text=True) and page.mimetype == "text/html"


def test_lookup_forgives_case_spaces_and_accents(client, city):
    code = city.reports["road"]
    typed = [f" {code.lower()} ", code.replace("-", " "), code[3:].lower(), code.lower().replace("e", "ê")]
    for text in typed:
        resp = client.get("/r/", query_string={"code": text})
        if "e" in code.lower() or text != typed[-1]:
            assert resp.status_code == 303, text
            assert resp.headers["Location"].endswith(f"/r/{code}")
    assert client.get("/r/", query_string={"code": "PA-000000"}).status_code == 404
    assert client.get("/r/").status_code == 404
    assert client.get(f"/r/{code.lower()}").headers["Location"].endswith(f"/r/{code}")


def test_json_feed_has_the_same_public_data(client, city):
    code = city.reports["road"]
    data = client.get(f"/r/{code}.json").get_json()
    assert data["code"] == code and data["status"] == "assigned" and data["unit"] == "Sở Xây dựng"
    assert data["status_label"] == "Đã chuyển đơn vị xử lý" and data["timeline"]
    assert "id" not in data and "resident_id" not in data
    missing = client.get("/r/PA-ZZZZZZ.json")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"


def test_resolved_page_has_after_photo_reply_and_og_tags(client, city, session, settings):
    code = city.reports["road"]
    resolve(session, settings, code)
    html = client.get(f"/r/{code}").get_data(as_text=True)
    assert "Đã xử lý" in html and "Đã vá xong ổ gà, mặt đường đã phẳng." in html and "Ảnh sau xử lý" in html
    og = dict(re.findall(r'<meta (?:property|name)="((?:og|twitter):[a-z:]+)" content="([^"]*)"', html))
    assert og["og:url"] == f"{settings.base_url}/r/{code}" and code in og["og:title"]
    assert og["og:image"].startswith(settings.base_url + "/media/") and og["twitter:image"] == og["og:image"]
    assert client.get(og["og:image"][len(settings.base_url):]).status_code == 200


# --------------------------------------------------------------------------- privacy


def test_nothing_public_names_or_contacts_the_reporter_or_shows_internal_text(client, city, session, settings):
    code = city.reports["road"]
    report = by_code(session, code)
    staff_act(session, report, "note", text=NOTE)
    reports.apply(session, report, "comment", actor=Actor.resident(city.resident_id), text=OWN_WORDS)
    staff_act(session, report, "acknowledge")
    staff_act(session, report, "hold", reason=HOLD_REASON)
    for path in (f"/r/{code}", f"/r/{code}.json", link(settings, by_code(session, code))):
        body = client.get(path).get_data(as_text=True)
        for secret in ("Lê Thị Cúc", "0901234567", "901234567", "cuc@example.vn", NOTE, HOLD_REASON,
                       "internal_note", "sla_paused", '"resident_id"', *([OWN_WORDS] if "?t=" not in path else [])):
            assert secret not in body, (path, secret)


# --------------------------------------------------------------------------- the reporter's link


def test_reporter_link_comments_rates_and_reopens(client, city, session, settings):
    code = city.reports["road"]
    path = link(settings, by_code(session, code))
    page = client.get(path)
    assert page.headers["Cache-Control"] == "private, no-store" and "Bổ sung thông tin" in page.get_data(as_text=True)
    csrf = csrf_from(page.get_data(as_text=True))
    t = token_of(path)
    sent = client.post(f"/r/{code}/comment", data={"csrf_token": csrf, "t": t, "text": "Ổ gà rộng thêm sau mưa.",
                                                  "photo": (corpus_file(), "o-ga.jpg")},
                       content_type="multipart/form-data")
    assert sent.status_code == 303
    shown = client.get(sent.headers["Location"]).get_data(as_text=True)
    assert "Đã gửi thông tin bổ sung" in shown
    session.expire_all()
    comment = session.exec(select(ReportEvent).where(ReportEvent.kind == "resident_comment")).one()
    assert comment.data["text"] == "Ổ gà rộng thêm sau mưa." and len(comment.data["photo_ids"]) == 1
    assert comment.actor_id == str(city.resident_id)

    resolve(session, settings, code)
    shown = client.get(path).get_data(as_text=True)
    assert "Đánh giá kết quả xử lý" in shown and "Phản ánh lại" in shown
    rated = client.post(f"/r/{code}/rate", data={"csrf_token": csrf, "t": t, "rating": "2", "text": "Vá chưa kỹ"})
    assert rated.status_code == 303 and by_code(session, code).status == "closed"
    assert by_code(session, code).rating == 2
    again = client.post(f"/r/{code}/rate", data={"csrf_token": csrf, "t": t, "rating": "5"})
    assert again.status_code == 303 and by_code(session, code).rating == 2  # double submit: nothing new
    reopened = client.post(f"/r/{code}/reopen", data={"csrf_token": csrf, "t": t, "reason": "Ổ gà lại xuất hiện."})
    assert reopened.status_code == 303
    assert by_code(session, code).status == "reopened" and by_code(session, code).reopen_count == 1
    before = snapshot(session, code)
    client.post(f"/r/{code}/reopen", data={"csrf_token": csrf, "t": t, "reason": "Lần nữa."})
    assert snapshot(session, code) == before


def corpus_file() -> Any:
    import io

    return io.BytesIO(corpus.jpeg(200, 150))


def _forged_tokens(settings: Any, session: Any, city: Any) -> dict[str, str]:
    road, other = by_code(session, city.reports["road"]), by_code(session, city.reports["rubbish"])
    signer = URLSafeTimedSerializer(settings.secret_key, salt="phananh.reporter-link.v1")
    return {
        "other report": token_of(link(settings, other)),
        "forged": URLSafeTimedSerializer("another-key", salt="phananh.reporter-link.v1").dumps(
            [road.id, road.resident_id]),
        "other resident": signer.dumps([road.id, road.resident_id + 999]),
        "garbage": "abc.def.ghi", "empty": "", "huge": "x" * 5000,
    }


@pytest.mark.parametrize("action,fields", [("comment", {"text": "Thêm thông tin"}), ("rate", {"rating": "5"}),
                                           ("reopen", {"reason": "Chưa sửa"})])
def test_bad_tokens_change_nothing(client, city, session, settings, action, fields):
    code = city.reports["road"]
    resolve(session, settings, code) if action != "comment" else None
    csrf = form_token(client, link(settings, by_code(session, code)))
    before = snapshot(session, code)
    for name, t in _forged_tokens(settings, session, city).items():
        resp = client.post(f"/r/{code}/{action}", data={"csrf_token": csrf, "t": t, **fields})
        assert resp.status_code == 403, name
        assert "Đường dẫn này không hợp lệ" in resp.get_data(as_text=True), name
        assert snapshot(session, code) == before, name
    page = client.get(f"/r/{code}?t=abc")
    assert page.status_code == 200 and "Đường dẫn này không hợp lệ" in page.get_data(as_text=True)
    assert "Gửi bổ sung" not in page.get_data(as_text=True)


def test_expired_token_is_refused_and_changes_nothing(client, city, session, settings):
    import time

    from itsdangerous import TimestampSigner

    days = settings.reporter_link_days + 1

    class MadeLongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - days * 86400

    code = city.reports["road"]
    report = by_code(session, code)
    csrf = form_token(client, link(settings, report))
    old = URLSafeTimedSerializer(settings.secret_key, salt="phananh.reporter-link.v1",
                                 signer=MadeLongAgo).dumps([report.id, report.resident_id])
    before = snapshot(session, code)
    resp = client.post(f"/r/{code}/comment", data={"csrf_token": csrf, "t": old, "text": "Muộn"})
    assert resp.status_code == 403 and "đã hết hạn" in resp.get_data(as_text=True)
    assert snapshot(session, code) == before
    page = client.get(f"/r/{code}", query_string={"t": old}).get_data(as_text=True)
    assert "đã hết hạn" in page and "Gửi bổ sung" not in page


def test_bad_input_to_the_reporter_forms(client, city, session, settings):
    code = city.reports["road"]
    path = link(settings, by_code(session, code))
    csrf, t = form_token(client, path), token_of(path)
    before = snapshot(session, code)
    cases = [
        ("comment", {"text": "x" * 5000}, "quá dài"),
        ("comment", {"text": "   "}, "Vui lòng nhập nội dung"),
        ("comment", {"text": "Ảnh", "photo": (__import__("io").BytesIO(b"%PDF-1.4 not an image"), "a.pdf")}, "ảnh"),
        ("rate", {"rating": "6"}, "từ 1 đến 5"), ("rate", {"rating": "0"}, "từ 1 đến 5"),
        ("rate", {"rating": "abc"}, "từ 1 đến 5"), ("rate", {}, "từ 1 đến 5"),
        ("rate", {"rating": "5"}, ""),  # not resolved yet: the workflow refuses
        ("reopen", {"reason": "Chưa sửa"}, ""),  # not resolved: outside the window
    ]
    for action, fields, words in cases:
        resp = client.post(f"/r/{code}/{action}", data={"csrf_token": csrf, "t": t, **fields},
                           content_type="multipart/form-data")
        assert resp.status_code == 303, (action, fields)
        shown = client.get(resp.headers["Location"]).get_data(as_text=True)
        assert 'class="flash flash-error"' in shown and words.lower() in shown.lower(), (action, fields)
        assert snapshot(session, code) == before, (action, fields)
    no_csrf = client.post(f"/r/{code}/comment", data={"t": t, "text": "Không có CSRF"})
    assert no_csrf.status_code == 400 and "Biểu mẫu đã hết hạn" in no_csrf.get_data(as_text=True)
    assert client.post("/r/PA-ZZZZZZ/comment", data={"csrf_token": csrf, "t": t, "text": "x"}).status_code == 404
    assert snapshot(session, code) == before


def test_deadline_passed_reads_qua_han(client, city, session):
    code = city.reports["road"]
    report = by_code(session, code)
    report.resolve_due_at = utcnow() - timedelta(hours=1)
    session.add(report)
    session.flush()
    assert "quá hạn" in client.get(f"/r/{code}").get_data(as_text=True)


def test_reporter_posts_are_rate_limited_per_address(settings, db, runner, city, session):
    from backend.app import create_app

    limited = create_app(settings.model_copy(update={"ratelimit_enabled": True}), database=db, runner=runner)
    client = limited.test_client()
    code = city.reports["road"]
    path = link(settings, by_code(session, code))
    csrf, t = form_token(client, path), token_of(path)
    before = snapshot(session, code)
    answers = [client.post(f"/r/{code}/rate", data={"csrf_token": csrf, "t": t, "rating": "9"}).status_code
               for _ in range(11)]
    assert answers[:10] == [303] * 10 and answers[10] == 429
    last = client.post(f"/r/{code}/comment", data={"csrf_token": csrf, "t": t, "text": "Thêm"})
    assert last.status_code == 429 and "quá nhiều lần" in last.get_data(as_text=True)
    assert snapshot(session, code) == before
