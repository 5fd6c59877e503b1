"""Deadlines and KPIs (DESIGN §7): the SLA clocks on the working calendar (start, pause, extend, breach,
escalate, digest), the KPIs computed from events, the units' monthly ranking and the dashboard figures.

Every KPI figure shown anywhere comes from one call: ``figures(session, *, start, end, now, unit_id=None,
category_id=None, area_id=None)`` (as of ``min(end, now)``; see ``figures.py`` and docs/kpis.md).

Public functions: ``figures sweep escalate digest units_with_deadlines deadline_status expected_resolution
month_range monthly_ranking Scope scope_for dashboard_figures heat_points``.
"""

from backend.services.deadlines.dashboard import Scope, heat_points, scope_for
from backend.services.deadlines.dashboard import figures as dashboard_figures
from backend.services.deadlines.figures import figures
from backend.services.deadlines.kpis import month_range
from backend.services.deadlines.ranking import monthly as monthly_ranking
from backend.services.deadlines.sla import (
    deadline_status,
    digest,
    escalate,
    expected_resolution,
    sweep,
    units_with_deadlines,
)

__all__ = ["Scope", "dashboard_figures", "deadline_status", "digest", "escalate", "expected_resolution",
           "figures", "heat_points", "month_range", "monthly_ranking", "scope_for", "sweep",
           "units_with_deadlines"]
