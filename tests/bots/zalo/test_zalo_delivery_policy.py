"""The resident hears back however long the unit takes: free CS, paid CS, ZNS — against the fake Zalo.

Acceptance of issue 17: 3 days → paid CS; 8 days with a phone → ZNS with the right template and data;
8 days without → nothing sent, the delivery says why, the earlier in-window message carried the link;
-230 → ZNS once; quota errors retry later; nothing is sent twice.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlmodel import select

from backend import queue
from backend.models import Delivery, Unit
from backend.models.base import utcnow

from fakes import zalo as fz
from fixtures.zalo_flow import (
    ZNS_PARAMS,
    create_report,
    last_wrote,
    later_jobs,
    record,
    report,
    resolve,
    zalo_delivery,
)

CS = "/v3.0/oa/message/cs"
REPLY = "Đã vá xong mặt đường."


@pytest.fixture(autouse=True)
def _policy(demo_city, session, fake_zalo):
    """The city's approved ZNS templates: "resolved" with our field names, "acknowledged" with its own."""
    from backend.services.city import settings as city_settings

    city_settings.put(session, "zalo_delivery", {"zns_templates": {
        "resolved": "300001", "acknowledged": {"template_id": "300002", "params": {"ma": "code", "tt": "status"}}}})
    session.commit()
    fake_zalo.approve_zns_template("300001", ZNS_PARAMS)
    fake_zalo.approve_zns_template("300002", {"ma": 30, "tt": 30})


def _cs_calls(fake):
    return len(fake.calls(CS))


def test_three_days_after_the_last_message_resolved_goes_as_a_paid_cs_message(chat, fake_zalo, session, run_jobs):
    code = create_report(chat, "zp1", answer="không")
    last_wrote(session, fake_zalo, "zp1", days=3)
    event = resolve(session, run_jobs, report(session, code), REPLY)
    delivery = zalo_delivery(session, event)
    assert delivery.send_state == "sent" and delivery.tier == "cs_paid"
    [paid] = fake_zalo.billable("zp1")  # Zalo bills it: 48 h - 7 days after the last interaction
    assert REPLY in paid["text"] and code in paid["text"]
    assert fake_zalo.zns_sent() == []


def test_within_48_hours_it_is_free(chat, fake_zalo, session, run_jobs):
    code = create_report(chat, "zp2", answer="không")
    last_wrote(session, fake_zalo, "zp2", days=1.5)
    delivery = zalo_delivery(session, resolve(session, run_jobs, report(session, code), REPLY))
    assert delivery.tier == "cs_free" and delivery.send_state == "sent"
    assert fake_zalo.billable("zp2") == [] and REPLY in fake_zalo.texts("zp2")[-1]


def test_eight_days_with_a_phone_goes_by_zns_with_the_template_and_data(chat, fake_zalo, session, run_jobs):
    code = create_report(chat, "zp3", answer="SĐT: 0912 345 678")
    last_wrote(session, fake_zalo, "zp3", days=8)
    cs_before = _cs_calls(fake_zalo)
    row = report(session, code)
    event = resolve(session, run_jobs, row, REPLY)
    delivery = zalo_delivery(session, event)
    assert delivery.send_state == "sent" and delivery.tier == "zns"
    assert _cs_calls(fake_zalo) == cs_before  # no CS message tried: Zalo would refuse it after 7 days
    [sent] = fake_zalo.zns_sent("84912345678")
    unit = session.get(Unit, row.unit_id)
    event_day = event.at.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%d/%m/%Y")
    assert sent["template_id"] == "300001" and sent["phone"] == "84912345678"
    assert sent["template_data"] == {"code": code, "status": "Đã xử lý", "unit": unit.name_vi[:100],
                                     "content": REPLY, "date": event_day}
    assert sent["tracking_id"] == f"phananh-d{delivery.id}"


def test_a_template_with_its_own_parameter_names(chat, fake_zalo, session, run_jobs):
    code = create_report(chat, "zp4", answer="0987654321")
    last_wrote(session, fake_zalo, "zp4", days=10)
    record(session, run_jobs, report(session, code), "status_changed", from_state="assigned",
           to_state="acknowledged")
    [sent] = fake_zalo.zns_sent("84987654321")
    assert sent["template_id"] == "300002" and sent["template_data"] == {"ma": code, "tt": "Đơn vị đã tiếp nhận"}


