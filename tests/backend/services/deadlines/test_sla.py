"""The two clocks of a report: set at routing, restarted on transfer, paused on hold, extended, breached."""

from __future__ import annotations

import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event
from sqlmodel import select

from backend.errors import Conflict, Forbidden, InvalidInput
from backend.models.categories import Category
from backend.models.outbox import Outbox
from backend.models.reports import Report, ReportEvent
from backend.models.staff import Staff
from backend.models.units import Unit
from backend.services import events
from backend.services.deadlines import sla
from backend.services.events import Actor

VN = ZoneInfo("Asia/Ho_Chi_Minh")
_codes = itertools.count(1)


def at(mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(2026, mo, d, h, mi, tzinfo=VN)


@pytest.fixture
def units(session):
    a = Unit(code="sla-a", name_vi="Phòng Quản lý đô thị")
    b = Unit(code="sla-b", name_vi="Công ty Cấp nước")
    ioc = Unit(code="sla-ioc", name_vi="Trung tâm IOC", kind="ioc", is_triage=True)
    session.add_all([a, b, ioc])
    session.flush()
    return {"a": a, "b": b, "ioc": ioc}


@pytest.fixture
def category(session):
    cat = Category(code="sla-light", name_vi="Đèn đường hỏng",
                   sla={"ack": "4h", "urgent": "2h", "normal": "2d", "complex": "10d"})
    session.add(cat)
    session.flush()
    return cat


def new_report(session, unit: Unit | None, category: Category | None = None, priority: str = "normal") -> Report:
    report = Report(code=f"PA-S{next(_codes):05d}", category_id=category.id if category else None,
                    priority=priority, status="assigned", unit_id=unit.id if unit else None)
    session.add(report)
    session.flush()
    return report


def staff_actor(session, role: str, unit: Unit) -> Actor:
    person = Staff(email=f"{role}-{next(_codes)}@example.vn", name="Nguyễn Văn A", role=role, unit_id=unit.id)
    session.add(person)
    session.flush()
    return Actor.staff(person)


def kinds(session, report: Report) -> list[tuple[str, dict]]:
    rows = session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id)
                        .order_by(ReportEvent.id)).all()
    return [(r.kind, r.data) for r in rows]


def test_routing_starts_both_clocks_from_the_category_policy(session, units, category) -> None:
    report = new_report(session, units["a"], category, priority="complex")
    sla.on_routed(session, report, at=at(11, 16, 16, 0))
    assert report.ack_due_at == at(11, 17, 10, 30)          # 1h Monday + 3h Tuesday from 07:30
    assert report.resolve_due_at == at(12, 1, 17, 0)        # 10 working days, skipping Tue 24/11
    assert report.routed_at == at(11, 16, 16, 0)
    started = [d for k, d in kinds(session, report) if k == "sla_started"]
    assert [d["clock"] for d in started] == ["ack", "resolve"]
    assert started[1]["budget"] == "10d" and started[1]["due_at"] == "2026-12-01T17:00:00+07:00"
    assert sla.expected_resolution(report) == at(12, 1, 17, 0)


def test_routing_writes_both_clocks_with_one_flush(session, units, category) -> None:
    report = new_report(session, units["a"], category)
    flushed: list[list[str]] = []

    def listener(s, _context) -> None:
        flushed.append(sorted(type(obj).__name__ for obj in (*s.new, *s.dirty)))

    event.listen(session, "after_flush", listener)
    try:
        sla.on_routed(session, report, at=at(11, 16, 16, 0))
    finally:
        event.remove(session, "after_flush", listener)
    assert flushed == [["Report", "ReportEvent", "ReportEvent"]]


def test_routing_a_new_report_inside_a_batch_waits_for_its_insert(session, units, category) -> None:
    report = Report(code=f"PA-S{next(_codes):05d}", category_id=category.id, status="assigned",
                    unit_id=units["a"].id)
    with events.batch(session):
        sla.on_routed(session, report, at=at(11, 16, 16, 0))
        assert report.id is None and report not in session   # nothing written yet
        session.add(report)
        session.flush()
    assert report.ack_due_at == at(11, 17, 10, 30)
    assert [d["clock"] for k, d in kinds(session, report) if k == "sla_started"] == ["ack", "resolve"]


