"""Notifications through the real firebase-admin FCM path against a loopback fake Google."""

from __future__ import annotations

from datetime import timedelta

import pytest
import urllib3
from sqlalchemy import update
from sqlmodel import select

from backend import queue
from backend.models import (
    ActorKind,
    Delivery,
    Device,
    EventKind,
    Follower,
    Identity,
    Outbox,
    Report,
    Resident,
    SendState,
    State,
    Unit,
)
from backend.models.base import utcnow
from backend.services import events
from backend.services.city import settings as city
from backend.services.events import Actor
from backend.services.notify import deliveries


@pytest.fixture
def settings(push_settings):
    return push_settings


@pytest.fixture
def no_backoff(monkeypatch):
    monkeypatch.setattr(urllib3.util.retry.Retry, "get_backoff_time", lambda self: 0)


@pytest.fixture
def world(app, session):
    """A unit, a reporter with two phones, a follower with one phone, and an open report."""
    unit = Unit(code="u1", name_vi="Sở Xây dựng", name_en="Department of Construction")
    reporter, follower = Resident(locale="vi"), Resident(locale="en")
    session.add_all([unit, reporter, follower])
    session.flush()
    session.add_all([
        Device(resident_id=reporter.id, token="dev-a"), Device(resident_id=reporter.id, token="dev-dead"),
        Device(resident_id=follower.id, token="dev-f", locale="en"),
    ])
    report = Report(code="PA-TEST01", unit_id=unit.id, resident_id=reporter.id, status=State.IN_PROGRESS,
                    description="Ổ gà", public_reply="Đã vá ổ gà.")
    session.add(report)
    session.flush()
    session.add(Follower(resident_id=follower.id, report_id=report.id))
    city.put(session, "quiet_hours", [])  # deterministic whatever the time of day
    session.commit()
    return {"unit": unit, "reporter": reporter, "follower": follower, "report": report}


def resolve(session, report):
    staff = Actor(ActorKind.STAFF, "1", role="officer", unit_id=report.unit_id, name="Cán bộ")
    report.status = State.RESOLVED
    ev = events.record(session, report, EventKind.STATUS_CHANGED, actor=staff, from_state="in_progress",
                       to_state="resolved", data={"reply": report.public_reply})
    session.commit()
    return ev


def test_resolution_pushes_to_reporter_and_followers_and_prunes_dead_devices(world, session, fake_google,
                                                                              run_jobs, no_backoff):
    fake_google.unregister("dev-dead")
    resolve(session, world["report"])
    run_jobs()
    pushed = sorted(m["token"] for m in fake_google.sent_messages())
    assert pushed == ["dev-a", "dev-dead", "dev-f"]
    by_token = {m["token"]: m for m in fake_google.sent_messages()}
    assert by_token["dev-a"]["notification"]["title"] == "Phản ánh PA-TEST01 đã được xử lý"
    assert by_token["dev-f"]["notification"]["title"] == "Report PA-TEST01 resolved"
    assert by_token["dev-a"]["data"]["code"] == "PA-TEST01"
    dead = session.exec(select(Device).where(Device.token == "dev-dead")).one()
    assert not dead.is_active and "Unregistered" in dead.deactivated_reason
    states = {d.target: d.send_state for d in session.exec(select(Delivery).where(Delivery.channel == "fcm"))}
    assert states == {"token:dev-a": "sent", "token:dev-dead": "undeliverable", "token:dev-f": "sent"}
    feeds = session.exec(select(Delivery).where(Delivery.channel == "feed")).all()
    assert {(d.recipient_id, d.template) for d in feeds} == {
        (world["reporter"].id, "resolved"), (world["follower"].id, "resolved")}


def test_503_is_retried_and_then_succeeds(world, session, fake_google, run_jobs, no_backoff, monkeypatch):
    monkeypatch.setitem(queue.JOBS, "handlers.notifications.send_delivery",
                        queue.JobSpec("handlers.notifications.send_delivery", retry=(0, 0, 0)))
    fake_google.fail("dev-a", 503, "UNAVAILABLE", "try later", times=5)  # the SDK's own 5 attempts
    resolve(session, world["report"])
    for _ in range(4):
        run_jobs()
    calls = [c for c in fake_google.fcm_calls if c["body"]["message"]["token"] == "dev-a"]
    assert len(calls) == 6  # 5 refused inside one job attempt, the job's retry succeeded
    d = session.exec(select(Delivery).where(Delivery.target == "token:dev-a")).one()
    assert d.send_state == SendState.SENT and d.attempts == 2