def test_eight_days_without_a_phone_nothing_is_sent_and_the_last_message_carried_the_link(
        chat, fake_zalo, session, run_jobs, zalo_settings):
    code = create_report(chat, "zp5")  # never answers the phone question
    row = report(session, code)
    last_wrote(session, fake_zalo, "zp5", days=3)
    record(session, run_jobs, row, "status_changed", from_state="assigned", to_state="acknowledged")
    in_window = fake_zalo.texts("zp5")[-1]  # the last message Zalo let us send (paid CS)
    assert fake_zalo.billable("zp5") and code in in_window
    last_wrote(session, fake_zalo, "zp5", days=8)
    calls_before = len(fake_zalo.requests)
    event = resolve(session, run_jobs, report(session, code), REPLY)
    assert len(fake_zalo.requests) == calls_before  # nothing sent, nothing tried
    delivery = zalo_delivery(session, event)
    assert delivery.send_state == "undeliverable" and delivery.last_error == "outside-window-no-phone"
    assert delivery.tier is None
    link = next(word for word in in_window.split() if f"/r/{code}?t=" in word)
    assert "cập nhật tiếp theo" in in_window and link.startswith(zalo_settings.base_url)
    token = link.split("?t=", 1)[1]
    signed = URLSafeTimedSerializer(zalo_settings.secret_key, salt="phananh.reporter-link.v1").loads(token)
    assert signed == [row.id, row.resident_id]


def test_the_reporter_link_opens_the_reporter_page(chat, fake_zalo, session, run_jobs, zclient, zalo_app):
    code = create_report(chat, "zp6")
    link = next(w for t in fake_zalo.texts("zp6") for w in t.split() if f"/r/{code}?t=" in w)
    page = zclient.get("/" + link.split("://", 1)[1].split("/", 1)[1])
    assert page.status_code == 200 and code in page.get_data(as_text=True)


def test_minus_230_on_a_cs_message_falls_back_to_zns_once(chat, fake_zalo, session, run_jobs, db):
    from handlers.notifications import send_delivery

    code = create_report(chat, "zp7", answer="0912345678")
    last_wrote(session, fake_zalo, "zp7", days=5)  # our clock: paid CS is still allowed...
    fake_zalo.outside_window.add("zp7")  # ...but Zalo says the user has not interacted in 7 days
    event = resolve(session, run_jobs, report(session, code), REPLY)
    delivery = zalo_delivery(session, event)
    refused = [c for c in fake_zalo.calls(CS) if c.json["recipient"]["user_id"] == "zp7" and not c.accepted]
    assert len(refused) == 1 and len(fake_zalo.zns_sent("84912345678")) == 1
    assert delivery.send_state == "sent" and delivery.tier == "zns" and delivery.payload["zns_fallback"] is True
    with db.session() as s:  # the job runs again (a relay, a duplicate push): nothing more is sent
        send_delivery(s, delivery_id=delivery.id)
        s.commit()
    assert len(fake_zalo.zns_sent()) == 1 and len(fake_zalo.calls(CS)) == len(refused) + sum(
        1 for c in fake_zalo.calls(CS) if c.accepted)


def test_a_zns_fallback_hitting_the_night_ban_retries_the_zns_not_the_refused_cs(chat, fake_zalo, session, run_jobs):
    code = create_report(chat, "zp14", answer="0912345671")
    last_wrote(session, fake_zalo, "zp14", days=5)
    fake_zalo.outside_window.add("zp14")  # Zalo refuses CS (-230)...
    fake_zalo.fail("/message/template", error=-133, message="Cannot send this template at night", times=1)
    delivery = zalo_delivery(session, resolve(session, run_jobs, report(session, code), REPLY))
    assert delivery.send_state == "pending" and delivery.payload["zns_fallback"] is True  # ...ZNS waits for 06:01
    refused = [c for c in fake_zalo.calls(CS) if c.json["recipient"]["user_id"] == "zp14" and not c.accepted]
    [job] = later_jobs(session, delivery)
    assert queue.execute(job.id) == "done"  # the morning retry
    session.expire_all()
    delivery = session.get(Delivery, delivery.id)
    assert delivery.send_state == "sent" and delivery.tier == "zns"
    assert len(fake_zalo.zns_sent("84912345671")) == 1
    assert len([c for c in fake_zalo.calls(CS) if c.json["recipient"]["user_id"] == "zp14" and not c.accepted]) \
        == len(refused) == 1  # the refused CS was not tried again


def test_minus_232_without_a_phone_is_undeliverable_with_the_reason(chat, fake_zalo, session, run_jobs):
    code = create_report(chat, "zp8", answer="không")
    last_wrote(session, fake_zalo, "zp8", days=4)
    fake_zalo.fail(CS, error=-232, message="User has not interacted or last interaction expired")
    delivery = zalo_delivery(session, resolve(session, run_jobs, report(session, code), REPLY))
    assert delivery.send_state == "undeliverable" and delivery.last_error == "outside-window-no-phone"
    assert fake_zalo.zns_sent() == []


def test_cs_quota_error_is_retried_later_and_sent_once(chat, fake_zalo, session, run_jobs):
    code = create_report(chat, "zp9", answer="không")
    fake_zalo.fail(CS, error=-211, message="Out of quota")
    before = len(fake_zalo.texts("zp9"))
    started = utcnow()
    delivery = zalo_delivery(session, resolve(session, run_jobs, report(session, code), REPLY))
    assert delivery.send_state == "pending" and delivery.last_error.startswith("out-of-quota: -211")
    [job] = later_jobs(session, delivery)
    # 15 minutes after the refused attempt, which happened between ``started`` and now (a loaded CI box
    # can take a while: the bounds follow the clock instead of assuming the test is instantaneous)
    assert started + timedelta(minutes=15) <= job.available_at <= utcnow() + timedelta(minutes=15)
    assert queue.execute(job.id) == "done"  # the worker runs it 15 minutes later
    assert queue.execute(job.id) == "already-done"
    session.expire_all()
    assert session.get(Delivery, delivery.id).send_state == "sent"
    assert len(fake_zalo.texts("zp9")) == before + 1 and REPLY in fake_zalo.texts("zp9")[-1]