def test_no_category_defaults_to_8h_and_3d_and_triage_gets_an_ack_clock(session, units) -> None:
    report = new_report(session, units["ioc"], None, priority="weird")
    report.status = "triage"
    sla.on_routed(session, report, at=at(11, 16, 8, 0))
    assert report.ack_due_at == at(11, 17, 8, 30)
    assert report.resolve_due_at == at(11, 19, 17, 0)


def test_transfer_restarts_the_ack_clock_only(session, units, category) -> None:
    report = new_report(session, units["a"], category)
    sla.on_routed(session, report, at=at(11, 16, 8, 0))
    resolve_due = report.resolve_due_at
    report.ack_breached_at = at(11, 16, 13, 0)
    report.unit_id = units["b"].id
    sla.on_routed(session, report, at=at(11, 17, 8, 0), is_transfer=True)
    assert report.ack_due_at == at(11, 17, 14, 0)            # 3.5h morning + 0.5h from 13:30
    assert report.ack_breached_at is None                    # a new clock may breach again
    assert report.resolve_due_at == resolve_due
    hops = [d for k, d in kinds(session, report) if k == "sla_started" and d["clock"] == "ack"]
    assert [h["is_transfer"] for h in hops] == [False, True] and hops[1]["unit_id"] == units["b"].id


def test_on_hold_pauses_and_resuming_pushes_the_deadline(session, units, category) -> None:
    report = new_report(session, units["a"], category)
    sla.on_routed(session, report, at=at(11, 16, 8, 0))     # 2d → Wed 18/11 17:00
    assert report.resolve_due_at == at(11, 18, 17, 0)
    actor = Actor.system()
    sla.on_state_change(session, report, from_state="in_progress", to_state="on_hold", at=at(11, 17, 8, 0),
                        reason="Chờ phối hợp", actor=actor)
    assert report.sla_paused_at == at(11, 17, 8, 0)
    report.status = "on_hold"
    assert sla.deadline_status(report, at(11, 30, 8, 0)) == "ok"   # a paused clock is not overdue
    sla.on_state_change(session, report, from_state="on_hold", to_state="in_progress", at=at(11, 17, 14, 0),
                        reason=None, actor=actor)
    # paused 08:00–11:30 + 13:30–14:00 = 4h of working time → Thu 19/11 07:30 + 4h = 11:30
    assert report.resolve_due_at == at(11, 19, 11, 30) and report.sla_paused_at is None
    paused, resumed = [d for k, d in kinds(session, report) if k in {"sla_paused", "sla_resumed"}]
    assert paused["reason"] == "Chờ phối hợp" and resumed["paused_minutes"] == 240
    assert resumed["due_at"] == "2026-11-19T11:30:00+07:00"


def test_pause_after_the_deadline_does_not_cure_it(session, units, category) -> None:
    report = new_report(session, units["a"], category, priority="urgent")
    sla.on_routed(session, report, at=at(11, 16, 8, 0))     # 2h → 10:00
    actor = Actor.system()
    sla.on_state_change(session, report, from_state="in_progress", to_state="on_hold", at=at(11, 16, 14, 0),
                        reason="Chờ vật tư", actor=actor)
    sla.on_state_change(session, report, from_state="on_hold", to_state="in_progress", at=at(11, 17, 14, 0),
                        reason=None, actor=actor)
    assert report.resolve_due_at == at(11, 16, 10, 0)


def test_reopen_restarts_the_resolve_clock(session, units, category) -> None:
    report = new_report(session, units["a"], category)
    sla.on_routed(session, report, at=at(11, 16, 8, 0))
    report.resolve_breached_at = at(11, 19, 8, 0)
    sla.on_state_change(session, report, from_state="resolved", to_state="reopened", at=at(11, 20, 9, 0),
                        reason="Vẫn chưa sửa", actor=Actor.resident(None))
    assert report.resolve_due_at == at(11, 25, 17, 0)       # Mon 23 (1), Tue 24 is a holiday, Wed 25 (2)
    assert report.resolve_breached_at is None


