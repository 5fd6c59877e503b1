"""A whole report lifecycle produces exactly the expected deliveries; Redis down loses none."""

from __future__ import annotations

import pytest
from redis import Redis
from sqlmodel import select

from backend import relay
from backend.models import Delivery, Device, Follower, Photo, Resident, SendState, Staff, Unit
from backend.services.city import settings as city
from backend.services.events import Actor
from backend.services.reports import intake, workflow


@pytest.fixture
def settings(push_settings):
    return push_settings


@pytest.fixture
def people(app, session, demo_city):
    reporter, follower = Resident(locale="vi"), Resident(locale="en")
    session.add_all([reporter, follower])
    session.flush()
    session.add_all([Device(resident_id=reporter.id, token="phone-r"),
                     Device(resident_id=follower.id, token="phone-f", locale="en")])
    unit = session.exec(select(Unit).where(Unit.code == "so-xd")).one()
    officer = Staff(email="canbo@x.vn", role="officer", unit_id=unit.id, name="Cán bộ")
    session.add(officer)
    city.put(session, "quiet_hours", [])
    session.commit()
    return {"reporter": reporter, "follower": follower, "officer": officer, "unit": unit}


def lifecycle(session, people):
    me = Actor.resident(people["reporter"].id)
    staff = Actor.staff(people["officer"])
    report = intake.create_report(session, channel="app", actor=me, category_code="duong-hu-hong",
                                  description="Ổ gà sâu trước trường học", lat=9.603, lon=105.975,
                                  resident_id=people["reporter"].id)
    assert report.unit_id == people["unit"].id
    session.add(Follower(resident_id=people["follower"].id, report_id=report.id))
    session.commit()
    workflow.apply(session, report, "acknowledge", actor=staff, expected_version=report.version)
    workflow.apply(session, report, "reply", actor=staff, text="Đơn vị sẽ cử người kiểm tra trong ngày.",
                   expected_version=report.version)
    workflow.apply(session, report, "comment", actor=me, text="Ổ gà ngày càng rộng hơn.")
    after = Photo(staff_id=people["officer"].id, role="after", state="ready", public_key="after.webp")
    session.add(after)
    session.flush()
    workflow.apply(session, report, "resolve", actor=staff, reply="Đã vá ổ gà bằng bê tông nhựa.",
                   after_photo_ids=[after.id], expected_version=report.version)
    workflow.apply(session, report, "reopen", actor=me, reason="Mặt đường lại bị lún.")
    session.commit()
    return report


def deliveries(session):
    return sorted((d.recipient_kind, d.recipient_id, d.channel, d.template)
                  for d in session.exec(select(Delivery)))


def expected(people):
    r, f, u = people["reporter"].id, people["follower"].id, people["unit"].id
    both = lambda who, template: [("resident", who, "fcm", template), ("resident", who, "feed", template)]  # noqa: E731
    return sorted([
        *both(r, "received"),
        ("unit", u, "feed", "new_in_queue"),
        *both(r, "acknowledged"),
        *both(r, "reply"),
        ("unit", u, "feed", "comment"),
        *both(r, "resolved"), *both(f, "resolved"),
        ("unit", u, "feed", "reopened"),
    ])


def test_lifecycle_delivers_exactly_the_expected_set(people, session, fake_google, run_jobs):
    report = lifecycle(session, people)
    run_jobs()
    assert deliveries(session) == expected(people)
    fcm = session.exec(select(Delivery).where(Delivery.channel == "fcm")).all()
    assert {d.send_state for d in fcm} == {SendState.SENT}
    pushed = [(m["token"], m["data"]["template"]) for m in fake_google.sent_messages()]
    assert sorted(pushed) == sorted([("phone-r", t) for t in ("received", "acknowledged", "reply", "resolved")]
                                    + [("phone-f", "resolved")])
    resolved = next(m for m in fake_google.sent_messages() if m["data"]["template"] == "resolved"
                    and m["token"] == "phone-r")
    assert "Đã vá ổ gà bằng bê tông nhựa." in resolved["notification"]["body"]
    assert resolved["notification"]["image"].endswith("/media/after.webp")
    assert resolved["data"]["code"] == report.code


def test_redis_down_while_events_happen_loses_no_notification(people, session, runner, fake_google, run_jobs):
    alive = runner.connection
    runner.connection = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    runner._queues.clear()
    lifecycle(session, people)
    assert deliveries(session) == []  # nothing could be dispatched: the jobs wait in the outbox
    assert relay.pending_outbox() > 0

    runner.connection = alive  # Redis is back
    runner._queues.clear()
    relay.relay_outbox(min_age_s=0)
    run_jobs()
    assert deliveries(session) == expected(people)
    assert relay.pending_outbox() == 0
    assert len(fake_google.fcm_calls) == 5