def test_crash_after_sending_before_marking_does_not_push_twice(world, session, fake_google, run_jobs, settings):
    from handlers import notifications as jobs

    resolve(session, world["report"])
    notify = session.exec(select(Outbox).where(Outbox.job_name == "handlers.notifications.notify_event")).one()
    assert queue.execute(notify.id) == "done"  # deliveries planned; their send jobs wait in the queue
    d = session.exec(select(Delivery).where(Delivery.target == "token:dev-a")).one()
    fake_google.fcm_calls.clear()

    class Crash(BaseException):
        pass

    def send_then_die(delivery):
        outcome = jobs._push_one(settings, delivery)
        raise Crash(outcome)  # the process dies before the result is recorded

    with pytest.raises(Crash):
        deliveries.attempt(session, d, senders={"fcm": send_then_die})
    session.rollback()
    assert len(fake_google.fcm_calls) == 1
    assert session.get(Delivery, d.id).send_state == SendState.SENDING  # committed before the send
    run_jobs()  # the job is retried (or relayed) at once: the claim is fresh, it may still be in flight
    assert [c["body"]["message"]["token"] for c in fake_google.fcm_calls].count("dev-a") == 1
    session.expire_all()
    assert session.get(Delivery, d.id).send_state == SendState.SENDING
    # a later retry finds the claim older than any job may run: the dead attempt counts as sent
    session.execute(update(Delivery).where(Delivery.id == d.id)
                    .values(last_attempt_at=utcnow() - deliveries.CLAIM_STALE - timedelta(seconds=1)))
    assert deliveries.attempt(session, session.get(Delivery, d.id), senders={"fcm": send_then_die}) == SendState.SENT
    assert [c["body"]["message"]["token"] for c in fake_google.fcm_calls].count("dev-a") == 1


def test_the_same_event_never_notifies_twice(world, session, fake_google, run_jobs):
    ev = resolve(session, world["report"])
    run_jobs()
    first = len(fake_google.fcm_calls)
    with session.begin_nested():
        queue.enqueue(session, "handlers.notifications.notify_event", event_id=ev.id)
    session.commit()
    run_jobs()
    assert len(fake_google.fcm_calls) == first
    keys = [d.dedupe_key for d in session.exec(select(Delivery))]
    assert len(keys) == len(set(keys))


def test_zalo_residents_get_a_zalo_delivery_recorded(world, session, run_jobs):
    session.add(Identity(resident_id=world["reporter"].id, provider="zalo", subject="z-123"))
    session.commit()
    resolve(session, world["report"])
    run_jobs()
    zalo = session.exec(select(Delivery).where(Delivery.channel == "zalo")).one()
    assert zalo.target == "z-123" and zalo.template == "resolved"
    # the bot is not configured in this test: recorded as undeliverable, with the reason
    assert zalo.send_state == SendState.UNDELIVERABLE and "not configured" in zalo.last_error


def test_staff_can_retry_an_undeliverable_delivery(world, session, fake_google, run_jobs, no_backoff):
    fake_google.unregister("dev-dead")
    resolve(session, world["report"])
    run_jobs()
    dead = session.exec(select(Delivery).where(Delivery.target == "token:dev-dead")).one()
    assert dead in deliveries.problems(session)
    deliveries.retry(session, delivery_id=dead.id)
    session.commit()
    with pytest.raises(Exception, match="Chỉ gửi lại"):
        deliveries.retry(session, delivery_id=session.exec(
            select(Delivery).where(Delivery.target == "token:dev-a")).one().id)


def test_quiet_hours_delay_non_urgent_pushes(world, session, fake_google, run_jobs, runner):
    city.put(session, "quiet_hours", ["00:00", "23:59"])
    session.commit()
    resolve(session, world["report"])
    run_jobs()
    assert fake_google.fcm_calls == []  # nothing pushed now
    scheduled = runner.queue("default").scheduled_job_registry.get_job_ids()
    assert len(scheduled) == 3  # one per device, for the end of the quiet hours
    feed = session.exec(select(Delivery).where(Delivery.channel == "feed")).all()
    assert all(d.send_state == SendState.SENT for d in feed)  # the in-app feed is not delayed


def test_daily_summary_of_stuck_deliveries_to_admins(world, session, fake_google, run_jobs, no_backoff):
    from datetime import timedelta

    from backend.models import Staff
    from backend.models.base import utcnow
    from handlers.deliveries import sweep_deliveries

    session.add(Staff(email="admin@x.vn", role="admin", name="Quản trị"))
    fake_google.unregister("dev-dead")
    resolve(session, world["report"])
    run_jobs()
    later = utcnow() + timedelta(hours=2)
    assert sweep_deliveries(session, now=later) == 1
    assert sweep_deliveries(session, now=later) == 0  # once a day
    summary = session.exec(select(Delivery).where(Delivery.template == "stuck_summary")).one()
    assert summary.recipient_kind == "staff" and "fcm/undeliverable: 1" in summary.body