def test_quota_back_off_grows_and_gives_up_after_two_days(chat, fake_zalo, session, run_jobs):
    code = create_report(chat, "zp10", answer="không")
    fake_zalo.fail(CS, error=-211, times=2)
    delivery = zalo_delivery(session, resolve(session, run_jobs, report(session, code), REPLY))
    [first] = later_jobs(session, delivery)
    started = utcnow()
    queue.execute(first.id)
    [second] = later_jobs(session, delivery)
    assert started + timedelta(minutes=30) <= second.available_at <= utcnow() + timedelta(minutes=30)
    delivery = session.get(Delivery, delivery.id)
    delivery.created_at = utcnow() - timedelta(days=3)  # still out of quota two days later
    session.add(delivery)
    session.commit()
    fake_zalo.fail(CS, error=-211)
    queue.execute(second.id)
    session.expire_all()
    delivery = session.get(Delivery, delivery.id)
    assert delivery.send_state == "failed" and "gave up after 2 days" in delivery.last_error
    assert later_jobs(session, delivery) == [] and REPLY not in "".join(fake_zalo.texts("zp10"))


def test_a_long_message_interrupted_by_quota_never_repeats_a_part(chat, fake_zalo, session, run_jobs):
    code = create_report(chat, "zp11", answer="không")
    long_reply = "Đã xử lý xong. " + "Mặt đường được cào bóc, thảm lại lớp bê tông nhựa. " * 50
    fake_zalo.fail(CS, error=-211, after=1)  # the first part goes, the second hits the quota
    before = len(fake_zalo.texts("zp11"))
    delivery = zalo_delivery(session, resolve(session, run_jobs, report(session, code), long_reply))
    assert delivery.payload["parts_sent"] == 1 and len(fake_zalo.texts("zp11")) == before + 1
    [job] = later_jobs(session, delivery)
    queue.execute(job.id)
    parts = fake_zalo.texts("zp11")[before:]
    assert len(parts) == 2 and len(set(parts)) == 2  # each part once
    whole = " ".join(" ".join(parts).split())
    assert whole.count(" ".join(long_reply.split())) == 1 and all(len(p) <= 2000 for p in parts)


def test_zns_quota_is_retried_and_a_bad_template_is_permanent(chat, fake_zalo, session, run_jobs):
    code = create_report(chat, "zp12", answer="0912345679")
    last_wrote(session, fake_zalo, "zp12", days=9)
    fake_zalo.zns_balance = 0
    delivery = zalo_delivery(session, resolve(session, run_jobs, report(session, code), REPLY))
    assert delivery.send_state == "pending" and delivery.last_error.startswith("out-of-quota: -115")
    fake_zalo.zns_balance = None  # the city tops up its ZNS account
    [job] = later_jobs(session, delivery)
    queue.execute(job.id)
    assert len(fake_zalo.zns_sent("84912345679")) == 1
    fake_zalo.zns_templates.pop("300002")  # the acknowledged template was withdrawn at Zalo
    event = record(session, run_jobs, report(session, code), "status_changed", from_state="resolved",
                   to_state="acknowledged")
    bad = zalo_delivery(session, event)
    assert bad.send_state == "failed" and bad.last_error.startswith("zns-rejected") and "-109" in bad.last_error
    assert later_jobs(session, bad) == []


def test_zns_night_ban_waits_for_six_in_the_morning(chat, fake_zalo, session, run_jobs):
    code = create_report(chat, "zp13", answer="0912345670")
    last_wrote(session, fake_zalo, "zp13", days=9)
    fake_zalo.fail("/message/template", error=-133, message="Cannot send this template at night")
    delivery = zalo_delivery(session, resolve(session, run_jobs, report(session, code), REPLY))
    [job] = later_jobs(session, delivery)
    local = job.available_at.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert (local.hour, local.minute) == (6, 1) and job.available_at - utcnow() <= timedelta(hours=24)


def test_a_chat_reply_is_never_sent_by_zns(chat, fake_zalo, session, run_jobs):
    chat(fz.text_event("zp14", "0912345671"))  # phone shared
    fake_zalo.outside_window.add("zp14")
    assert chat(fz.text_event("zp14", "xin chào")) == []
    reply = session.exec(select(Delivery).where(Delivery.target == "zp14").order_by(Delivery.id.desc())).first()
    assert reply.send_state == "undeliverable" and reply.last_error == "outside-interaction-window"
    assert fake_zalo.zns_sent() == []
