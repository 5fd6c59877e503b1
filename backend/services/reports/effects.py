"""What workflow actions do to a report: the action context, recording its event, moving its state.

Shared by :mod:`actions` (one prepare function per action) and :mod:`intake` (``route_report``,
``build_search_text``); :mod:`workflow` runs them. Nothing here checks permissions: ``workflow.apply``
has done that before any effect runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from backend.models.categories import Category
from backend.models.reports import CLOSED_STATES, EventKind, Report, ReportEvent, State
from backend.services import events
from backend.services.city import routing
from backend.services.city import settings as city_settings
from backend.services.deadlines import sla
from backend.services.events import Actor
from backend.services.reports.transitions import Transition
from backend.text import fold

Effect = Callable[[], ReportEvent]


@dataclass
class Context:
    """One action in flight: what prepare functions validate and effects act on."""

    session: Session
    report: Report
    actor: Actor
    transition: Transition
    at: datetime
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def from_state(self) -> str:
        return self.report.status



def reopen_deadline(session: Session, report: Report) -> datetime | None:
    """Until when the reporter may reopen (``reopen_window_days`` after the resolution), or None."""
    if report.resolved_at is None:
        return None
    return report.resolved_at + timedelta(days=city_settings.reopen_window_days(session))


def close_due(session: Session, report: Report) -> datetime | None:
    """When a resolved report closes automatically (``close_after_days`` after the resolution)."""
    if report.resolved_at is None or report.status != State.RESOLVED:
        return None
    return report.resolved_at + timedelta(days=city_settings.close_after_days(session))



def record(ctx: Context, kind: str, *, to_state: str | None = None, data: dict[str, Any] | None = None,
           from_unit_id: int | None = None, to_unit_id: int | None = None,
           is_public: bool | None = None) -> ReportEvent:
    """Record the action's event; ``to_state`` given → it carries the state change."""
    payload = {"action": ctx.transition.action, **(data or {})}
    return events.record(ctx.session, ctx.report, kind, actor=ctx.actor, at=ctx.at, is_public=is_public,
                         from_state=ctx.from_state if to_state else None, to_state=to_state,
                         from_unit_id=from_unit_id, to_unit_id=to_unit_id, data=payload)


def set_state(ctx: Context, from_state: str, to_state: str, *, reason: str | None = None) -> None:
    """Move the report to ``to_state``: timestamps that go with it, then the deadlines."""
    report, at = ctx.report, ctx.at
    report.status = to_state
    if to_state in (State.ACKNOWLEDGED, State.IN_PROGRESS, State.ON_HOLD) and report.acknowledged_at is None:
        report.acknowledged_at = at
    if to_state == State.RESOLVED:
        report.resolved_at = at
        report.closed_at = None
    elif to_state in CLOSED_STATES:
        report.closed_at = at
    else:
        report.closed_at = None
        if to_state == State.REOPENED:
            report.resolved_at = None
    if to_state != State.DUPLICATE:
        report.duplicate_of_id = None
    sla.on_state_change(ctx.session, report, from_state=from_state, to_state=to_state, at=at,
                        reason=reason, actor=ctx.actor)


def set_flag(report: Report, name: str, value: Any) -> None:
    """Flags are a JSON column: assign a new dict so the change is detected."""
    flags = dict(report.flags or {})
    if value is None:
        flags.pop(name, None)
    else:
        flags[name] = value
    report.flags = flags


def route_report(session: Session, report: Report, route: routing.Route, *, actor: Actor, at: datetime,
                 data: dict[str, Any] | None = None) -> ReportEvent:
    """Put ``report`` in the queue of ``route.unit_id`` (``triage`` for the IOC, else ``assigned``),
    record ``routed`` and start the deadlines. Used by intake and by the ``route`` action."""
    from_state, from_unit = report.status, report.unit_id
    to_state = State.TRIAGE if route.is_triage else State.ASSIGNED
    report.unit_id = route.unit_id
    if route.area_id is not None:
        report.area_id = route.area_id
    if route.priority:
        report.priority = route.priority
    report.status = to_state
    report.assignee_id = None
    payload = {"rule_id": route.rule_id, "is_triage": route.is_triage, "area_id": report.area_id,
               "priority": report.priority, **(data or {})}
    event = events.record(session, report, EventKind.ROUTED, actor=actor, at=at, from_state=from_state,
                          to_state=to_state, from_unit_id=from_unit, to_unit_id=route.unit_id, data=payload)
    sla.on_routed(session, report, at=at)
    return event


def build_search_text(report: Report, category: Category | None) -> str:
    """Accent-insensitive text the inbox searches: code, description, address, category names."""
    parts = [report.code, report.description, report.address or ""]
    if category is not None:
        parts += [category.name_vi, category.name_en]
    return fold(" ".join(p for p in parts if p))
