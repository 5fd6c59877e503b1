"""Named regression tests for deadline bugs (issue 16's reproductions and the oracle's shrunk counter-examples).

Calendar: Mon–Fri 07:30–11:30, 13:30–17:00, Asia/Ho_Chi_Minh. Each test says what a user saw.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from backend.models.categories import Category
from backend.models.units import Unit
from tests.fixtures.kpi_histories import Story

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def at(y: int, mo: int, d: int, h: int, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=VN)


@pytest.fixture
def story(session):
    unit = Unit(code="reg-a", name_vi="Phòng Quản lý đô thị")
    cat = Category(code="reg-road", name_vi="Hư hỏng mặt đường",
                   sla={"ack": "8h", "urgent": "4h", "normal": "5d", "complex": "15d"})
    session.add_all([unit, cat])
    session.flush()
    return Story(session, cat), unit


def test_a_hold_put_on_and_lifted_on_a_sunday_does_not_move_the_deadline(session, story) -> None:
    """Issue 16: a hold of under a minute on Sunday moved the deadline from Fri 11/12 17:00 to Mon 14/12 07:30."""
    s, unit = story
    r = s.new(at(2026, 12, 4, 10))  # Friday; 5 working days → Friday 11/12 17:00
    s.route(r, unit, at(2026, 12, 4, 10))
    assert r.resolve_due_at == at(2026, 12, 11, 17)
    s.move(r, "acknowledged", at(2026, 12, 4, 11))
    s.move(r, "on_hold", at(2026, 12, 6, 10, 0, 0), reason="Chờ phối hợp")
    s.move(r, "in_progress", at(2026, 12, 6, 10, 0, 40))
    assert r.resolve_due_at == at(2026, 12, 11, 17)


def test_a_hold_outside_office_hours_then_not_competent_keeps_the_deadline(session, story) -> None:
    """Shrunk: create → start → hold → "not competent" at 00:00 Thu 12/2/2026; the deadline 24/2 17:00 became
    25/2 07:30 (3 working days; Tết 2026 takes Mon 16/2 – Fri 20/2 off)."""
    s, unit = story
    r = s.new(at(2026, 2, 12, 0), priority="urgent")
    s.category.sla = {**s.category.sla, "urgent": "3d"}
    r.resolve_due_at = None
    s.route(r, unit, at(2026, 2, 12, 0))
    due = r.resolve_due_at
    assert due == at(2026, 2, 24, 17)
    s.move(r, "in_progress", at(2026, 2, 12, 0))
    s.move(r, "on_hold", at(2026, 2, 12, 0), reason="Chờ phối hợp")
    s.move(r, "not_competent", at(2026, 2, 12, 0), reason="Không thuộc thẩm quyền")
    assert r.resolve_due_at == due


def test_a_reopen_starts_a_fresh_clock_from_the_reopen(session, story) -> None:
    """Issue 16: after the Sunday hold, a reopen showed the old deadline; the new one counts from the reopen."""
    s, unit = story
    r = s.new(at(2026, 12, 4, 10))
    s.route(r, unit, at(2026, 12, 4, 10))
    s.move(r, "on_hold", at(2026, 12, 6, 10, 0, 0), reason="Chờ phối hợp")
    s.move(r, "in_progress", at(2026, 12, 6, 10, 0, 40))
    s.move(r, "resolved", at(2026, 12, 8, 9), data={"reply": "Đã xử lý"})
    s.move(r, "reopened", at(2026, 12, 9, 9), kind="reopened", reason="Vẫn còn ổ gà")
    # Wednesday 9/12 + 5 working days (day of the reopen not counted) → Wednesday 16/12 17:00
    assert r.resolve_due_at == at(2026, 12, 16, 17)


def test_the_issues_sunday_sequence_shows_one_deadline_throughout(session, story) -> None:
    """Issue 16 as the user saw it: 11/12 17:00, then 14/12 07:30 after a 40-second Sunday hold, then 11/12 17:00
    again after a reopen — as if the reopen restored the old deadline. The reopen was right all along: a reopen
    on Sunday 6/12 starts a fresh 5-working-day clock, Mon 7/12 – Fri 11/12, due 11/12 17:00. The bug was the
    hold's jump; without it the report shows 11/12 17:00 at every step. The oracle agrees at every step."""
    from tests.oracle.figures import load_events
    from tests.oracle.history import replay

    s, unit = story
    budgets = {s.category.code: s.category.sla}

    def oracle_due() -> datetime:
        session.flush()
        return replay(load_events(session)[r.id], until=at(2027, 1, 1, 0), budgets=budgets, triage=set(),
                      category=s.category.code, priority="normal").r.due

    r = s.new(at(2026, 12, 4, 10))
    s.route(r, unit, at(2026, 12, 4, 10))
    s.move(r, "acknowledged", at(2026, 12, 4, 11))
    s.move(r, "on_hold", at(2026, 12, 6, 10, 0, 0), reason="Chờ phối hợp")
    s.move(r, "in_progress", at(2026, 12, 6, 10, 0, 40))
    assert r.resolve_due_at == oracle_due() == at(2026, 12, 11, 17)
    s.move(r, "resolved", at(2026, 12, 6, 11), data={"reply": "Đã xử lý"})
    s.move(r, "reopened", at(2026, 12, 6, 15), kind="reopened", reason="Vẫn còn ổ gà")
    assert r.resolve_due_at == oracle_due() == at(2026, 12, 11, 17)


