"""The workflow service: every change to a report after intake goes through :func:`apply`.

``apply(session, report, action, actor=..., expected_version=..., **fields)``:

1. looks the action up in :data:`TRANSITIONS` (``services/reports/transitions.py``, DESIGN §6);
2. checks role × unit × ownership (Forbidden ``action-forbidden``), the version the caller saw
   (Conflict ``version-conflict``), the current state (Conflict ``invalid-transition``) and the
   fields (InvalidInput with a field-specific code) — all before anything is written;
3. bumps ``reports.version`` with one atomic ``UPDATE … WHERE id = :id AND version = :seen``
   (a concurrent writer in another process makes it match no row → Conflict), then applies the
   effects inside a SAVEPOINT: columns, ``report_events`` rows (≥ 1 per action) and deadlines
   through ``services/deadlines/sla.py``. Any error rolls the savepoint back: a refused action changes nothing.

State changes are recorded on the action's own event (``from_state``/``to_state`` set): ``routed``,
``transferred``, ``duplicate_linked``, ``reopened``, ``rated`` or ``status_changed`` (with
``data["action"]``). KPIs count a state change as any event whose ``to_state`` differs from its
``from_state``.

``expected_version`` is required from staff and API clients (the inbox posts the version it
rendered); residents and the system may omit it (the version they act on is the one loaded).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, select

from backend.errors import Conflict, Forbidden, InvalidInput
from backend.models.base import utcnow
from backend.models.reports import ActorKind, EventKind, Report, ReportEvent, State
from backend.models.staff import Role, Staff
from backend.services import events
from backend.services.city import settings as city_settings
from backend.services.events import Actor
from backend.services.reports import transitions
from backend.services.reports.actions import PREPARE
from backend.services.reports.effects import Context, close_due, reopen_deadline
from backend.services.reports.fields import FIELD_LABELS
from backend.services.reports.lookup import state_label
from backend.services.reports.transitions import TRANSITIONS, Transition, may

log = logging.getLogger(__name__)

__all__ = ["TRANSITIONS", "allowed_actions", "apply", "close_resolved", "reopen_deadline"]

# --------------------------------------------------------------------------- entry point


def apply(session: Session, report: Report, action: str, *, actor: Actor, expected_version: int | None = None,
          at: datetime | None = None, **fields: Any) -> ReportEvent:
    """Take ``action`` on ``report`` as ``actor``; returns the action's main event.

    Raises InvalidInput (unknown action/field, bad value), Forbidden (role, unit, ownership),
    Conflict (stale ``expected_version``, action not allowed in the current state, reopen window
    passed), NotFound (duplicate target). On any error nothing is changed.

    Without ``expected_version`` (residents, the system) a concurrent change is not the caller's
    mistake: the report is reloaded and the action re-checked and retried once.
    """
    try:
        return _apply(session, report, action, actor=actor, expected_version=expected_version, at=at,
                      fields=fields)
    except Conflict as exc:
        if expected_version is not None or exc.code != "version-conflict":
            raise
        log.info("report %s: concurrent change, retrying %s", report.code, action)
        session.refresh(report)
        return _apply(session, report, action, actor=actor, expected_version=None, at=at, fields=fields)


def _apply(session: Session, report: Report, action: str, *, actor: Actor, expected_version: int | None,
           at: datetime | None, fields: dict[str, Any]) -> ReportEvent:
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise InvalidInput(f"Thao tác không hợp lệ: {str(action)[:40]}.", code="unknown-action")
    unknown = set(fields) - set(transition.required) - set(transition.optional)
    if unknown:
        raise InvalidInput(f"Thao tác {action} không nhận trường: {', '.join(sorted(unknown))}.",
                           code="unknown-field", details={"fields": sorted(unknown)})
    if not may(report, actor, transition):
        raise Forbidden("Bạn không có quyền thực hiện thao tác này trên phản ánh này.", code="action-forbidden",
                        details={"action": action})
    _check_expected_version(report, actor, expected_version)
    if report.status not in transition.from_states:
        raise Conflict(f"Không thể thực hiện thao tác này khi phản ánh đang ở trạng thái "
                       f"“{state_label(report.status)}”.",
                       code="invalid-transition", details={"action": action, "state": report.status})
    _check_required(transition, fields)
    ctx = Context(session, report, actor, transition, at or utcnow(), dict(fields))
    effect = PREPARE[action](ctx)
    try:
        with session.begin_nested():
            _bump_version(session, report)
            event = effect()
            _self_assign(ctx)
            if report.updated_at is None or report.updated_at < ctx.at:  # never lowered: the KPI search relies on it
                report.updated_at = ctx.at
            session.add(report)
            session.flush()
    except Exception:
        session.expire(report)  # the savepoint is rolled back: reload what the database says
        raise
    log.info("report %s: %s by %s%s", report.code, action, actor.kind, f" {actor.id}" if actor.id else "")
    return event


#: working on a report with one of these makes the acting officer its assignee
SELF_ASSIGNING = frozenset({"acknowledge", "start", "hold", "resume", "extend", "resolve"})


def _self_assign(ctx: Context) -> None:
    """An officer or head of the report's unit who works on a report becomes its assignee — an unassigned
    one, or one assigned to a colleague (a takeover) — with an ``assigned`` event that names the previous
    officer (``from_assignee_id``/``from_assignee_name``): a resolved report never shows "not assigned",
    and the timeline says who took the work over from whom. Admins, the IOC and viewers never become
    assignees this way (they are not members of the unit; viewers never act)."""
    actor, report = ctx.actor, ctx.report
    if ctx.transition.action not in SELF_ASSIGNING or actor.kind != ActorKind.STAFF or not actor.id \
            or actor.role not in (Role.OFFICER, Role.HEAD) or actor.unit_id != report.unit_id:
        return
    previous = report.assignee_id
    if previous == int(actor.id):
        return
    before = ctx.session.get(Staff, previous) if previous is not None else None
    report.assignee_id = int(actor.id)
    events.record(ctx.session, report, EventKind.ASSIGNED, actor=actor, at=ctx.at, is_public=False,
                  data={"action": ctx.transition.action, "assignee_id": report.assignee_id,
                        "assignee_name": actor.name, "self": True, "from_assignee_id": previous,
                        "from_assignee_name": before.name if before else None})


def allowed_actions(report: Report, actor: Actor, *, session: Session | None = None,
                    at: datetime | None = None) -> list[str]:
    """Actions ``actor`` may take on ``report`` now (state × role × unit × ownership).

    With a ``session`` the time rules are checked too: the reporter's reopen window and the
    system's close delay. Field values are still only checked by :func:`apply`.
    """
    actions = transitions.allowed_actions(report, actor)
    if session is None:
        return actions
    now = at or utcnow()
    if "reopen" in actions and actor.kind == ActorKind.RESIDENT:
        deadline = reopen_deadline(session, report)
        if deadline is None or now > deadline:
            actions.remove("reopen")
    if "close" in actions and actor.kind == ActorKind.SYSTEM:
        due = close_due(session, report)
        if due is None or now < due:
            actions.remove("close")
    return actions


def close_resolved(session: Session, *, now: datetime | None = None, limit: int = 500) -> int:
    """Close (as the system) resolved reports whose ``close_after_days`` have passed; returns how many.

    For a periodic job. Each report is one ``apply`` (its own savepoint); a report changed
    concurrently is skipped and picked up by the next run.
    """
    now = now or utcnow()
    cutoff = now - timedelta(days=city_settings.close_after_days(session))
    stmt = (select(Report).where(Report.status == State.RESOLVED, Report.resolved_at <= cutoff)  # type: ignore[operator]
            .order_by(Report.resolved_at).limit(limit))
    closed = 0
    for report in session.exec(stmt).all():
        try:
            apply(session, report, "close", actor=Actor.system("auto-close"), at=now)
            closed += 1
        except (Conflict, InvalidInput) as exc:
            log.info("auto-close of %s skipped: %s", report.code, exc.code)
    if closed:
        log.info("auto-closed %d resolved report(s)", closed)
    return closed



def _check_required(transition: Transition, fields: dict[str, Any]) -> None:
    missing = [name for name in transition.required if name not in fields]
    if not missing:
        return
    labels = ", ".join(FIELD_LABELS.get(name, name) for name in missing)
    code = f"{missing[0].replace('_', '-')}-required" if len(missing) == 1 else "missing-field"
    raise InvalidInput(f"Vui lòng cung cấp: {labels}.", code=code, details={"fields": missing})


def _check_expected_version(report: Report, actor: Actor, expected_version: int | None) -> None:
    if expected_version is None:
        if actor.kind in (ActorKind.STAFF, ActorKind.API_CLIENT):
            raise InvalidInput("Thiếu phiên bản của phản ánh (expected_version).", code="version-required")
        return
    if isinstance(expected_version, bool) or not isinstance(expected_version, int) \
            or expected_version != report.version:
        raise _version_conflict(report)


def _version_conflict(report: Report) -> Conflict:
    return Conflict("Phản ánh vừa được người khác cập nhật. Vui lòng tải lại trang và thao tác lại.",
                    code="version-conflict", details={"code": report.code})


def _bump_version(session: Session, report: Report) -> None:
    """Atomic compare-and-increment of ``reports.version`` (safe across processes)."""
    seen = report.version
    stmt = (update(Report).where(Report.id == report.id, Report.version == seen)
            .values(version=Report.version + 1).execution_options(synchronize_session=False))
    result = session.exec(stmt)  # type: ignore[call-overload]
    if result.rowcount != 1:
        raise _version_conflict(report)
    set_committed_value(report, "version", seen + 1)
