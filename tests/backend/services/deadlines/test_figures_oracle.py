"""Property test: every deadline and KPI figure the product computes equals the independent oracle's
(``tests/oracle``: minute-by-minute calendar, event log only).

Random histories: intake at any minute (nights, weekends, Tết 2026, the substituted working Saturday
22/8/2026), routing to a unit or the IOC, dispatch, transfer, acknowledge, start, hold/resume, extension,
category and priority changes, resolve, rate, reopen, duplicate, reject, not competent; "now" at a random
minute inside the period (or after it). Checked: each open report's resolve deadline; per city, unit and
category, for the period and each month: received, resolved, open, open overdue as of now, closures, on-time
rate, median/P90 time to acknowledge and to resolve (working and calendar hours), reopen and reroute rates,
satisfaction.

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
from backend.models.categories import Category
from backend.models.reports import Report
from backend.models.units import Unit
from backend.services import deadlines
from tests.fixtures.kpi_histories import Story
from tests.oracle import calendar as cal
from tests.oracle.figures import load_events, months, period_figures
from tests.oracle.history import AWAITING_ACK, OPEN, replay

BUDGETS = ({"ack": "8h", "urgent": "4h", "normal": "3d", "complex": "15d"},
           {"ack": "2h", "urgent": "90m", "normal": "16h", "complex": "5d"})
#: Tết 2026 (16–20/2 off) and the substituted working Saturday 22/8/2026 (for Monday 31/8)
WINDOWS = (datetime(2026, 2, 9, tzinfo=cal.TZ), datetime(2026, 8, 17, tzinfo=cal.TZ),
           datetime(2026, 11, 16, tzinfo=cal.TZ))
HISTORIES = int(os.environ.get("ORACLE_HISTORIES", "0")) or None
NEXT = {"assigned": ["acknowledged", "transfer", "rejected", "duplicate", "not_competent"],
        "triage": ["transfer", "rejected"],
        "acknowledged": ["in_progress", "resolved", "on_hold", "transfer", "extend", "change"],
        "in_progress": ["on_hold", "resolved", "extend", "change", "not_competent"],
        "on_hold": ["in_progress", "resolved", "not_competent", "extend", "change"],
        "resolved": ["rate", "reopened"],
        "reopened": ["in_progress", "resolved", "on_hold"]}
GAPS = st.one_of(st.integers(0, 3), st.integers(1, 240), st.integers(240, 6000))


def _world(session: Any) -> dict[str, Any]:
    units = [Unit(code="or-ioc", name_vi="IOC", kind="ioc", is_triage=True),
             Unit(code="or-a", name_vi="Phòng A"), Unit(code="or-b", name_vi="Phường B")]
    cats = [Category(code=f"or-c{i}", name_vi=f"Lĩnh vực {i}", sla=dict(b)) for i, b in enumerate(BUDGETS)]
    session.add_all(units + cats)
    session.flush()
    return {"units": units, "cats": cats, "budgets": {c.id: c.sla for c in cats},
            "triage": {units[0].id}}


def _play(data: Any, session: Any, world: dict[str, Any], base: datetime) -> list[tuple[Report, Category, str]]:
    """Draws and writes 1–6 report histories; returns (report, initial category, initial priority)."""
    units, cats = world["units"], world["cats"]
    story = Story(session, cats[0])
    out = []
    for _ in range(data.draw(st.integers(1, 6), label="reports")):
        t = base + timedelta(minutes=data.draw(st.integers(0, 14 * 24 * 60), label="intake"))
        cat = data.draw(st.sampled_from(cats), label="category")
        priority = data.draw(st.sampled_from(["normal", "urgent", "complex"]), label="priority")
        r = story.new(t, priority=priority, category=cat)
        out.append((r, cat, priority))
        t += timedelta(minutes=data.draw(GAPS, label="gap"))
        story.route(r, data.draw(st.sampled_from(units), label="route"), t)
        for _step in range(data.draw(st.integers(0, 7), label="steps")):
            options = NEXT.get(r.status)
            if not options:
                break
            action = data.draw(st.sampled_from(options), label="action")
            t += timedelta(minutes=data.draw(GAPS, label="gap"))
            _act(data, story, r, action, t, units, cats)
    session.flush()
    return out


def _act(data: Any, story: Story, r: Report, action: str, t: datetime, units: list[Unit],
         cats: list[Category]) -> None:
    if action == "transfer":
        target = data.draw(st.sampled_from([u for u in units[1:] if u.id != r.unit_id] or units[1:]), label="to")
        story.route(r, target, t, transfer=True)
    elif action == "extend":
        with contextlib.suppress(Conflict):  # already overdue: refused, nothing recorded
            story.extend(r, data.draw(st.sampled_from(["1d", "4h", "30m"]), label="ext"), t, units[1])
    elif action == "change":
        if data.draw(st.booleans(), label="what"):
            story.change(r, t, category=data.draw(st.sampled_from(cats), label="cat"))
        else:
            story.change(r, t, priority=data.draw(st.sampled_from(["normal", "urgent", "complex"]), label="prio"))
    elif action == "rate":
        story.rate(r, data.draw(st.integers(1, 5), label="stars"), t)
    elif action == "reopened":
        story.move(r, "reopened", t, kind="reopened", reason="Chưa xử lý xong")
    elif action == "duplicate":
        story.move(r, "duplicate", t, kind="duplicate_linked")
    elif action == "resolved":
        story.move(r, "resolved", t, data={"reply": "Đã xử lý"})
    else:
        story.move(r, action, t, reason="Lý do" if action in ("on_hold", "rejected", "not_competent") else None)


def _compare(product: dict[str, Any], oracle: dict[str, Any], where: str) -> None:
    for key, want in oracle.items():
        assert product[key] == want, f"{where}: {key}: product {product[key]!r} ≠ oracle {want!r}"


def _check(session: Any, world: dict[str, Any], played: list[tuple[Report, Category, str]], start: datetime,
           end: datetime, now: datetime) -> None:
    events = load_events(session)
    as_of = max(start + timedelta(seconds=1), min(end, now))

    def replays(until: datetime, category: int | None = None) -> list[Any]:
        return [replay(events[r.id], until=until, budgets=world["budgets"], triage=world["triage"],
                       category=cat.id, priority=prio)
                for r, cat, prio in played if category is None or r.category_id == category]

    # each report's resolve deadline as the product shows it (the report columns after the whole history)
    for r, cat, prio in played:
        full = replay(events[r.id], until=datetime.max.replace(tzinfo=cal.TZ), budgets=world["budgets"],
                      triage=world["triage"], category=cat.id, priority=prio)
        if full.r.state in OPEN:
            assert r.resolve_due_at == full.r.due, f"{r.code}: due {r.resolve_due_at} ≠ oracle {full.r.due}"
        if full.r.state in AWAITING_ACK:
            assert r.ack_due_at == full.r.ack_due, f"{r.code}: ack due {r.ack_due_at} ≠ oracle {full.r.ack_due}"
        if events[r.id][-1].at <= now:  # the history is over by now: the inbox's overdue flag
            shown = deadlines.deadline_status(r, now) == "overdue"
            assert shown == full.breached(now), f"{r.code}: overdue flag {shown} at {now}"
    scopes = [(None, None)] + [(u.id, None) for u in world["units"][1:]] + [(None, c.id) for c in world["cats"]]
    for unit_id, category_id in scopes:
        got = deadlines.figures(session, start=start, end=end, now=now, unit_id=unit_id, category_id=category_id)
        where = f"unit={unit_id} category={category_id} now={now:%d/%m %H:%M}"
        _compare(got["period"], period_figures(replays(as_of, category_id), start, as_of, unit_id), where)
        expected_months = months(start, as_of)
        assert [m["month"] for m in got["months"]] == [m for m, _s, _e in expected_months]
        for got_m, (name, m_start, m_end) in zip(got["months"], expected_months, strict=True):
            _compare(got_m, period_figures(replays(m_end, category_id), m_start, m_end, unit_id), f"{where} {name}")
        if unit_id is None and category_id is None:
            for row in got["units"]:
                want = period_figures(replays(as_of), start, as_of, row["unit_id"])
                _compare(row, want, f"ranking {row['unit_code']}")


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large], max_examples=HISTORIES or settings().max_examples,
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
