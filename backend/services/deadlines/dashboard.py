"""Dashboard figures: the KPIs of ``services/deadlines/kpis.py`` per month plus chart series and a heat layer.

KPI numbers come from the one KPI call, :func:`figures.figures` (events only), so the dashboard cards, the
unit ranking, the monthly table, the CSV export and ``GET /api/v1/stats`` agree; the chart series are its
monthly figures. The time-to-resolve histogram counts resolution events against the report's ``created_at``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from backend.errors import Forbidden, InvalidInput
from backend.models.reports import Report, ReportEvent
from backend.models.staff import Staff
from backend.schemas.common import parse_id
from backend.services.city import access
from backend.services.city.calendar import load_calendar
from backend.services.deadlines import figures as kpi_figures
from backend.services.deadlines import kpis

log = logging.getLogger(__name__)

#: time-to-resolve histogram buckets, in calendar hours (upper bounds)
HIST_BOUNDS = (4, 8, 24, 72, 168, 360, 720)
HIST_LABELS = ("≤ 4 giờ", "4–8 giờ", "8–24 giờ", "1–3 ngày", "3–7 ngày", "7–15 ngày", "15–30 ngày", "> 30 ngày")
MAX_HEAT_POINTS = 5000


@dataclass
class Scope:
    """What the dashboard shows: [start, end) as of ``now``, and optional unit/category/area."""

    start: datetime
    end: datetime
    now: datetime
    unit_id: int | None = None
    category_id: int | None = None
    area_id: int | None = None


def parse_month(value: str | None, default: date) -> date:
    if not value:
        return default
    try:
        year, month = value.split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        raise InvalidInput("Tháng không hợp lệ (định dạng YYYY-MM).", code="invalid-month") from None


def scope_for(session: Session, *, staff: Staff, args: Any, now: datetime) -> Scope:
    """Parse the dashboard filters; units other than the staff member's own need a city-wide role."""
    calendar = load_calendar(session)
    today = calendar.local(now).date().replace(day=1)
    first_default = (today - timedelta(days=150)).replace(day=1)
    first = parse_month(args.get("from"), first_default)
    last = parse_month(args.get("to"), today)
    if last < first:
        raise InvalidInput("Tháng kết thúc phải sau tháng bắt đầu.", code="invalid-period")
    start, _end = kpis.month_range(first, calendar)
    _start, end = kpis.month_range(last, calendar)
    unit_id = parse_id(args.get("unit_id"), "unit_id")
    if not access.sees_all_units(staff):
        if unit_id is not None and unit_id != staff.unit_id:
            raise Forbidden("Bạn chỉ xem được số liệu của đơn vị mình.", code="other-unit")
        unit_id = staff.unit_id
    return Scope(start=start, end=end, now=now, unit_id=unit_id,
                 category_id=parse_id(args.get("category_id"), "category_id"),
                 area_id=parse_id(args.get("area_id"), "area_id"))


def figures(session: Session, *, scope: Scope) -> dict[str, Any]:
    """The one KPI call (:func:`figures.figures`) for the scope, plus the chart series drawn from it."""
    result = kpi_figures.figures(session, start=scope.start, end=scope.end, now=scope.now, unit_id=scope.unit_id,
                                 category_id=scope.category_id, area_id=scope.area_id)
    months = [m["month"] for m in result["months"]]
    result["series"] = {
        "months": months,
        "received": [m["received"] for m in result["months"]],
        "resolved": [m["resolved"] for m in result["months"]],
        "on_time_rate": [None if m["on_time_rate"] is None else round(100 * m["on_time_rate"], 1)
                         for m in result.get("months", [])],
        "histogram": {"labels": list(HIST_LABELS), "counts": _histogram(session, scope)},
    }
    return result


def _scoped(stmt: Any, scope: Scope) -> Any:
    """``stmt`` (selecting from reports) narrowed to the scope's unit, category and area."""
    if scope.unit_id is not None:
        stmt = stmt.where(Report.unit_id == scope.unit_id)
    if scope.category_id is not None:
        stmt = stmt.where(Report.category_id == scope.category_id)
    if scope.area_id is not None:
        stmt = stmt.where(Report.area_id == scope.area_id)
    return stmt


def _event_stmt(scope: Scope, *columns: Any) -> Any:
    as_of = min(scope.end, scope.now)
    return _scoped(select(*columns).select_from(ReportEvent).join(Report, col(Report.id) == ReportEvent.report_id)
                   .where(ReportEvent.at >= scope.start, ReportEvent.at < as_of), scope)



def _histogram(session: Session, scope: Scope) -> list[int]:
    stmt = _event_stmt(scope, ReportEvent.at, Report.created_at).where(
        ReportEvent.to_state == "resolved", func.coalesce(ReportEvent.from_state, "") != "resolved")
    counts = [0] * (len(HIST_BOUNDS) + 1)
    for at, created in session.exec(stmt):
        hours = max(0.0, (at - created).total_seconds() / 3600)
        idx = next((i for i, bound in enumerate(HIST_BOUNDS) if hours <= bound), len(HIST_BOUNDS))
        counts[idx] += 1
    return counts


def heat_points(session: Session, *, scope: Scope) -> list[list[float]]:
    """``[lat, lon, weight]`` of reports received in the period (at most ``MAX_HEAT_POINTS``)."""
    stmt = select(Report.lat, Report.lon).where(Report.created_at >= scope.start,
                                                Report.created_at < min(scope.end, scope.now),
                                                col(Report.lat).is_not(None), col(Report.lon).is_not(None))
    stmt = _scoped(stmt, scope).order_by(col(Report.created_at).desc()).limit(MAX_HEAT_POINTS)
    return [[round(lat, 6), round(lon, 6), 0.6] for lat, lon in session.exec(stmt)]