def test_extension_rules(session, units, category) -> None:
    report = new_report(session, units["a"], category)
    sla.on_routed(session, report, at=at(11, 16, 8, 0))     # due Wed 18/11 17:00
    now = at(11, 17, 9, 0)
    with pytest.raises(Forbidden):
        sla.extend(session, report, actor=staff_actor(session, "officer", units["a"]), budget="2d",
                   reason="Cần thêm thời gian", now=now)
    with pytest.raises(Forbidden):
        sla.extend(session, report, actor=staff_actor(session, "head", units["b"]), budget="2d",
                   reason="Cần thêm thời gian", now=now)
    head = staff_actor(session, "head", units["a"])
    with pytest.raises(InvalidInput):
        sla.extend(session, report, actor=head, budget="2d", reason="   ", now=now)
    with pytest.raises(InvalidInput):
        sla.extend(session, report, actor=head, budget="2 tuần", reason="Cần thêm thời gian", now=now)
    assert report.resolve_due_at == at(11, 18, 17, 0)
    assert not [k for k, _ in kinds(session, report) if k == "sla_extended"]
    new_due = sla.extend(session, report, actor=head, budget="2d", reason="Chờ vật tư thay thế", now=now)
    assert new_due == at(11, 20, 17, 0) == report.resolve_due_at
    [ext] = [d for k, d in kinds(session, report) if k == "sla_extended"]
    assert ext["reason"] == "Chờ vật tư thay thế" and ext["from_due_at"] == "2026-11-18T17:00:00+07:00"
    with pytest.raises(Conflict):
        sla.extend(session, report, actor=staff_actor(session, "dispatcher", units["b"]), budget="1d",
                   reason="Quá hạn rồi", now=at(11, 23, 8, 0))


def test_deadline_status_colours(session, units, category) -> None:
    report = new_report(session, units["a"], category)
    sla.on_routed(session, report, at=at(11, 16, 8, 0))     # ack 4h: 08:00–11:30 + 30 min = 14:00
    assert report.ack_due_at == at(11, 16, 14, 0)
    assert sla.deadline_status(report, at(11, 16, 8, 0)) == "ok"
    assert sla.deadline_status(report, at(11, 16, 12, 30)) == "due_soon"
    assert sla.deadline_status(report, at(11, 16, 14, 1)) == "overdue"
    report.status = "acknowledged"                           # the ack clock stopped
    assert sla.deadline_status(report, at(11, 16, 14, 1)) == "ok"
    report.status = "closed"
    assert sla.expected_resolution(report) is None


def test_sweep_marks_each_breach_once(session, units, category) -> None:
    late = new_report(session, units["a"], category, priority="urgent")
    sla.on_routed(session, late, at=at(11, 16, 8, 0))       # ack 12:00→14:00; resolve 10:00
    acked = new_report(session, units["a"], category, priority="urgent")
    sla.on_routed(session, acked, at=at(11, 16, 8, 0))
    acked.status = "acknowledged"
    paused = new_report(session, units["a"], category, priority="urgent")
    sla.on_routed(session, paused, at=at(11, 16, 8, 0))
    paused.status, paused.sla_paused_at = "on_hold", at(11, 16, 9, 0)
    session.add_all([acked, paused])
    session.flush()

    assert sla.sweep(session, now=at(11, 16, 9, 0)) == 0
    assert sla.sweep(session, now=at(11, 16, 15, 0)) == 3   # late: ack + resolve; acked: resolve
    assert sla.sweep(session, now=at(11, 16, 15, 1)) == 0
    for report in (late, acked, paused):
        session.refresh(report)
    assert late.ack_breached_at and late.resolve_breached_at
    assert acked.ack_breached_at is None and acked.resolve_breached_at
    assert paused.resolve_breached_at is None
    breaches = [d["clock"] for k, d in kinds(session, late) if k == "sla_breached"]
    assert breaches == ["ack", "resolve"]
    jobs = session.exec(select(Outbox).where(Outbox.job_name == "handlers.sla.escalate_breach")).all()
    assert sorted((j.args["report_id"], j.args["clock"]) for j in jobs) == sorted(
        [(late.id, "ack"), (late.id, "resolve"), (acked.id, "resolve")])


