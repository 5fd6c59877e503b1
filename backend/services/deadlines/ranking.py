"""The public monthly ranking of units by on-time rate (as HCMC 1022 publishes): the ``units`` of the one KPI
call (:func:`figures.figures`) for that month, as of now.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from backend.models.base import utcnow
from backend.services.city.calendar import load_calendar
from backend.services.deadlines import kpis
from backend.services.deadlines.figures import figures


def monthly(session: Session, *, month: date, now: datetime | None = None) -> list[dict[str, Any]]:
    """Non-triage units of ``month`` by on-time rate, best first; units with nothing to measure are listed last
    with ``on_time_rate: None`` and ``rank: None``. Figures as of ``min(end of month, now)``."""
    start, end = kpis.month_range(month, load_calendar(session))
    return figures(session, start=start, end=end, now=now or utcnow())["units"]
