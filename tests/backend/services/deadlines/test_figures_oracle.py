"""Property test: every deadline and KPI figure the product computes equals the independent oracle's
(``tests/oracle``: minute-by-minute calendar, event log only).

Random histories: intake at any minute (nights, weekends, Tết 2026, the substituted working Saturday
22/8/2026), routing to a unit or the IOC, dispatch, transfer, acknowledge, start, hold/resume, extension,
category and priority changes, resolve, rate, reopen, duplicate, reject, not competent; "now" at a random
minute inside the period (or after it). Checked: each open report's resolve deadline; per city, unit, category
and ward, for the period and each month: received, resolved, open, open overdue as of now, closures, on-time
rate, median/P90 time to acknowledge and to resolve (working and calendar hours), reopen and reroute rates,
satisfaction; and the unit ranking of every scope (unit × city, category or ward).

Examples: the ``ci`` hypothesis profile (derandomised, bounded; ``make test``) or ``deep``
(``make test-deep``); ``ORACLE_HISTORIES`` overrides the count.
"""

from __future__ import annotations

import contextlib
import os
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.errors import Conflict
from backend.models.areas import Area
from backend.models.categories import Category
from backend.models.reports import Report
from backend.models.residents import Resident
from backend.models.staff import Role
from backend.models.units import Unit
from backend.services import deadlines
from backend.services.events import Actor, ActorKind
from backend.services.reports import workflow
from tests.fixtures.kpi_histories import Story
from tests.oracle import calendar as cal
from tests.oracle.figures import load_events, months, period_figures
from tests.oracle.history import AWAITING_ACK, OPEN, replay

BUDGETS = ({"ack": "8h", "urgent": "4h", "normal": "3d", "complex": "15d"},
           {"ack": "2h", "urgent": "90m", "normal": "16h", "complex": "5d"})
#: Tết 2026 (16–20/2 off) and the substituted working Saturday 22/8/2026 (for Monday 31/8)
WINDOWS = (datetime(2026, 2, 9, tzinfo=cal.TZ), datetime(2026, 8, 17, tzinfo=cal.TZ),
           datetime(2026, 11, 16, tzinfo=cal.TZ))
#: histories per run: 60 in ``make test`` (~20–30 s), ``make test-deep`` sets ORACLE_HISTORIES (1500)
HISTORIES = int(os.environ.get("ORACLE_HISTORIES", "0")) or 60
#: what staff (a dispatcher) and the reporter may do, with the fields each action needs
ACTIONS = ("route", "acknowledge", "start", "hold", "resume", "transfer", "extend", "change_category",
           "change_priority", "mark_duplicate", "reject", "not_competent", "resolve", "reopen", "close", "rate")
GAPS = st.one_of(st.integers(0, 3), st.integers(1, 240), st.integers(240, 6000))


def _world(session: Any) -> dict[str, Any]:
    units = [Unit(code="or-ioc", name_vi="IOC", kind="ioc", is_triage=True),
             Unit(code="or-a", name_vi="Phòng A"), Unit(code="or-b", name_vi="Phường B")]
    cats = [Category(code=f"or-c{i}", name_vi=f"Lĩnh vực {i}", sla=dict(b)) for i, b in enumerate(BUDGETS)]
    resident = Resident(display_name="Người dân thử")
    square = {"type": "Polygon", "coordinates": [[[106, 10], [106.01, 10], [106.01, 10.01], [106, 10.01], [106, 10]]]}
    wards = [Area(code=f"or-w{i}", name=f"Phường {i}", geometry=square, min_lon=106, min_lat=10, max_lon=106.01,
                  max_lat=10.01) for i in (1, 2)]
    session.add_all([*units, *cats, *wards, resident])
    session.flush()
    return {"units": units, "cats": cats, "wards": wards, "budgets": {c.code: c.sla for c in cats},
            "triage": {units[0].id},
            "staff": Actor(ActorKind.STAFF, "0", role=Role.DISPATCHER, name="Điều phối viên"),
            "reporter": Actor.resident(resident.id), "resident_id": resident.id}


