"""The phone number for late updates, asked with consent; anonymous users; the welcome message."""

from __future__ import annotations

import pytest
from sqlmodel import select

from backend.models import Delivery, Identity, Report, Resident

from fakes import zalo as fz
from fixtures.zalo_flow import CITY, code_in


@pytest.fixture(autouse=True)
def _city(demo_city):
    return demo_city


def _identity(session, user: str) -> Identity:
    session.expire_all()
    return session.exec(select(Identity).where(Identity.provider == "zalo", Identity.subject == user)).one()


def _created(chat, user: str) -> list[str]:
    chat(fz.location_event(user, *CITY))
    chat(fz.text_event(user, "1"))
    chat(fz.text_event(user, "bỏ qua"))
    return chat(fz.text_event(user, "có"))


def test_after_a_report_the_bot_asks_for_the_phone_with_zalos_card(chat, fake_zalo, zclient):
    created, question = _created(chat, "zc1")
    code = code_in([created])
    assert "Thời hạn xử lý dự kiến" in created and f"/r/{code}?t=" in created  # the reporter's link
    assert "chia sẻ số điện thoại" in question and "ZNS" in question and "không hiển thị công khai" in question
    card = fake_zalo.sent("zc1")[-1]["attachment"]["payload"]
    assert card["template_type"] == "request_user_info" and len(card["elements"]) == 1
    image = zclient.get("/" + card["elements"][0]["image_url"].split("://", 1)[1].split("/", 1)[1])
    assert image.status_code == 200 and image.mimetype == "image/png" and image.data[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("newer_form", [False, True])
def test_shared_info_stores_the_phone_on_the_identity(chat, fake_zalo, session, post_event, run_jobs, newer_form):
    _created(chat, "zc2")
    before = len(fake_zalo.texts("zc2"))
    event = fz.submit_info_event("zc2", phone="84912345678", newer_form=newer_form)
    assert post_event(event).json["status"] == "accepted"
    run_jobs()
    [reply] = fake_zalo.texts("zc2")[before:]
    identity = _identity(session, "zc2")
    assert identity.phone == "84912345678" and identity.phone_consented_at is not None
    assert "0912 *** 678" in reply and "84912345678" not in reply


def test_shared_info_without_a_phone_stores_nothing(chat, session):
    _created(chat, "zc3")
    [reply] = chat(fz.submit_info_event("zc3", phone=None))
    assert "chưa nhận được số điện thoại" in reply
    assert _identity(session, "zc3").phone is None


@pytest.mark.parametrize("typed", ["0912 345 678", "SĐT: +84 912.345.678", "so dien thoai 0912-345-678",
                                   "(+84) 912345678", "Số điện thoại của tôi là 0912345678"])
def test_a_typed_number_works_accents_and_spaces_aside(chat, session, typed):
    _created(chat, "zc4")
    [reply] = chat(fz.text_event("zc4", typed))
    assert _identity(session, "zc4").phone == "84912345678" and "0912 *** 678" in reply


@pytest.mark.parametrize("typed", ["0123 456", "0212345678", "gọi 0912345678 nhé", "0912345678 0987654321"])
def test_not_a_mobile_number_is_not_stored(chat, session, typed):
    _created(chat, "zc5")
    chat(fz.text_event("zc5", typed))
    assert _identity(session, "zc5").phone is None


def test_no_means_no_and_the_number_can_be_withdrawn(chat, fake_zalo, session):
    _created(chat, "zc6")
    [reply] = chat(fz.text_event("zc6", "Không"))
    assert "không hỏi số điện thoại" in reply
    texts = _created(chat, "zc6")  # a second report: not asked again
    assert len(texts) == 1 and "request_user_info" not in str(fake_zalo.sent("zc6")[-1])
    chat(fz.text_event("zc6", "0987 654 321"))  # changed their mind
    assert _identity(session, "zc6").phone == "84987654321"
    [reply] = chat(fz.text_event("zc6", "Xóa số điện thoại"))
    assert "Đã xóa số điện thoại" in reply and _identity(session, "zc6").phone is None


def test_a_number_typed_while_writing_a_report_stays_in_the_report(chat, session):
    chat(fz.location_event("zc7", *CITY))
    chat(fz.text_event("zc7", "1"))
    [reply] = chat(fz.text_event("zc7", "0912345678"))  # the description step: their words, not consent
    assert "kiểm tra lại" in reply and _identity(session, "zc7").phone is None


def test_an_anonymous_user_gets_a_polite_note_and_no_report(chat, fake_zalo, session, post_event, run_jobs):
    event = fz.anonymous_text_event("anon-1", "Đường ngập quá", conversation_id="conv-77")
    assert post_event(event).json["status"] == "accepted"
    run_jobs()
    [sent] = fake_zalo.anonymous_sent()
    assert sent["recipient"] == {"anonymous_id": "anon-1", "conversation_id": "conv-77"}
    assert "Quan tâm" in sent["message"]["text"] and "113" in sent["message"]["text"]
    assert session.exec(select(Identity)).all() == [] and session.exec(select(Resident)).all() == []
    assert session.exec(select(Report)).all() == []
    post_event(fz.anonymous_text_event("anon-1", "alo", conversation_id="conv-77"))
    run_jobs()
    assert len(fake_zalo.anonymous_sent()) == 1  # one note per 12 hours, not one per message
    delivery = session.exec(select(Delivery).where(Delivery.template == "anonymous_reply")).one()
    assert delivery.send_state == "sent" and delivery.recipient_kind == "anonymous"


def test_the_welcome_message_starts_its_list_on_a_new_line(chat):
    [welcome] = chat(fz.follow_event("zc8"))
    first, second = welcome.splitlines()[:2]
    assert first == "Cảm ơn bạn đã quan tâm!" and second.startswith("• Gửi ảnh")
