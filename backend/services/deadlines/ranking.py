"""The public monthly ranking of units by on-time rate (as HCMC 1022 publishes), from the KPI replay.

Same definitions as ``services/deadlines/kpis.py`` (one implementation of the figures); JSON for the API and the
public page.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import Session, select

from backend.models.units import Unit
from backend.services.city.calendar import load_calendar
from backend.services.deadlines import kpis


def monthly(session: Session, *, month: date) -> list[dict[str, Any]]:
    """Public monthly ranking of (non-triage) units by on-time rate, best first (as HCMC 1022 publishes).

    Units with nothing to measure that month are listed last with ``on_time_rate: None``.
    """
    calendar = load_calendar(session)
    start, end = kpis.month_range(month, calendar)
    ids = kpis.candidate_ids(session, unit_id=None, category_id=None, area_id=None, start=start, end=end)
    facts = kpis.replay_facts(session, ids, end, [end])
    units = session.exec(select(Unit).where(Unit.is_triage.is_(False)).order_by(Unit.code)).all()
    buckets = kpis.buckets(facts, 0, start, end, by_unit=True)
    rows = []
    for unit in units:
        figures = kpis.figures(buckets.get(unit.id) or kpis.Bucket(), start, end, calendar)
        rows.append({"unit_id": unit.id, "unit_code": unit.code, "unit_name_vi": unit.name_vi,
                     "unit_name_en": unit.name_en, "closures": figures["closures"],
                     "on_time_closures": figures["on_time_closures"], "open_overdue": figures["open_overdue"],
                     "on_time_rate": figures["on_time_rate"], "satisfaction": figures["satisfaction"]})
    rows.sort(key=lambda r: (r["on_time_rate"] is None, -(r["on_time_rate"] or 0), -r["closures"], r["unit_code"]))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank if row["on_time_rate"] is not None else None
    return rows
