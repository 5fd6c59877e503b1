"""The one KPI call: every figure the product shows (``GET /api/v1/stats``, the ranking API, the dashboard cards,
the unit ranking, the monthly table, ``kpis.csv``, the public page's headline) comes from :func:`figures`.

Figures are computed **as of** ``min(end, now)``: a period that is still running (this month) is judged as it
stands now — an open report whose deadline is still ahead is not overdue, and nothing that has not happened
yet is counted. The definitions are in ``services/deadlines/kpis.py`` and, for a reader checking by hand,
``docs/kpis.md``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from backend.models.units import Unit
from backend.services.city.calendar import load_calendar
from backend.services.deadlines import kpis


def _empty_units(session: Session) -> list[Unit]:
    return list(session.exec(select(Unit).where(Unit.is_triage.is_(False)).order_by(Unit.code)).all())


def _ranked(session: Session, facts: list[kpis.Facts], idx: int, start: datetime, as_of: datetime,
            calendar: Any, only: int | None, own: Callable[[], dict[str, Any]]) -> list[dict[str, Any]]:
    """Non-triage units by on-time rate, best first; units with nothing to measure last, unranked. With ``only``
    (a unit's own figures), its one row is ``own()``: the period's figures, already computed."""
    per_unit = kpis.buckets(facts, idx, start, as_of, by_unit=True) if only is None else {}
    rows = []
    for unit in _empty_units(session):
        if only is not None and unit.id != only:
            continue
        fig = own() if only is not None else kpis.figures(per_unit.get(unit.id) or kpis.Bucket(), start, as_of,
                                                          calendar)
        rows.append({"unit_id": unit.id, "unit_code": unit.code, "unit_name_vi": unit.name_vi,
                     "unit_name_en": unit.name_en, **fig})
    rows.sort(key=lambda r: (r["on_time_rate"] is None, -(r["on_time_rate"] or 0), -r["closures"], r["unit_code"]))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank if row["on_time_rate"] is not None else None
    return rows


def figures(session: Session, *, start: datetime, end: datetime, now: datetime, unit_id: int | None = None,
            category_id: int | None = None, area_id: int | None = None) -> dict[str, Any]:
    """All KPI figures of [start, end) as of ``min(end, now)`` for the filters.

    Returns ``{"filters", "as_of", "period", "months", "units"}``: ``period`` and each entry of ``months``
    (city months, cut at ``as_of``) carry received, resolved, open, open_overdue, closures, on-time rate,
    time to acknowledge / resolve (median, P90; working and calendar hours), reopen and reroute rates and
    satisfaction; ``units`` is the ranking of non-triage units over the whole period (only ``unit_id``'s
    row when a unit is given). A period that starts after ``now`` has nothing yet (all counts 0).
    Raises InvalidInput for a bad period (naive datetimes, end before start, over 3 years).
    """
    kpis.check_period(start, end)
    as_of = max(start + timedelta(seconds=1), min(end, now))
    calendar = load_calendar(session)
    months = kpis.month_buckets(start, as_of, calendar)
    order = sorted({as_of} | {m_end for _s, m_end in months})
    ids = kpis.candidate_ids(session, unit_id=unit_id, category_id=category_id, area_id=area_id,
                             start=start, end=as_of)
    facts = kpis.replay_facts(session, ids, as_of, order)
    idx = order.index(as_of)
    done: dict[tuple[int, datetime, datetime], dict[str, Any]] = {}

    def aggregate(i: int, a: datetime, b: datetime) -> dict[str, Any]:
        """The figures of [a, b), computed once: a period of one month is also its only month and, for a unit,
        its ranking row (the working-time arithmetic of the durations is most of the cost)."""
        if (i, a, b) not in done:
            done[(i, a, b)] = kpis.aggregate(facts, i, a, b, unit_id, calendar)
        return copy.deepcopy(done[(i, a, b)])

    period = aggregate(idx, start, as_of)
    period["end"] = calendar.local(end).isoformat()
    return {
        "filters": {"unit_id": unit_id, "category_id": category_id, "area_id": area_id},
        "start": calendar.local(start).isoformat(), "end": calendar.local(end).isoformat(),
        "as_of": calendar.local(as_of).isoformat(),
        "period": period,
        "months": [{"month": calendar.local(m_start).strftime("%Y-%m"), **aggregate(order.index(m_end), m_start, m_end)}
                   for m_start, m_end in months],
        "units": _ranked(session, facts, idx, start, as_of, calendar, unit_id, lambda: aggregate(idx, start, as_of)),
    }
