"""An old month's KPIs do not change when reports move on later (DESIGN §14: the candidate search of
``deadlines/candidates.py`` only looks at [start, end + 31 days) plus the long-lived reports).

May 2026 is judged as of 1/12/2026. Reports still open or in triage at the end of May are dispatched, resolved or
transferred in June (inside the 31 days) and in August (long after: only ``ix_reports_long_lived`` finds them),
and new reports keep arriving at the same units until September. The figures of May, for each unit and the city,
must be the same before and after all that, and count those reports where they were at the end of May.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import or_, select

from backend.models.categories import Category
from backend.models.reports import Report, ReportEvent
from backend.models.units import Unit
from backend.services import deadlines
from backend.services.deadlines.candidates import candidate_ids as candidates
from tests.fixtures.kpi_histories import Story

VN = ZoneInfo("Asia/Ho_Chi_Minh")
MAY, JUNE = datetime(2026, 5, 1, tzinfo=VN), datetime(2026, 6, 1, tzinfo=VN)
NOW = datetime(2026, 12, 1, tzinfo=VN)


def at(mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(2026, mo, d, h, mi, tzinfo=VN)


@pytest.fixture
def city(session):
    ioc = Unit(code="old-ioc", name_vi="Trung tâm IOC", kind="ioc", is_triage=True)
    a = Unit(code="old-a", name_vi="Phòng Quản lý đô thị")
    b = Unit(code="old-b", name_vi="UBND phường Tân Định")
    cat = Category(code="old-road", name_vi="Hư hỏng mặt đường",
                   sla={"ack": "8h", "urgent": "4h", "normal": "3d", "complex": "15d"})
    session.add_all([ioc, a, b, cat])
    session.flush()
    s = Story(session, cat)
    done = s.new(at(5, 5, 8))  # resolved inside May by A
    s.route(done, a, at(5, 5, 8))
    s.move(done, "acknowledged", at(5, 5, 9))
    s.move(done, "resolved", at(5, 7, 10))
    triaged = s.new(at(5, 29, 20))  # still in the IOC's triage at the end of May
    s.route(triaged, ioc, at(5, 29, 20))
    stuck = s.new(at(5, 20, 8))  # A works on it past its deadline, through June
    s.route(stuck, a, at(5, 20, 8))
    s.move(stuck, "acknowledged", at(5, 21, 9))
    s.move(stuck, "in_progress", at(5, 21, 10))
    misrouted = s.new(at(5, 25, 9))  # B holds it at the end of May
    s.route(misrouted, b, at(5, 25, 9))
    late = s.new(at(5, 28, 9))  # A holds it, not yet due, at the end of May
    s.route(late, a, at(5, 28, 9))
    session.flush()
    return {"s": s, "ioc": ioc, "a": a, "b": b, "triaged": triaged, "stuck": stuck, "misrouted": misrouted,
            "late": late}


def _later_activity(c: dict) -> None:
    """June (inside the 31 days after May) and August–September (long after)."""
    s, a, b, ioc = c["s"], c["a"], c["b"], c["ioc"]
    s.route(c["misrouted"], a, at(6, 10, 9), transfer=True)
    s.move(c["late"], "acknowledged", at(6, 1, 8))
    s.move(c["late"], "resolved", at(6, 2, 10))
    s.rate(c["late"], 4, at(6, 3, 9))
    s.route(c["triaged"], b, at(8, 15, 9), transfer=True)
    s.move(c["triaged"], "acknowledged", at(8, 15, 10))
    s.move(c["stuck"], "resolved", at(8, 20, 15))
    s.rate(c["stuck"], 2, at(9, 1, 8))
    for month in (6, 7, 8, 9):
        for unit in (a, b, ioc):
            r = s.new(at(month, 3, 8))
            s.route(r, unit, at(month, 3, 8))
            if not unit.is_triage:
                s.move(r, "acknowledged", at(month, 3, 9))
                s.move(r, "resolved", at(month, 4, 9))
    s.session.flush()


def _may(session, unit_id: int | None) -> dict:
    got = deadlines.figures(session, start=MAY, end=JUNE, now=NOW, unit_id=unit_id)
    return {"period": got["period"], "months": got["months"], "units": got["units"]}


def _unbounded(session, unit_id: int) -> list[int]:
    """The search without the 31-day bound: held now and changed since May or open; or left the unit since May."""
    held = select(Report.id).where(Report.unit_id == unit_id, Report.created_at < JUNE, or_(
        Report.updated_at >= MAY, Report.status.not_in(("resolved", "rejected", "not_competent", "duplicate",
                                                         "closed"))))
    left = (select(ReportEvent.report_id).join(Report, Report.id == ReportEvent.report_id)
            .where(ReportEvent.from_unit_id == unit_id, ReportEvent.kind.in_(("routed", "transferred")),
                   ReportEvent.at >= MAY, Report.created_at < JUNE))
    return sorted(set(session.execute(held).scalars()) | set(session.execute(left).scalars()))


def test_an_old_month_ignores_later_activity(session, city) -> None:
    units = {"ioc": city["ioc"].id, "a": city["a"].id, "b": city["b"].id, "city": None}
    before = {name: _may(session, unit_id) for name, unit_id in units.items()}
    _later_activity(city)
    for name, unit_id in units.items():
        assert _may(session, unit_id) == before[name], f"May of {name} changed after later activity"
        if unit_id is not None:
            assert candidates(session, unit_id=unit_id, category_id=None, area_id=None, start=MAY,
                              end=JUNE) == _unbounded(session, unit_id), name
    a, b, ioc = (before[k]["period"] for k in ("a", "b", "ioc"))
    # A: received done, stuck, late; resolved done; holds stuck (overdue since 26/5) and late (due 2/6)
    assert (a["received"], a["resolved"], a["open"], a["open_overdue"]) == (3, 1, 2, 1)
    assert (b["received"], b["open"], ioc["received"], ioc["open"]) == (1, 1, 1, 1)
    assert before["city"]["period"]["open"] == 4


def test_the_long_lived_reports_are_found_after_they_moved(session, city) -> None:
    """The IOC's triaged report left it in August, A's stuck one was resolved in August: both changed more than
    31 days after the end of May, so only the long-lived search still sees them in May."""
    _later_activity(city)
    horizon = JUNE + timedelta(days=31)
    for key in ("triaged", "stuck"):
        assert city[key].updated_at >= horizon
    assert city["triaged"].id in candidates(session, unit_id=city["ioc"].id, category_id=None, area_id=None,
                                            start=MAY, end=JUNE)
    assert city["stuck"].id in candidates(session, unit_id=city["a"].id, category_id=None, area_id=None,
                                          start=MAY, end=JUNE)
    assert _may(session, city["ioc"].id)["period"]["open"] == 1