def test_a_report_is_not_shown_overdue_at_its_deadline_instant(session, story) -> None:
    """Oracle counter-example: at Thu 12/2/2026 17:00 exactly the inbox said "Quá hạn" for a report due then,
    while the KPIs (and a closure at that instant) count it on time."""
    from backend.services.deadlines import deadline_status

    s, unit = story
    s.category.sla = {**s.category.sla, "normal": "3d"}
    r = s.new(at(2026, 2, 9, 0))
    s.route(r, unit, at(2026, 2, 9, 0))
    s.move(r, "acknowledged", at(2026, 2, 9, 0))
    s.move(r, "in_progress", at(2026, 2, 9, 0))
    assert r.resolve_due_at == at(2026, 2, 12, 17)
    assert deadline_status(r, at(2026, 2, 12, 17)) != "overdue"
    assert deadline_status(r, at(2026, 2, 12, 17, 1)) == "overdue"


def test_a_transfer_out_of_hold_to_the_ioc_ends_the_pause_product_and_oracle_agree(session) -> None:
    """Oracle counter-example (CI): a report on hold from 00:00 Mon 9/2/2026, transferred to the IOC at 07:31.
    The transfer ends the pause, so the one office minute 07:30–07:31 moves the deadline Thu 12/2 17:00 by one
    working minute: Fri 13/2 07:31. The product always did; the oracle kept the report paused (fixed in 8ce3029).
    Driven through the real workflow; the oracle reads the same event log back."""
    from backend.models.staff import Role
    from backend.services import deadlines
    from backend.services.events import Actor, ActorKind
    from backend.services.reports import workflow
    from tests.oracle.figures import load_events, period_figures
    from tests.oracle.history import replay

    ioc = Unit(code="reg-ioc", name_vi="Trung tâm IOC", kind="ioc", is_triage=True)
    unit = Unit(code="reg-b", name_vi="Phòng Quản lý đô thị")
    budgets = {"ack": "8h", "urgent": "4h", "normal": "3d", "complex": "15d"}
    cat = Category(code="reg-hold", name_vi="Hư hỏng mặt đường", sla=dict(budgets))
    session.add_all([ioc, unit, cat])
    session.flush()
    staff = Actor(ActorKind.STAFF, "0", role=Role.DISPATCHER, name="Điều phối viên")
    r = Story(session, cat).new(at(2026, 2, 9, 0))

    def act(action: str, when: datetime, **fields: object) -> None:
        workflow.apply(session, r, action, actor=staff, at=when, expected_version=r.version, **fields)

    act("route", at(2026, 2, 9, 0), unit_id=unit.id)
    act("acknowledge", at(2026, 2, 9, 0))
    act("start", at(2026, 2, 9, 0))
    assert r.resolve_due_at == at(2026, 2, 12, 17)
    act("hold", at(2026, 2, 9, 0), reason="Chờ phối hợp")
    act("transfer", at(2026, 2, 9, 7, 31), unit_id=ioc.id, reason="Không đúng thẩm quyền")
    session.flush()

    assert r.status != "on_hold" and r.resolve_due_at == at(2026, 2, 13, 7, 31)
    oracle = replay(load_events(session)[r.id], until=at(2027, 1, 1, 0), budgets={cat.code: budgets},
                    triage={ioc.id}, category=cat.code, priority="normal")
    assert oracle.r.paused_at is None and oracle.r.due == r.resolve_due_at
    # the figures at the old deadline's minute and after the new one: not overdue, then overdue
    for now, overdue in ((at(2026, 2, 13, 7, 31), 0), (at(2026, 2, 13, 7, 32), 1)):
        got = deadlines.figures(session, start=at(2026, 2, 1, 0), end=at(2026, 3, 1, 0), now=now)["period"]
        rp = replay(load_events(session)[r.id], until=now, budgets={cat.code: budgets}, triage={ioc.id},
                    category=cat.code, priority="normal")
        want = period_figures([rp], at(2026, 2, 1, 0), now, None)
        assert got["open_overdue"] == want["open_overdue"] == overdue
        assert {k: got[k] for k in want} == want
