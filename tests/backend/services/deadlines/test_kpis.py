"""KPIs on a scripted event history whose figures were worked out by hand (comments below).

Calendar: Mon–Fri 07:30–11:30, 13:30–17:00 (7.5 working hours a day), Asia/Ho_Chi_Minh; the only
holiday in Oct–Nov 2026 is Tue 24/11. Budgets: ack 8h; normal 3d; urgent 4h.
Units: IOC (triage), A, B. Period: November 2026 (city time).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from backend.errors import InvalidInput
from backend.models.categories import Category
from backend.models.units import Unit
from backend.services import exports
from backend.services.deadlines import kpis, ranking
from tests.fixtures.kpi_histories import Story

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def at(mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(2026, mo, d, h, mi, tzinfo=VN)


@pytest.fixture
def world(session):
    ioc = Unit(code="ioc-k", name_vi="Trung tâm IOC", kind="ioc", is_triage=True)
    a = Unit(code="unit-a", name_vi="Phòng Quản lý đô thị")
    b = Unit(code="unit-b", name_vi="UBND phường Bến Nghé")
    cat = Category(code="kpi-road", name_vi="Hư hỏng mặt đường",
                   sla={"ack": "8h", "urgent": "4h", "normal": "3d", "complex": "15d"})
    session.add_all([ioc, a, b, cat])
    session.flush()
    s = Story(session, cat)

    # R1: A, ack after 2h (2 wh / 2 h), resolved Wed 4/11 16:00, due Thu 5/11 17:00 → on time.
    #     resolve: Mon 2/11 08:00 → Wed 4/11 16:00 = 7 + 7.5 + 6.5 = 21 wh, 56 h. Rated 5.
    r1 = s.new(at(11, 2, 8))
    s.route(r1, a, at(11, 2, 8))
    s.move(r1, "acknowledged", at(11, 2, 10))
    s.move(r1, "resolved", at(11, 4, 16))
    s.rate(r1, 5, at(11, 5, 9))

    # R2: B first, transferred to A at 14:00 (ack clock restarts); A acks Wed 08:30
    #     (14:00–17:00 + 07:30–08:30 = 4 wh, 18.5 h). Due Fri 6/11 17:00, resolved Mon 9/11 10:00 → late.
    #     resolve: Tue 3/11 09:00 → Mon 9/11 10:00 = 6 + 22.5 + 2.5 = 31 wh, 145 h. First unit B ≠ A.
    r2 = s.new(at(11, 3, 9))
    s.route(r2, b, at(11, 3, 9))
    s.route(r2, a, at(11, 3, 14), transfer=True)
    s.move(r2, "acknowledged", at(11, 4, 8, 30))
    s.move(r2, "resolved", at(11, 9, 10))

    # R3: A, ack 1h; due Thu 12/11 17:00; on hold Tue 10/11 08:00 → Thu 12/11 08:00 (15 wh paused),
    #     due becomes Mon 16/11 17:00; resolved Fri 13/11 15:00 → on time (35 wh, 103 h).
    #     Reopened Mon 16/11 09:00 (new clock: due Thu 19/11 17:00), resolved Wed 18/11 10:00 → on time,
    #     measured from the reopen: 6 + 7.5 + 2.5 = 16 wh, 49 h.
    r3 = s.new(at(11, 9, 8))
    s.route(r3, a, at(11, 9, 8))
    s.move(r3, "acknowledged", at(11, 9, 9))
    s.move(r3, "in_progress", at(11, 9, 9))
    s.move(r3, "on_hold", at(11, 10, 8), reason="Chờ phối hợp với điện lực")
    s.move(r3, "in_progress", at(11, 12, 8))
    s.move(r3, "resolved", at(11, 13, 15))
    s.move(r3, "reopened", at(11, 16, 9), kind="reopened", reason="Vẫn còn ổ gà")
    s.move(r3, "in_progress", at(11, 16, 10))
    s.move(r3, "resolved", at(11, 18, 10))

    # R4: A, urgent (4h): due Mon 23/11 14:00, never acknowledged → open overdue at the end of November.
    r4 = s.new(at(11, 23, 8), priority="urgent")
    s.route(r4, a, at(11, 23, 8))

    # R5: B acks after 1h and rejects → a closure of B, on time; nothing for A.
    r5 = s.new(at(11, 10, 8))
    s.route(r5, b, at(11, 10, 8))
    s.move(r5, "acknowledged", at(11, 10, 9))
    s.move(r5, "rejected", at(11, 10, 10), reason="Không đủ thông tin")

    # R6: IOC triage, dispatched to A at 09:00 (not a transfer), ack 10:00 (1 wh, 1 h), resolved
    #     Thu 12/11 10:00 (due Mon 16/11 17:00, on time): 7 + 2.5 = 9.5 wh, 26 h. First unit A. Rated 3.
    r6 = s.new(at(11, 11, 8))
    s.route(r6, ioc, at(11, 11, 8))
    s.route(r6, a, at(11, 11, 9), transfer=True)
    s.move(r6, "acknowledged", at(11, 11, 10))
    s.move(r6, "resolved", at(11, 12, 10))
    s.rate(r6, 3, at(11, 13, 9))

    # R7: October only (ack 1h, resolved Wed 7/10, due Thu 8/10 17:00): nothing in November.
    r7 = s.new(at(10, 5, 8))
    s.route(r7, a, at(10, 5, 8))
    s.move(r7, "acknowledged", at(10, 5, 9))
    s.move(r7, "resolved", at(10, 7, 10))

    # R8: October, acked in October, due Tue 3/11 17:00, still in progress → overdue in November.
    r8 = s.new(at(10, 29, 8))
    s.route(r8, a, at(10, 29, 8))
    s.move(r8, "acknowledged", at(10, 29, 9))
    s.move(r8, "in_progress", at(10, 29, 9))
    session.flush()
    return {"ioc": ioc, "a": a, "b": b, "cat": cat, "reports": [r1, r2, r3, r4, r5, r6, r7, r8]}


NOVEMBER = {"start": at(11, 1, 0), "end": at(12, 1, 0)}


def test_unit_a_november_figures_match_the_hand_computation(session, world) -> None:
    p = kpis.compute(session, unit_id=world["a"].id, **NOVEMBER)["period"]
    # acks by A in November: R1 2, R2 4, R3 1, R6 1 working hours; calendar 2, 18.5, 1, 1.
    assert p["time_to_acknowledge"] == {"count": 4, "median_working_hours": 1.5, "p90_working_hours": 4.0,
                                        "median_hours": 1.5, "p90_hours": 18.5}
    # resolutions: R1 21, R2 31, R3 35 and 16, R6 9.5 wh; 56, 145, 103, 49, 26 h.
    assert p["time_to_resolve"] == {"count": 5, "median_working_hours": 21.0, "p90_working_hours": 35.0,
                                    "median_hours": 56.0, "p90_hours": 145.0}
    assert p["closures"] == 5 and p["resolutions"] == 5
    assert p["on_time_closures"] == 4                 # all but R2
    assert p["open_overdue"] == 2                     # R4, R8
    assert p["on_time_rate"] == round(4 / 7, 4)       # 4 / (5 + 2)
    assert p["backlog"] == 2
    assert p["reopens"] == 1 and p["reopen_rate"] == 0.2
    assert p["transfer_rate"] == 0.2                  # R2 only; triage dispatch of R6 is not a transfer
    assert p["first_unit_share"] == 0.8               # R2 was first routed to B
    assert p["satisfaction"] == {"mean": 4.0, "count": 2}


def test_unit_b_and_city_wide(session, world) -> None:
    b = kpis.compute(session, unit_id=world["b"].id, **NOVEMBER)["period"]
    assert (b["closures"], b["on_time_closures"], b["open_overdue"], b["on_time_rate"]) == (1, 1, 0, 1.0)
    assert b["time_to_acknowledge"]["count"] == 1 and b["time_to_acknowledge"]["median_working_hours"] == 1.0
    assert b["time_to_resolve"]["count"] == 0 and b["time_to_resolve"]["median_hours"] is None
    assert b["reopen_rate"] is None and b["satisfaction"] == {"mean": None, "count": 0}
    city = kpis.compute(session, **NOVEMBER)["period"]
    assert (city["closures"], city["on_time_closures"], city["open_overdue"]) == (6, 5, 2)


def test_group_by_month(session, world) -> None:
    result = kpis.compute(session, unit_id=world["a"].id, start=at(10, 1, 0), end=at(12, 1, 0), group_by_month=True)
    october, november = result["months"]
    assert october["month"] == "2026-10" and november["month"] == "2026-11"
    # October: R7 closed on time; R8 open but due only on 3/11; acks R7 and R8 (1 wh each).
    assert (october["closures"], october["on_time_rate"], october["backlog"], october["open_overdue"]) == (1, 1.0, 1, 0)
    assert october["time_to_acknowledge"]["count"] == 2
    alone = kpis.compute(session, unit_id=world["a"].id, **NOVEMBER)["period"]
    assert {k: v for k, v in november.items() if k != "month"} == alone
    assert result["period"]["closures"] == 6


def test_filters_by_category_and_area(session, world) -> None:
    other = kpis.compute(session, unit_id=world["a"].id, category_id=world["cat"].id + 1000, **NOVEMBER)["period"]
    assert other["closures"] == 0 and other["backlog"] == 0
    same = kpis.compute(session, unit_id=world["a"].id, category_id=world["cat"].id, **NOVEMBER)["period"]
    assert same["closures"] == 5


def test_figures_come_from_events_not_report_columns(session, world) -> None:
    """Deadline, timestamp and rating columns are caches: scrambling them changes no figure."""
    before = kpis.compute(session, unit_id=world["a"].id, **NOVEMBER)
    for report in world["reports"]:
        report.resolve_due_at = at(1, 1, 0)
        report.ack_due_at = None
        report.resolved_at = report.acknowledged_at = at(1, 1, 0)
        report.rating = 1
        session.add(report)
    session.flush()
    assert kpis.compute(session, unit_id=world["a"].id, **NOVEMBER) == before


def test_ranking_orders_units_by_on_time_rate(session, world) -> None:
    rows = [r for r in ranking.monthly(session, month=date(2026, 11, 1)) if r["unit_code"] in {"unit-a", "unit-b"}]
    assert [r["unit_code"] for r in rows] == ["unit-b", "unit-a"]
    assert rows[0]["on_time_rate"] == 1.0 and rows[1]["on_time_rate"] == round(4 / 7, 4)
    assert all("ioc" not in r["unit_code"] for r in ranking.monthly(session, month=date(2026, 11, 1)))


def test_csv_rows(session, world) -> None:
    result = kpis.compute(session, unit_id=world["a"].id, start=at(10, 1, 0), end=at(12, 1, 0), group_by_month=True)
    rows = exports.kpi_csv_rows(result)
    assert rows[0] == exports.KPI_CSV_HEADER and len(rows) == 3
    nov = dict(zip(rows[0], rows[2], strict=True))
    assert nov["month"] == "2026-11" and nov["closures"] == 5 and nov["open_overdue"] == 2


@pytest.mark.parametrize(("start", "end"), [(at(11, 2, 0), at(11, 1, 0)), (at(11, 1, 0), at(11, 1, 0)),
                                            (datetime(2026, 11, 1), datetime(2026, 12, 1)),
                                            (at(1, 1, 0) - timedelta(days=5000), at(11, 1, 0))])
def test_bad_periods_are_refused(session, start: datetime, end: datetime) -> None:
    with pytest.raises(InvalidInput):
        kpis.compute(session, start=start, end=end)
