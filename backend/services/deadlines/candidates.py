"""Which reports the KPI replay reads: a superset of the reports carrying a fact for the filters in a period.

The replay (``kpis.replay_facts``) decides from the events; this module only narrows the search with the
report columns and indexes, so its cost must follow the period's activity, not the age of the period.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, any_, literal, or_, text, true
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Session, select

from backend.models.reports import Report, ReportEvent

HOP_KINDS = ("routed", "transferred")
CLOSED_OR_FIXED = ("resolved", "rejected", "not_competent", "duplicate", "closed")
#: a report last changed more than this after its creation is "long-lived" (partial index ``ix_reports_long_lived``)
LONG_LIVED = timedelta(days=31)
#: that index's predicate, a literal (not a bound parameter) so that generic plans can use the index too
LONG_LIVED_SQL = "reports.updated_at - reports.created_at > interval '31 days'"


def of_ids(session: Session, column: Any, ids: list[int]) -> Any:
    """``column IN ids``; one array parameter on PostgreSQL (thousands of IN bind parameters cost more than the
    query)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(ids, ARRAY(Integer)))
    return column.in_(ids)


def _long_lived(session: Session) -> Any:
    """The predicate of ``ix_reports_long_lived`` on PostgreSQL. Always implied by the queries that add it (changed
    after ``end + LONG_LIVED``, created before ``end``): it only lets the planner use the index. SQLite has none."""
    return text(LONG_LIVED_SQL) if session.get_bind().dialect.name == "postgresql" else true()


def candidate_ids(session: Session, *, unit_id: int | None, category_id: int | None, area_id: int | None,
                  start: datetime, end: datetime) -> list[int]:
    """Reports that may carry a fact for the filters in [start, end): a superset, the replay decides.

    Relies on ``updated_at`` being at or after the ``at`` of every event of the report (``events.record`` and the
    deadline hooks only ever raise it): a report with a fact in the period changed since ``start`` or is still
    open. For a unit: the reports it holds now that changed since ``start`` or are open
    (``ix_reports_unit_updated``, ``ix_reports_queue``), plus those that left it during the period or, created
    before its end, after it (``ix_report_events_from_unit``).

    Each search runs over [start, end + LONG_LIVED) only, so that an old month costs what a recent one does: a
    report created before ``end`` that changed (or left the unit) at or after ``end + LONG_LIVED`` lived longer than
    LONG_LIVED, and those few come from ``ix_reports_long_lived``. The result is the same set as one unbounded
    search (``tests/backend/services/deadlines/test_old_month.py``).
    """
    horizon = end + LONG_LIVED
    filters = [Report.created_at < end]
    if category_id is not None:
        filters.append(Report.category_id == category_id)
    if area_id is not None:
        filters.append(Report.area_id == area_id)
    is_open = Report.status.not_in(CLOSED_OR_FIXED)
    if unit_id is None:
        return list(session.exec(select(Report.id).where(*filters, or_(Report.updated_at >= start, is_open))).all())
    recent = and_(Report.updated_at >= start, Report.updated_at < horizon)
    ids = set(session.exec(select(Report.id).where(*filters, Report.unit_id == unit_id, or_(recent, is_open))).all())
    long_lived = session.exec(select(Report.id, Report.unit_id).where(
        *filters, Report.updated_at >= horizon, _long_lived(session))).all()
    ids |= {rid for rid, unit in long_lived if unit == unit_id}
    hops_out = (ReportEvent.from_unit_id == unit_id, ReportEvent.kind.in_(HOP_KINDS))
    left_during = select(ReportEvent.report_id).where(*hops_out, ReportEvent.at >= start, ReportEvent.at < end)
    left_after = (select(ReportEvent.report_id).join(Report, Report.id == ReportEvent.report_id)
                  .where(*hops_out, ReportEvent.at >= end, ReportEvent.at < horizon, *filters))
    moved = set(session.exec(left_during).all()) | set(session.exec(left_after).all())
    elsewhere = [rid for rid, unit in long_lived if unit != unit_id]
    if elsewhere:  # long-lived reports held elsewhere now: did they leave this unit after the horizon?
        moved |= set(session.exec(select(ReportEvent.report_id).where(
            *hops_out, ReportEvent.at >= horizon, of_ids(session, ReportEvent.report_id, elsewhere))).all())
    moved -= ids
    if moved and (category_id is not None or area_id is not None):
        moved = set(session.exec(select(Report.id).where(*filters, Report.id.in_(moved))).all())
    return sorted(ids | moved)
