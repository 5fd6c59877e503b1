"""Deadlines and KPIs (DESIGN §7): the SLA clocks on the working calendar (start, pause, extend, breach,
escalate, digest), the KPIs computed from events, the units' monthly ranking and the dashboard figures.

Public functions: ``sweep escalate digest units_with_deadlines deadline_status expected_resolution
compute_kpis month_range monthly_ranking Scope scope_for dashboard_figures heat_points
unit_ranking``.
"""

from backend.services.deadlines.dashboard import Scope, heat_points, scope_for
from backend.services.deadlines.dashboard import figures as dashboard_figures
from backend.services.deadlines.dashboard import ranking as unit_ranking
from backend.services.deadlines.kpis import compute as compute_kpis
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

__all__ = ["Scope", "compute_kpis", "dashboard_figures", "deadline_status", "digest", "escalate",
           "expected_resolution", "heat_points", "month_range", "monthly_ranking", "scope_for", "sweep",
           "unit_ranking", "units_with_deadlines"]