def _play(data: Any, session: Any, world: dict[str, Any], base: datetime) -> list[tuple[Report, str, str]]:
    """Draws and writes 1–6 report histories through the real workflow; returns (report, initial category code,
    initial priority)."""
    story = Story(session, world["cats"][0])
    out: list[tuple[Report, str, str]] = []
    for _ in range(data.draw(st.integers(1, 6), label="reports")):
        t = base + timedelta(minutes=data.draw(st.integers(0, 14 * 24 * 60), label="intake"))
        cat = data.draw(st.sampled_from(world["cats"]), label="category")
        priority = data.draw(st.sampled_from(["normal", "urgent", "complex"]), label="priority")
        r = story.new(t, priority=priority, category=cat)
        r.resident_id = world["resident_id"]
        ward = data.draw(st.sampled_from([None, *world["wards"]]), label="ward")
        r.area_id = ward.id if ward else None
        out.append((r, cat.code, priority))
        for _step in range(data.draw(st.integers(1, 9), label="steps")):
            staff_may = workflow.allowed_actions(r, world["staff"], session=session, at=t)
            options = [a for a in ACTIONS if a in staff_may or (a == "rate" and r.status == "resolved")]
            if not options:
                break
            action = data.draw(st.sampled_from(options), label="action")
            t += timedelta(minutes=data.draw(GAPS, label="gap"))
            _act(data, session, world, r, action, t, out)
    session.flush()
    return out


def _fields(data: Any, world: dict[str, Any], r: Report, action: str,
            played: list[tuple[Report, str, str]]) -> dict[str, Any] | None:
    units, cats = world["units"], world["cats"]
    if action in ("route", "transfer"):
        choices = [u for u in units if u.id != r.unit_id and not (action == "route" and u.is_triage
                                                                  and r.status == "triage")]
        fields: dict[str, Any] = {"unit_id": data.draw(st.sampled_from(choices), label="unit").id}
        return fields | ({"reason": "Không đúng thẩm quyền"} if action == "transfer" else {})
    if action == "extend":
        return {"budget": data.draw(st.sampled_from(["1d", "4h", "30m"]), label="ext"), "reason": "Cần thêm"}
    if action == "change_category":
        other = [c for c in cats if c.id != r.category_id]
        return {"category_code": data.draw(st.sampled_from(other), label="cat").code}
    if action == "change_priority":
        other = [p for p in ("normal", "urgent", "complex") if p != r.priority]
        return {"priority": data.draw(st.sampled_from(other), label="prio")}
    if action == "mark_duplicate":
        others = [o for o, _c, _p in played if o.id != r.id]
        return {"of_code": others[0].code} if others else None
    if action == "rate":
        return {"rating": data.draw(st.integers(1, 5), label="stars")}
    needs = {"hold": {"reason": "Chờ phối hợp"}, "reject": {"reason": "Không đủ thông tin"},
             "not_competent": {"reason": "Không thuộc thẩm quyền", "guidance": "Liên hệ điện lực"},
             "resolve": {"reply": "Đã xử lý xong"}, "reopen": {"reason": "Chưa xử lý xong"}}
    return needs.get(action, {})


def _act(data: Any, session: Any, world: dict[str, Any], r: Report, action: str, t: datetime,
         played: list[tuple[Report, str, str]]) -> None:
    fields = _fields(data, world, r, action, played)
    if fields is None:
        return
    reporter = action == "rate"
    with contextlib.suppress(Conflict):  # e.g. an extension once overdue: refused, nothing recorded
        workflow.apply(session, r, action, actor=world["reporter"] if reporter else world["staff"], at=t,
                       expected_version=None if reporter else r.version, **fields)


def _compare(product: dict[str, Any], oracle: dict[str, Any], where: str) -> None:
    for key, want in oracle.items():
        assert product[key] == want, f"{where}: {key}: product {product[key]!r} ≠ oracle {want!r}"


