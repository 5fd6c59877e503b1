"""Deadline jobs end to end: the sweep marks each breach once (even run concurrently), escalation runs
through the outbox, and the morning digest reaches the unit's staff once a day."""

from __future__ import annotations

import itertools
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.exc import OperationalError
from sqlmodel import func, select

from backend.models import Delivery, Outbox, Report, ReportEvent, Staff, Unit
from backend.models.base import utcnow
from backend.services.deadlines import sla
from handlers.digests import send_unit_digest, sweep_digests
from handlers.sla import escalate_breach, sweep_deadlines

VN = ZoneInfo("Asia/Ho_Chi_Minh")
_seq = itertools.count(1)


def make_city(session) -> dict:
    n = next(_seq)
    unit = Unit(code=f"jobs-a-{n}", name_vi="Phòng Quản lý đô thị")
    ioc = Unit(code=f"jobs-ioc-{n}", name_vi="Trung tâm IOC", kind="ioc", is_triage=True)
    session.add_all([unit, ioc])
    session.flush()
    head = Staff(email=f"truongphong{n}@example.vn", name="Trần Thị B", role="head", unit_id=unit.id)
    officer = Staff(email=f"canbo{n}@example.vn", name="Lê Văn C", role="officer", unit_id=unit.id)
    session.add_all([head, officer])
    session.flush()
    return {"unit": unit, "ioc": ioc, "head": head, "officer": officer}


def routed_report(session, unit: Unit, at: datetime, priority: str = "urgent") -> Report:
    report = Report(code=f"PA-J{next(_seq):05d}", priority=priority, status="assigned", unit_id=unit.id)
    session.add(report)
    session.flush()
    sla.on_routed(session, report, at=at)
    return report


def count_events(session, kind: str, report_ids: list[int]) -> int:
    return session.exec(select(func.count()).select_from(ReportEvent).where(
        ReportEvent.kind == kind, ReportEvent.report_id.in_(report_ids))).one()


def test_breach_is_marked_once_and_escalated_through_the_queue(app, db, run_jobs) -> None:
    with db.session_scope() as s:
        city = make_city(s)
        report_id = routed_report(s, city["unit"], utcnow() - timedelta(days=10)).id
        unit_id, head_id = city["unit"].id, city["head"].id
    with db.session_scope() as s:
        sweep_deadlines(s)
    run_jobs()
    with db.session_scope() as s:
        sweep_deadlines(s)                      # nothing new: already marked
    run_jobs()
    with db.session() as s:
        assert count_events(s, "sla_breached", [report_id]) == 2          # ack + resolve
        escalations = s.exec(select(ReportEvent).where(ReportEvent.report_id == report_id,
                                                       ReportEvent.kind == "escalated")).all()
        assert sorted(e.data["clock"] for e in escalations) == ["ack", "resolve"]
        assert all(e.data["head_staff_ids"] == [head_id] and e.data["unit_id"] == unit_id for e in escalations)
        report = s.get(Report, report_id)
        assert report.flags["escalated"]["clock"] in {"ack", "resolve"}
        jobs = s.exec(select(Outbox).where(Outbox.job_name == "handlers.sla.escalate_breach")).all()
        assert len(jobs) == 2 and all(j.done_at is not None for j in jobs)


def test_escalation_is_idempotent_and_ignores_closed_reports(session) -> None:
    city = make_city(session)
    report = routed_report(session, city["unit"], utcnow() - timedelta(days=10))
    assert sla.sweep(session) == 2
    escalate_breach(session, report_id=report.id, clock="ack")
    escalate_breach(session, report_id=report.id, clock="ack")
    escalate_breach(session, report_id=report.id + 10_000, clock="ack")
    escalate_breach(session, report_id=report.id, clock="bogus")
    assert count_events(session, "escalated", [report.id]) == 1
    report.status = "closed"
    session.add(report)
    session.flush()
    escalate_breach(session, report_id=report.id, clock="resolve")
    assert count_events(session, "escalated", [report.id]) == 1


def test_concurrent_sweeps_mark_each_breach_exactly_once(live_db) -> None:
    past = utcnow() - timedelta(days=10)
    with live_db.session_scope() as s:
        city = make_city(s)
        ids = [routed_report(s, city["unit"], past).id for _ in range(25)]
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def run() -> None:
        barrier.wait()
        try:
            with live_db.session_scope() as s:
                outcomes.append(sla.sweep(s))
        except OperationalError as exc:  # SQLite: the second writer may be refused; never double counts
            outcomes.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    marked = [o for o in outcomes if isinstance(o, int)]
    assert marked and sum(marked) == 50
    if not live_db.is_sqlite:
        assert len(marked) == 2
    with live_db.session() as s:
        assert count_events(s, "sla_breached", ids) == 50
        assert s.exec(select(func.count()).select_from(Outbox).where(
            Outbox.job_name == "handlers.sla.escalate_breach")).one() == 50


def test_morning_digest_is_queued_once_per_unit_on_working_days(session) -> None:
    city = make_city(session)
    monday_8 = datetime(2026, 11, 23, 8, 0, tzinfo=VN)
    routed_report(session, city["unit"], monday_8 - timedelta(days=7))            # overdue
    assert sweep_digests(session, now=monday_8.replace(hour=6, minute=30)) == 0   # before 07:00
    assert sweep_digests(session, now=datetime(2026, 11, 22, 9, 0, tzinfo=VN)) == 0  # Sunday
    assert sweep_digests(session, now=datetime(2026, 11, 24, 9, 0, tzinfo=VN)) == 0  # holiday 24/11
    assert sweep_digests(session, now=monday_8) >= 1
    assert sweep_digests(session, now=monday_8 + timedelta(minutes=5)) == 0
    jobs = session.exec(select(Outbox).where(Outbox.job_name == "handlers.digests.send_unit_digest")).all()
    assert [j.args for j in jobs if j.args["unit_id"] == city["unit"].id] == [
        {"unit_id": city["unit"].id, "day": "2026-11-23"}]


def test_digest_lists_due_and_overdue_reports_for_the_unit_staff(session) -> None:
    city = make_city(session)
    now = utcnow()
    late = routed_report(session, city["unit"], now - timedelta(days=10))
    empty = make_city(session)
    day = now.astimezone(VN).date().isoformat()
    send_unit_digest(session, unit_id=city["unit"].id, day=day)
    send_unit_digest(session, unit_id=city["unit"].id, day=day)              # once per day
    send_unit_digest(session, unit_id=empty["unit"].id, day=day)             # nothing to say
    send_unit_digest(session, unit_id=999_999, day=day)
    rows = session.exec(select(Delivery).where(Delivery.template == "digest")).all()
    assert sorted(r.recipient_id for r in rows) == sorted([city["head"].id, city["officer"].id])
    row = rows[0]
    assert row.channel == "feed" and row.recipient_kind == "staff"
    assert "1 quá hạn" in row.title and late.code in row.body and "Quá hạn (1):" in row.body
    assert row.payload["overdue"] == [late.code]
