"""The channel-agnostic dialogue: drafts in any order, questions only for what is missing, commands."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlmodel import select

from backend.models import Conversation, Photo, Report, ReportEvent
from backend.models.base import utcnow
from backend.services.chat import conversations
from backend.services.chat.intents import Incoming

IN_CITY = (9.603, 105.972)
_ids = itertools.count(1)


class Chat:
    def __init__(self, session, user="zu-1"):
        self.session, self.user = session, user

    def send(self, kind="text", text=None, images=(), lat=None, lon=None, now=None) -> str:
        incoming = Incoming(channel="zalo", user_id=self.user, message_id=f"m{next(_ids)}", kind=kind, text=text,
                            image_urls=list(images), lat=lat, lon=lon)
        replies = conversations.handle(self.session, incoming=incoming, now=now)
        assert replies and all(r.text.strip() for r in replies)
        return "\n".join(r.text for r in replies)

    def text(self, text, **kw):
        return self.send("text", text=text, **kw)

    def photo(self, n=1, **kw):
        return self.send("image", images=[f"https://s120.zdn.vn/img/{next(_ids)}.jpg" for _ in range(n)], **kw)

    def location(self, lat=IN_CITY[0], lon=IN_CITY[1], **kw):
        return self.send("location", lat=lat, lon=lon, **kw)

    def menu_number(self, reply: str, code_name: str) -> str:
        for line in reply.splitlines():
            if code_name in line and line[:1].isdigit():
                return line.split(".", 1)[0]
        raise AssertionError(f"{code_name!r} not in menu:\n{reply}")


@pytest.fixture
def chat(session, demo_city):
    return Chat(session)


def _reports(session):
    return session.exec(select(Report)).all()


def test_photo_then_location_then_category_skip_confirm(chat, session):
    r = chat.photo()
    assert "Đã nhận ảnh" in r and "vị trí" in r
    r = chat.location()
    assert "Đã nhận vị trí" in r and "chọn loại phản ánh" in r
    r = chat.text(chat.menu_number(r, "Hư hỏng mặt đường"))
    assert "mô tả" in r and "bỏ qua" in r
    r = chat.text("bỏ qua")
    assert "kiểm tra lại" in r and "Hư hỏng mặt đường" in r and "Số ảnh: 1" in r and "có" in r
    r = chat.text("Có")
    [report] = _reports(session)
    assert report.code in r and "Thời hạn xử lý dự kiến" in r
    assert report.channel == "zalo" and report.lat == pytest.approx(IN_CITY[0])
    assert len(session.exec(select(Photo).where(Photo.report_id == report.id)).all()) == 1
    conv = session.exec(select(Conversation)).one()
    assert conv.state == "idle" and conv.draft == {"phone_asked": True}  # the draft is gone; the phone question is open


def test_location_first_then_several_photos_any_order(chat, session):
    r = chat.location()
    assert "ảnh" in r or "chọn loại" in r
    chat.photo(2)
    r = chat.photo()
    assert "tổng cộng 3 ảnh" in r
    r = chat.text(chat.menu_number(r, "Đèn chiếu sáng"))
    r = chat.text("Đèn tắt cả tuần")
    assert "Đèn tắt cả tuần" in r
    chat.text("ok")
    [report] = _reports(session)
    assert report.description == "Đèn tắt cả tuần"
    assert len(session.exec(select(Photo).where(Photo.report_id == report.id)).all()) == 3


def test_text_first_suggests_category_from_keywords(chat, session):
    r = chat.text("Phản ánh: có ổ gà rất sâu trước nhà")
    assert "vị trí" in r
    r = chat.location()
    first = next(ln for ln in r.splitlines() if ln[:2] == "1.")
    assert "Hư hỏng mặt đường" in first and "gợi ý" in first
    r = chat.text("1")
    assert "kiểm tra lại" in r  # description already given, not asked again
    chat.text("đồng ý")
    [report] = _reports(session)
    assert report.description == "có ổ gà rất sâu trước nhà"


def test_without_diacritics_and_in_capitals(chat, session):
    chat.text("PHAN ANH")
    chat.location()
    r = chat.text("SO 1")
    assert "mô tả" in r
    r = chat.text("BO QUA")
    r = chat.text("DONG Y")
    [report] = _reports(session)
    assert report.code in r
    r = chat.text(f"TRA CUU {report.code.lower()}")
    assert report.code in r and "Hạn xử lý" in r
    assert report.code in chat.text("CUA TOI")


def test_typed_address_goes_to_triage(chat, session):
    chat.text("phản ánh")
    r = chat.text("123 Lê Lợi, phường Sóc Trăng")
    assert "Đã ghi nhận địa chỉ" in r
    chat.text("1")
    chat.text("bỏ qua")
    chat.text("có")
    [report] = _reports(session)
    assert report.lat is None and report.address == "123 Lê Lợi, phường Sóc Trăng"
    assert report.status == "triage"


def test_cancel_at_any_time(chat, session):
    chat.photo()
    r = chat.text("Hủy")
    assert "Đã hủy" in r
    assert "không có phản ánh nào đang soạn" in chat.text("huy")
    chat.location()
    chat.text("1")
    assert "Đã hủy" in chat.text("HUỶ")
    assert _reports(session) == []


def test_bad_category_number_reasks(chat):
    chat.location()
    r = chat.text("99")
    assert "từ 1 đến" in r and "1." in r


def test_draft_expires_after_30_minutes(chat, session):
    now = utcnow()
    chat.photo(now=now)
    r = chat.text("1", now=now + timedelta(minutes=31))
    assert "30 phút" in r
    assert session.exec(select(Conversation)).one().state == "idle"


def test_emergency_category_gives_hotline(chat, session):
    chat.location()
    r = chat.text("phản ánh")  # not a restart: stays in the draft, re-asks
    r = chat.text(chat.menu_number(r, "khẩn cấp") if "khẩn cấp" in r.lower() else "99")
    assert "114" in r or "113" in r
    assert _reports(session) == []


def test_outside_city_location_is_refused_politely(chat, session):
    r = chat.location(lat=21.03, lon=105.85)
    assert "ngoài địa bàn" in r
    assert session.exec(select(Conversation)).one().draft.get("lat") is None


def test_lookup_unknown_code_and_help(chat):
    assert "Không tìm thấy" in chat.text("tra cứu PA-7K3M9Q")
    assert "mã" in chat.text("tra cứu")
    assert "phản ánh" in chat.text("xin chào")
    assert "phản ánh" in chat.text("??? random")
    assert "chưa xử lý được" in chat.send("other")


def test_message_naming_an_open_report_becomes_a_comment(chat, session):
    chat.location()
    chat.text("1")
    chat.text("bỏ qua")
    chat.text("có")
    [report] = _reports(session)
    r = chat.text(f"{report.code} vẫn chưa ai đến sửa")
    assert "ý kiến bổ sung" in r
    event = session.exec(select(ReportEvent).where(ReportEvent.kind == "resident_comment")).one()
    assert event.data["text"] == "vẫn chưa ai đến sửa"
    other = Chat(session, user="zu-2")
    assert "ý kiến bổ sung" not in other.text(f"{report.code} vẫn chưa ai đến sửa")



def test_a_photo_claimed_meanwhile_refuses_politely_and_leaves_no_half_report(chat, session):
    from sqlalchemy import event, text

    chat.photo()
    r = chat.location()
    chat.text(chat.menu_number(r, "Hư hỏng mặt đường"))
    chat.text("bỏ qua")
    [photo] = session.exec(select(Photo)).all()
    other = Report(code="PA-OTHER1", status="assigned")  # another process's report takes the photo
    session.add(other)
    session.flush()
    conn = session.connection()

    def claim_meanwhile(connection, _cursor, statement, *_args) -> None:
        # just before the report's INSERT (on PostgreSQL the same statement claims the photos, in a CTE)
        if "INSERT INTO reports" in statement and not claim_meanwhile.done:
            claim_meanwhile.done = True
            connection.execute(text("UPDATE photos SET report_id = :r WHERE id = :p"), {"r": other.id, "p": photo.id})

    claim_meanwhile.done = False
    event.listen(conn, "before_cursor_execute", claim_meanwhile)
    try:
        reply = chat.text("có")
    finally:
        event.remove(conn, "before_cursor_execute", claim_meanwhile)
    assert claim_meanwhile.done and "PA-" not in reply           # refused, politely, no code announced
    assert [rep.code for rep in _reports(session)] == ["PA-OTHER1"]  # nothing half-written
    assert session.exec(select(ReportEvent)).all() == []