def _routed_then_paused_4h(session, report: Report) -> None:
    """Routed Mon 16/11 08:00 (normal 2d → Wed 18/11 17:00), on hold Tue 08:00–14:00 (4 working hours)."""
    sla.on_routed(session, report, at=at(11, 16, 8, 0))
    actor = Actor.system()
    sla.on_state_change(session, report, from_state="in_progress", to_state="on_hold", at=at(11, 17, 8, 0),
                        reason="Chờ phối hợp", actor=actor)
    sla.on_state_change(session, report, from_state="on_hold", to_state="in_progress", at=at(11, 17, 14, 0),
                        reason=None, actor=actor)


def _rescheduled(session, report: Report) -> list[dict]:
    return [d for k, d in kinds(session, report) if k == "sla_started" and d.get("rescheduled")]


def test_raising_the_priority_reschedules_the_running_clock(session, units, category) -> None:
    report = new_report(session, units["a"], category)
    sla.on_routed(session, report, at=at(11, 16, 8, 0))       # normal 2d → Wed 18/11 17:00
    report.priority = "urgent"
    assert sla.on_budget_change(session, report, at=at(11, 16, 9, 0)) == at(11, 16, 10, 0)  # 2h from 08:00
    assert report.resolve_due_at == at(11, 16, 10, 0)
    [event] = _rescheduled(session, report)
    assert event["budget"] == "2h" and event["from_due_at"] == "2026-11-18T17:00:00+07:00"
    assert event["due_at"] == "2026-11-16T10:00:00+07:00"


def test_rescheduling_keeps_the_time_added_by_a_pause(session, units, category) -> None:
    report = new_report(session, units["a"], category)
    _routed_then_paused_4h(session, report)
    assert report.resolve_due_at == at(11, 19, 11, 30)        # 2d + 4h paused
    report.priority = "complex"
    # 10 working days from Mon 16/11 (Tue 24/11 off) → Tue 1/12 17:00, + the 4 h paused → Wed 2/12 11:30
    assert sla.on_budget_change(session, report, at=at(11, 17, 15, 0)) == at(12, 2, 11, 30)


def test_a_later_deadline_lifts_the_breach_and_an_unchanged_budget_changes_nothing(session, units,
                                                                                    category) -> None:
    report = new_report(session, units["a"], category, priority="urgent")
    sla.on_routed(session, report, at=at(11, 16, 8, 0))       # 2h → 10:00
    report.resolve_breached_at = at(11, 16, 10, 1)
    report.priority = "normal"
    assert sla.on_budget_change(session, report, at=at(11, 16, 11, 0)) == at(11, 18, 17, 0)
    assert report.resolve_breached_at is None                 # the sweep may mark the new deadline once
    assert sla.on_budget_change(session, report, at=at(11, 16, 11, 5)) is None  # same budget again
    report.status = "resolved"
    report.priority = "complex"
    assert sla.on_budget_change(session, report, at=at(11, 16, 11, 10)) is None  # closed: no clock
    assert len(_rescheduled(session, report)) == 1


def test_every_change_counts_from_the_clock_origin_not_from_the_previous_change(session, units, category) -> None:
    report = new_report(session, units["a"], category)
    sla.on_routed(session, report, at=at(11, 16, 8, 0))       # normal 2d → Wed 18/11 17:00
    report.priority = "urgent"
    assert sla.on_budget_change(session, report, at=at(11, 17, 9, 0)) == at(11, 16, 10, 0)
    report.priority = "normal"                                # flipped back: the same promise, no gain
    assert sla.on_budget_change(session, report, at=at(11, 17, 9, 5)) == at(11, 18, 17, 0)
    report.priority = "complex"
    assert sla.on_budget_change(session, report, at=at(11, 17, 9, 10)) == at(12, 1, 17, 0)
    report.priority = "urgent"
    assert sla.on_budget_change(session, report, at=at(11, 17, 9, 15)) == at(11, 16, 10, 0)


def test_time_added_by_a_pause_survives_several_changes(session, units, category) -> None:
    report = new_report(session, units["a"], category)
    _routed_then_paused_4h(session, report)
    report.priority = "complex"
    assert sla.on_budget_change(session, report, at=at(11, 17, 15, 0)) == at(12, 2, 11, 30)
    report.priority = "normal"                                # 2d from Mon 08:00 + the 4 h paused
    assert sla.on_budget_change(session, report, at=at(11, 17, 15, 10)) == at(11, 19, 11, 30)
