"""End to end through HTTP: signed events → webhook → worker → fake Zalo API receives the replies."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from backend.models import Delivery, InboundMessage, Photo, Report

from fakes import zalo as fz

CITY = (9.603, 105.972)
CODE = re.compile(r"PA-[0-9A-Z]{6}")


@pytest.fixture(autouse=True)
def _city(demo_city):
    return demo_city


def _code(texts: list[str]) -> str:
    found = CODE.findall("\n".join(texts))
    assert found, texts
    return found[0]


def _report(session, code: str) -> Report:
    session.expire_all()
    return session.exec(select(Report).where(Report.code == code)).one()


def _photos(session, report: Report) -> list[Photo]:
    return session.exec(select(Photo).where(Photo.report_id == report.id)).all()


def _finish(chat, user: str) -> str:
    """From the category question to the created report: category 1, no description, confirm."""
    assert "mô tả" in "\n".join(chat(fz.text_event(user, "1")))
    assert "kiểm tra lại" in "\n".join(chat(fz.text_event(user, "bỏ qua")))
    return _code(chat(fz.text_event(user, "có")))


def _assert_routed_with_photos(session, code: str, n_photos: int) -> Report:
    report = _report(session, code)
    assert report.channel == "zalo" and report.unit_id is not None
    assert report.status in ("assigned", "triage")
    photos = _photos(session, report)
    assert len(photos) == n_photos
    assert all(p.state == "ready" and p.source_url for p in photos), [(p.state, p.error) for p in photos]
    return report


def test_photo_then_location(chat, fake_zalo, session):
    url = fake_zalo.add_cdn_image("a.jpg")
    [reply] = chat(fz.image_event("zu1", url))
    assert "Đã nhận ảnh" in reply and "vị trí" in reply
    [reply] = chat(fz.location_event("zu1", *CITY))
    assert "chọn loại phản ánh" in reply
    code = _finish(chat, "zu1")
    report = _assert_routed_with_photos(session, code, 1)
    assert report.status == "assigned"
    assert any(code in t and "Thời hạn xử lý dự kiến" in t for t in fake_zalo.texts("zu1"))


def test_location_then_photo(chat, fake_zalo, session):
    chat(fz.location_event("zu2", *CITY))
    [reply] = chat(fz.image_event("zu2", fake_zalo.add_cdn_image("b.jpg")))
    assert "Đã nhận ảnh" in reply and "chọn loại" in reply
    code = _finish(chat, "zu2")
    _assert_routed_with_photos(session, code, 1)


def test_text_first_then_several_photos(chat, fake_zalo, session):
    [reply] = chat(fz.text_event("zu3", "Phản ánh đèn đường không sáng"))
    assert "vị trí" in reply
    chat(fz.image_event("zu3", fake_zalo.add_cdn_image("c1.jpg"), fake_zalo.add_cdn_image("c2.jpg")))
    chat(fz.image_event("zu3", fake_zalo.add_cdn_image("c3.png", fz.tiny_jpeg((1, 2, 3)))))
    [reply] = chat(fz.location_event("zu3", *CITY))
    first = next(ln for ln in reply.splitlines() if ln.startswith("1."))
    assert "Đèn chiếu sáng" in first
    [reply] = chat(fz.text_event("zu3", "1"))
    assert "Số ảnh: 3" in reply
    code = _code(chat(fz.text_event("zu3", "ok")))
    report = _assert_routed_with_photos(session, code, 3)
    assert report.description == "đèn đường không sáng"


def test_no_diacritics_and_capitals(chat, fake_zalo, session):
    chat(fz.text_event("zu4", "PHAN ANH"))
    chat(fz.location_event("zu4", *CITY))
    chat(fz.text_event("zu4", "1"))
    chat(fz.text_event("zu4", "BO QUA"))
    code = _code(chat(fz.text_event("zu4", "DONG Y")))
    [status] = chat(fz.text_event("zu4", f"TRA CUU {code}"))
    assert code in status and "Hạn xử lý" in status
    [mine] = chat(fz.text_event("zu4", "CUA TOI"))
    assert code in mine
    [cancel] = chat(fz.text_event("zu4", "HUY"))
    assert "không có phản ánh nào đang soạn" in cancel


def test_same_event_twice_gives_one_report_and_one_reply(chat, post_event, run_jobs, fake_zalo, session):
    chat(fz.location_event("zu5", *CITY))
    chat(fz.text_event("zu5", "1"))
    chat(fz.text_event("zu5", "bỏ qua"))
    confirm = fz.text_event("zu5", "có")
    before = len(fake_zalo.texts("zu5"))
    assert post_event(confirm).json["status"] == "accepted"
    assert post_event(confirm).json["status"] == "duplicate"
    run_jobs()
    assert post_event(confirm).json["status"] == "duplicate"
    run_jobs()
    created = [t for t in fake_zalo.texts("zu5")[before:] if t.startswith("Cảm ơn bạn! Phản ánh đã được tiếp nhận")]
    assert len(created) == 1
    assert len(session.exec(select(Report)).all()) == 1


def test_expired_token_mid_conversation_refreshes_once(chat, fake_zalo, session):
    chat(fz.location_event("zu6", *CITY))
    fake_zalo.expire_access_token()
    [reply] = chat(fz.text_event("zu6", "1"))
    assert "mô tả" in reply
    assert len(fake_zalo.calls("/v4/oa/access_token")) == 1
    chat(fz.text_event("zu6", "bỏ qua"))
    assert len(fake_zalo.calls("/v4/oa/access_token")) == 1


def test_retry_after_zalo_outage_does_not_resend(chat, post_event, run_jobs, fake_zalo, db, session):
    from handlers.inbound import process_inbound

    fake_zalo.fail("/v3.0/oa/message/cs", status=503)
    assert post_event(fz.text_event("zu7", "xin chào")).status_code == 200
    run_jobs()  # first attempt fails (503); RQ schedules a retry later
    inbound = session.exec(select(InboundMessage)).one()
    with db.session() as s:  # the retry, as a worker would run it
        process_inbound(s, inbound_id=inbound.id)
        s.commit()
    with db.session() as s:
        process_inbound(s, inbound_id=inbound.id)  # a second retry after success sends nothing
        s.commit()
    assert len(fake_zalo.texts("zu7")) == 1
    delivery = session.exec(select(Delivery).where(Delivery.target == "zu7")).one()
    assert delivery.send_state == "sent" and delivery.attempts == 2


def test_not_follower_is_recorded_undeliverable(chat, fake_zalo, session):
    fake_zalo.non_followers.add("zu8")
    assert chat(fz.text_event("zu8", "xin chào")) == []
    delivery = session.exec(select(Delivery).where(Delivery.target == "zu8")).one()
    assert delivery.send_state == "undeliverable" and delivery.last_error == "not-follower"


def test_follow_gets_welcome_and_unknown_media_gets_help(chat, fake_zalo):
    [welcome] = chat(fz.follow_event("zu9"))
    assert "phản ánh" in welcome
    sticker = fz.event("user_send_sticker", "zu9", {"attachments": [{"type": "sticker",
                                                                     "payload": {"id": "s1", "url": "x"}}]})
    [reply] = chat(sticker)
    assert "chưa xử lý được" in reply


def test_comment_on_open_report(chat, fake_zalo, session):
    chat(fz.location_event("zu10", *CITY))
    code = _finish(chat, "zu10")
    [reply] = chat(fz.text_event("zu10", f"{code} hố càng lúc càng sâu"))
    assert "ý kiến bổ sung" in reply


def test_photo_from_foreign_host_is_not_downloaded(chat, fake_zalo, session, zalo_app):
    chat(fz.image_event("zu11", "http://127.0.0.2:9/evil.jpg"))
    chat(fz.location_event("zu11", *CITY))
    code = _finish(chat, "zu11")
    assert any("không tải được" in t for t in fake_zalo.texts("zu11"))
    assert _photos(session, _report(session, code)) == []
    [photo] = session.exec(select(Photo)).all()
    assert photo.state in ("rejected", "failed") and not photo.original_key


# --------------------------------------------------------------------------- updates back to the resident


def _created(chat, user) -> str:
    chat(fz.location_event(user, *CITY))
    return _finish(chat, user)


def _update(session, run_jobs, report, kind, **kw):
    """A report event recorded like the workflow does; the notification jobs deliver it."""
    from backend.services import events

    event = events.record(session, report, kind, actor=events.Actor.system(), **kw)
    session.commit()
    run_jobs()
    return event


def _zalo_delivery(session, event) -> Delivery:
    session.expire_all()
    return session.exec(select(Delivery).where(Delivery.event_id == event.id, Delivery.channel == "zalo")).one()


def test_updates_are_sent_in_window(chat, fake_zalo, session, run_jobs):
    code = _created(chat, "zu12")
    report = _report(session, code)
    replies = len(fake_zalo.texts("zu12"))
    event = _update(session, run_jobs, report, "status_changed", from_state="assigned", to_state="acknowledged")
    assert _zalo_delivery(session, event).send_state == "sent"
    assert code in fake_zalo.texts("zu12")[-1] and len(fake_zalo.texts("zu12")) == replies + 1
    event = _update(session, run_jobs, report, "status_changed", to_state="rejected",
                    data={"reason": "Không rõ vị trí"})
    assert "Không rõ vị trí" in fake_zalo.texts("zu12")[-1]
    assert _zalo_delivery(session, event).send_state == "sent"


def test_received_notification_is_not_repeated_in_chat(chat, fake_zalo, session):
    code = _created(chat, "zu15")
    received = [t for t in fake_zalo.texts("zu15") if code in t and "tiếp nhận" in t]
    assert len(received) == 1  # the bot's reply, not a second "received" notice
    created = session.exec(select(Delivery).where(Delivery.template == "received", Delivery.channel == "zalo")).one()
    assert created.send_state == "sent"


def test_resolved_update_sends_after_photo(chat, fake_zalo, session, run_jobs, zalo_settings):
    from backend.services import photos
    from backend.services.photos.storage import get_storage

    code = _created(chat, "zu13")
    report = _report(session, code)
    after = photos.accept_upload(session, data=fz.tiny_jpeg((10, 200, 10), (320, 240)),
                                 storage=get_storage(zalo_settings), role="after")
    session.commit()
    run_jobs()
    session.refresh(after)
    after.report_id = report.id
    session.add(after)
    report.public_reply = "Đã vá xong mặt đường."
    _update(session, run_jobs, report, "status_changed", to_state="resolved",
            data={"reply": report.public_reply, "after_photo_ids": [after.id]})
    assert "Đã vá xong mặt đường." in fake_zalo.texts("zu13")[-1]
    assert len(fake_zalo.calls("/v2.0/oa/upload/image")) == 1
    media = fake_zalo.sent("zu13")[-1]["attachment"]["payload"]["elements"][0]
    assert media["media_type"] == "image" and media["attachment_id"].startswith("att-")


def test_dialogue_failure_still_answers_on_the_last_attempt(chat, post_event, run_jobs, fake_zalo, db, session):
    from backend.models import Conversation
    from handlers.inbound import process_inbound

    chat(fz.location_event("zu16", *CITY))
    conv = session.exec(select(Conversation).where(Conversation.external_user_id == "zu16")).one()
    conv.draft = {**conv.draft, "photo_ids": ["not-a-number"], "step": "confirm", "category_code": "khac"}
    session.add(conv)
    session.commit()
    before = len(fake_zalo.texts("zu16"))
    assert post_event(fz.text_event("zu16", "có")).status_code == 200
    run_jobs()  # the job fails; the runner would retry it later
    assert len(fake_zalo.texts("zu16")) == before
    inbound = session.exec(select(InboundMessage).order_by(InboundMessage.id.desc())).first()
    with db.session() as s:  # the last retry (outside a job: treated as the last attempt)
        process_inbound(s, inbound_id=inbound.id)
        s.commit()
    assert "hệ thống đang bận" in fake_zalo.texts("zu16")[-1]