def _check(session: Any, world: dict[str, Any], played: list[tuple[Report, str, str]], start: datetime,
           end: datetime, now: datetime) -> None:
    events = load_events(session)
    as_of = max(start + timedelta(seconds=1), min(end, now))
    cache: dict[datetime, list[tuple[Report, Any]]] = {}

    def replays(until: datetime, category: int | None = None, area: int | None = None) -> list[Any]:
        """Every report replayed up to ``until`` (once per instant), kept if it is in the category / ward."""
        if until not in cache:
            cache[until] = [(r, replay(events[r.id], until=until, budgets=world["budgets"], triage=world["triage"],
                                       category=cat, priority=prio)) for r, cat, prio in played]
        return [rp for r, rp in cache[until]
                if (category is None or r.category_id == category) and (area is None or r.area_id == area)]

    # each report's resolve deadline as the product shows it (the report columns after the whole history)
    for r, cat, prio in played:
        full = replay(events[r.id], until=datetime.max.replace(tzinfo=cal.TZ), budgets=world["budgets"],
                      triage=world["triage"], category=cat, priority=prio)
        if full.r.state in OPEN:
            assert r.resolve_due_at == full.r.due, f"{r.code}: due {r.resolve_due_at} ≠ oracle {full.r.due}"
        if full.r.state in AWAITING_ACK:
            assert r.ack_due_at == full.r.ack_due, f"{r.code}: ack due {r.ack_due_at} ≠ oracle {full.r.ack_due}"
        if events[r.id][-1].at <= now:  # the history is over by now: the inbox's overdue flag
            shown = deadlines.deadline_status(r, now) == "overdue"
            assert shown == full.breached(now), f"{r.code}: overdue flag {shown} at {now}"
    scopes = ([(None, None, None)] + [(u.id, None, None) for u in world["units"][1:]]
              + [(None, c.id, None) for c in world["cats"]] + [(None, None, w.id) for w in world["wards"]])
    for unit_id, category_id, area_id in scopes:
        got = deadlines.figures(session, start=start, end=end, now=now, unit_id=unit_id, category_id=category_id,
                                area_id=area_id)
        where = f"unit={unit_id} category={category_id} ward={area_id} now={now:%d/%m %H:%M}"
        _compare(got["period"], period_figures(replays(as_of, category_id, area_id), start, as_of, unit_id), where)
        expected_months = months(start, as_of)
        assert [m["month"] for m in got["months"]] == [m for m, _s, _e in expected_months]
        for got_m, (name, m_start, m_end) in zip(got["months"], expected_months, strict=True):
            _compare(got_m, period_figures(replays(m_end, category_id, area_id), m_start, m_end, unit_id),
                     f"{where} {name}")
        if unit_id is None:  # the unit ranking of the city, of a category, of a ward
            for row in got["units"]:
                want = period_figures(replays(as_of, category_id, area_id), start, as_of, row["unit_id"])
                _compare(row, want, f"{where} ranking {row['unit_code']}")


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large], max_examples=HISTORIES,
          deadline=None)
@given(data=st.data())
def test_every_figure_equals_the_oracle(session: Any, data: Any) -> None:
    savepoint = session.begin_nested()
    try:
        world = _world(session)
        base = data.draw(st.sampled_from(WINDOWS), label="window")
        played = _play(data, session, world, base)
        start = base.replace(day=1)
        end = (start + timedelta(days=62)).replace(day=1)
        now = start + timedelta(minutes=data.draw(st.integers(1, int((end - start).total_seconds() // 60) + 14400),
                                                  label="now"))
        boundaries = [d for r, _c, _p in played for d in (r.resolve_due_at, r.ack_due_at) if d and d > start]
        if boundaries and data.draw(st.booleans(), label="now at a deadline"):  # the edges of "overdue"
            now = data.draw(st.sampled_from(boundaries), label="deadline") + timedelta(
                minutes=data.draw(st.sampled_from([0, 0, 1, -1]), label="offset"))
        _check(session, world, played, start, end, now)
    finally:
        savepoint.rollback()
