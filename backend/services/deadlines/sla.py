"""Deadlines of a report: the acknowledge clock and the resolve clock (DESIGN §7).

- **Acknowledge clock**: starts at each routing (first routing, triage included, and every transfer
  to a new unit: the new unit gets a fresh budget, ``category.sla["ack"]``, default ``8h``). It stops
  when the report leaves ``received``/``triage``/``assigned``.
- **Resolve clock**: starts at the first routing with the budget of category × priority
  (``category.sla["urgent"|"normal"|"complex"]``; no category → ``3d``). A transfer does not restart it
  (the resident's expected date stays). ``on_hold`` pauses it; leaving ``on_hold`` pushes the
  deadline by the working time paused (a pause that starts after the deadline does not cure it).
  A reopen (resident says it is not fixed) restarts it with a fresh budget from the reopen instant.
  A *gia hạn* (extension) adds a budget to the current deadline; it needs a reason and a head (of the
  report's unit), dispatcher or admin, and is refused once the deadline has passed.
  A change of category or priority while the clock runs reschedules it: the new budget counts from the
  same clock start, and the working time already added by pauses and extensions is kept
  (``sla_started`` with ``rescheduled: true`` and ``from_due_at``).

Every clock change is an event (``sla_started``, ``sla_paused``, ``sla_resumed``, ``sla_extended``,
``sla_breached``) whose data carries the clock and the resulting ``due_at``: KPIs read deadlines from
these events, never from the report columns, which are caches for queues and the resident's app.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, select

from backend import queue
from backend.errors import Conflict, Forbidden, InvalidInput
from backend.models.base import utcnow
from backend.models.categories import DEFAULT_SLA, Category, Priority
from backend.models.reports import OPEN_STATES, Report, ReportEvent, State
from backend.models.staff import Role, Staff
from backend.models.units import Unit
from backend.services import events
from backend.services.city.calendar import WorkingCalendar, default_calendar, load_calendar, parse_duration
from backend.services.events import Actor

log = logging.getLogger(__name__)

SLA_STARTED = "sla_started"
SLA_PAUSED = "sla_paused"
SLA_RESUMED = "sla_resumed"
SLA_EXTENDED = "sla_extended"
SLA_BREACHED = "sla_breached"
ESCALATED = "escalated"
ACK = "ack"
RESOLVE = "resolve"
#: states in which the acknowledge clock runs
AWAITING_ACK = frozenset({State.RECEIVED, State.TRIAGE, State.ASSIGNED})
EXTEND_ROLES = frozenset({Role.HEAD, Role.DISPATCHER, Role.ADMIN})
DUE_SOON_MINUTES = 120
SWEEP_BATCH = 500


def _iso(value: datetime) -> str:
    return value.isoformat()


def _touch(report: Report, at: datetime) -> None:
    """Keep ``updated_at`` at or after the last clock event (the KPI candidate search relies on it)."""
    if report.updated_at is None or report.updated_at < at:
        report.updated_at = at


def ack_budget(category: Category | None) -> str:
    return str((category.sla or {}).get(ACK) or DEFAULT_SLA[ACK]) if category else DEFAULT_SLA[ACK]


def resolve_budget(category: Category | None, priority: str | None) -> str:
    """Budget of category × priority; unknown priority counts as normal; no category → ``3d``."""
    level = priority if priority in {p.value for p in Priority} else Priority.NORMAL.value
    if category is None:
        return DEFAULT_SLA[Priority.NORMAL.value]
    return str((category.sla or {}).get(level) or DEFAULT_SLA[level])


def _category(session: Session, report: Report) -> Category | None:
    return session.get(Category, report.category_id) if report.category_id else None


def _start_clock(session: Session, report: Report, clock: str, budget: str, at: datetime,
                 calendar: WorkingCalendar, **extra: Any) -> datetime:
    due = calendar.add(at, budget)
    if clock == ACK:
        report.ack_due_at, report.ack_breached_at = due, None
    else:
        report.resolve_due_at, report.resolve_breached_at = due, None
    _touch(report, at)
    events.record(session, report, SLA_STARTED, actor=Actor.system("sla"), at=at,
                  data={"clock": clock, "budget": budget, "due_at": _iso(due), "unit_id": report.unit_id,
                        **extra})
    return due


def on_routed(session: Session, report: Report, *, at: datetime, is_transfer: bool = False) -> None:
    """Start the acknowledge clock for the unit now holding ``report``; start the resolve clock on
    the first routing. Side effects: sets ``ack_due_at``/``resolve_due_at``, records ``sla_started``
    (one flush for both clocks; none inside the caller's ``events.batch``, where ``report`` may be new)."""
    calendar = load_calendar(session)
    category = _category(session, report)
    if report.routed_at is None:
        report.routed_at = at
    with events.batch(session):
        _start_clock(session, report, ACK, ack_budget(category), at, calendar, is_transfer=is_transfer)
        if report.resolve_due_at is None:
            _start_clock(session, report, RESOLVE, resolve_budget(category, report.priority), at, calendar)


def on_state_change(session: Session, report: Report, *, from_state: str, to_state: str, at: datetime,
                    reason: str | None, actor: Actor) -> None:
    """Pause/resume the resolve clock around ``on_hold``; restart it on reopen (see module doc).

    Leaving ``received``/``triage``/``assigned`` stops the acknowledge clock (the sweep only looks at
    reports still awaiting acknowledgement). Records ``sla_paused``/``sla_resumed``/``sla_started``.
    """
    if from_state == to_state:
        return
    calendar = load_calendar(session)
    if from_state == State.ON_HOLD and report.sla_paused_at is not None:
        _resume(session, report, at=at, actor=actor, calendar=calendar)
    if to_state == State.ON_HOLD and report.sla_paused_at is None:
        report.sla_paused_at = at
        _touch(report, at)
        events.record(session, report, SLA_PAUSED, actor=actor, at=at,
                      data={"clock": RESOLVE, "reason": reason or "",
                            "due_at": _iso(report.resolve_due_at) if report.resolve_due_at else None})
    if to_state == State.REOPENED:
        budget = resolve_budget(_category(session, report), report.priority)
        _start_clock(session, report, RESOLVE, budget, at, calendar, reopened=True)
    session.add(report)
    session.flush()


def _resume(session: Session, report: Report, *, at: datetime, actor: Actor,
            calendar: WorkingCalendar) -> None:
    paused_at = report.sla_paused_at
    assert paused_at is not None
    paused_s = max(0.0, calendar.between_seconds(paused_at, at))
    due = report.resolve_due_at
    if due is not None and paused_at < due and paused_s > 0:  # a pause with no working time moves nothing
        due = calendar.add_seconds(due, paused_s)
        report.resolve_due_at = due
    report.sla_paused_at = None
    _touch(report, at)
    events.record(session, report, SLA_RESUMED, actor=actor, at=at,
                  data={"clock": RESOLVE, "paused_minutes": int(paused_s // 60),
                        "due_at": _iso(due) if due else None})


def extend(session: Session, report: Report, *, actor: Actor, budget: str, reason: str,
           now: datetime | None = None) -> datetime:
    """Gia hạn: add ``budget`` ("2d", "8h") to the resolve deadline; returns the new deadline.

    Raises Forbidden (role not head of the report's unit / dispatcher / admin), InvalidInput (no
    reason, bad budget), Conflict (report closed, no deadline, or already overdue). Records
    ``sla_extended``.
    """
    if actor.role not in EXTEND_ROLES or (actor.role == Role.HEAD and actor.unit_id != report.unit_id):
        raise Forbidden("Chỉ lãnh đạo đơn vị xử lý, điều phối viên hoặc quản trị viên được gia hạn.",
                        code="extend-forbidden")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Gia hạn phải có lý do.", code="reason-required")
    if len(reason) > 1000:
        raise InvalidInput("Lý do quá dài (tối đa 1000 ký tự).", code="reason-too-long")
    parse_duration(budget)
    now = now or utcnow()
    if report.status not in OPEN_STATES or report.resolve_due_at is None:
        raise Conflict("Phản ánh không còn thời hạn xử lý để gia hạn.", code="no-deadline")
    if report.sla_paused_at is None and report.resolve_due_at < now:
        raise Conflict("Phản ánh đã quá hạn; không thể gia hạn sau khi hết hạn.", code="already-overdue")
    calendar = load_calendar(session)
    previous = report.resolve_due_at
    report.resolve_due_at = calendar.add(previous, budget)
    _touch(report, now)
    events.record(session, report, SLA_EXTENDED, actor=actor, at=now,
                  data={"clock": RESOLVE, "budget": budget, "reason": reason,
                        "from_due_at": _iso(previous), "due_at": _iso(report.resolve_due_at)})
    session.add(report)
    session.flush()
    return report.resolve_due_at


def _resolve_clock_events(session: Session, report: Report) -> tuple[ReportEvent | None, ReportEvent | None]:
    """(origin, latest) ``sla_started`` events of the running resolve clock: the origin is the first
    routing or the last reopen (never a reschedule); the latest carries the budget now in force."""
    rows = session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id,
                                                  ReportEvent.kind == SLA_STARTED)
                        .order_by(ReportEvent.at.desc(), ReportEvent.id.desc())).all()
    resolve = [e for e in rows if (e.data or {}).get("clock") == RESOLVE]
    origin = next((e for e in resolve if not e.data.get("rescheduled")), None)
    return origin, (resolve[0] if resolve else None)


def _added_seconds(latest: ReportEvent, current_due: datetime, calendar: WorkingCalendar) -> float:
    """Working time added to the clock by pauses and extensions: what the latest start or reschedule
    already carried, plus the push of the deadline since it was recorded (recorded instants, so a later
    calendar edit does not change the figure)."""
    carried = float(latest.data.get("added_seconds") or 0)
    try:
        recorded = datetime.fromisoformat(str(latest.data["due_at"]))
    except (KeyError, ValueError):
        return carried
    return carried + max(0.0, calendar.between_seconds(recorded, current_due))


def on_budget_change(session: Session, report: Report, *, at: datetime) -> datetime | None:
    """Reschedule the running resolve clock after a category or priority change (see module doc).

    The new budget counts from the clock's origin (first routing or last reopen), however many changes
    came before; time added by pauses and extensions is kept. Returns the new deadline, or None when
    nothing changes (report closed, no clock yet, same budget). A breach is lifted only if the new
    deadline is still ahead.
    """
    if report.status not in OPEN_STATES or report.resolve_due_at is None:
        return None
    origin, latest = _resolve_clock_events(session, report)
    budget = resolve_budget(_category(session, report), report.priority)
    if origin is None or latest is None or latest.data.get("budget") == budget:
        return None
    calendar = load_calendar(session)
    added_s = _added_seconds(latest, report.resolve_due_at, calendar)
    previous = report.resolve_due_at
    due = calendar.add(origin.at, budget)
    if added_s:
        due = calendar.add_seconds(due, added_s)
    report.resolve_due_at = due
    if report.resolve_breached_at is not None and due > at:
        report.resolve_breached_at = None  # no longer overdue: a later breach is marked again, once
    _touch(report, at)
    events.record(session, report, SLA_STARTED, actor=Actor.system("sla"), at=at,
                  data={"clock": RESOLVE, "budget": budget, "due_at": _iso(due), "unit_id": report.unit_id,
                        "rescheduled": True, "from_due_at": _iso(previous), "added_seconds": added_s})
    session.add(report)
    session.flush()
    return due


def expected_resolution(report: Report) -> datetime | None:
    """The date promised to the resident: the resolve deadline while the report is open."""
    if report.status not in OPEN_STATES:
        return None
    return report.resolve_due_at


def _running_deadlines(report: Report) -> list[datetime]:
    due: list[datetime] = []
    if report.status in AWAITING_ACK and report.ack_due_at is not None:
        due.append(report.ack_due_at)
    if report.status in OPEN_STATES and report.sla_paused_at is None and report.resolve_due_at is not None:
        due.append(report.resolve_due_at)
    return due


def deadline_status(report: Report, now: datetime, *, calendar: WorkingCalendar | None = None) -> str:
    """``"overdue"`` if a running clock has expired (its deadline is before ``now``: the deadline instant itself is
    still on time, as for the KPIs and the sweep), ``"due_soon"`` within 2 working hours, else ``"ok"``."""
    due = _running_deadlines(report)
    if not due:
        return "ok"
    first = min(due)
    if first < now:
        return "overdue"
    calendar = calendar or default_calendar()
    return "due_soon" if calendar.between(now, first) <= DUE_SOON_MINUTES else "ok"


# ---------------------------------------------------------------------- sweep


#: written exactly as the predicate of ``ix_reports_queue`` so PostgreSQL uses that partial index
NOT_CLOSED = ("resolved", "rejected", "not_competent", "duplicate", "closed")


def _open() -> Any:
    return Report.status.not_in(NOT_CLOSED)


def _candidates(session: Session, clock: str, now: datetime) -> list[int]:
    if clock == ACK:
        stmt = select(Report.id).where(_open(), Report.ack_due_at < now, Report.ack_breached_at.is_(None),
                                       Report.status.in_([s.value for s in AWAITING_ACK]))
    else:
        stmt = select(Report.id).where(_open(), Report.resolve_due_at < now, Report.resolve_breached_at.is_(None),
                                       Report.sla_paused_at.is_(None))
    return list(session.exec(stmt.order_by(Report.id).limit(SWEEP_BATCH)).all())


def _claim(session: Session, report_id: int, clock: str, now: datetime) -> bool:
    column = Report.ack_breached_at if clock == ACK else Report.resolve_breached_at
    result = session.execute(update(Report).where(Report.id == report_id, column.is_(None))
                             .values({column.key: now}).execution_options(synchronize_session=False))
    return result.rowcount == 1


def sweep(session: Session, *, now: datetime | None = None) -> int:
    """Mark expired clocks: each breach once per clock, even with concurrent sweeps (conditional
    UPDATE). Records ``sla_breached`` and enqueues ``handlers.sla.escalate_breach``; returns the count."""
    now = now or utcnow()
    marked = 0
    for clock in (ACK, RESOLVE):
        for report_id in _candidates(session, clock, now):
            if not _claim(session, report_id, clock, now):
                continue
            report = session.get(Report, report_id)
            assert report is not None
            session.refresh(report)
            due = report.ack_due_at if clock == ACK else report.resolve_due_at
            events.record(session, report, SLA_BREACHED, actor=Actor.system("sla"), at=now,
                          data={"clock": clock, "due_at": _iso(due) if due else None, "unit_id": report.unit_id})
            queue.enqueue(session, "handlers.sla.escalate_breach", report_id=report_id, clock=clock)
            marked += 1
    if marked:
        log.info("sla sweep marked %d breach(es)", marked)
    return marked


def due_between(session: Session, *, unit_id: int, start: datetime, end: datetime) -> list[Report]:
    """Open reports of ``unit_id`` whose running resolve deadline falls in [start, end)."""
    stmt = select(Report).where(Report.unit_id == unit_id, _open(), Report.resolve_due_at >= start,
                                Report.resolve_due_at < end, Report.sla_paused_at.is_(None)
                                ).order_by(Report.resolve_due_at)
    return list(session.exec(stmt).all())


def overdue(session: Session, *, unit_id: int, now: datetime) -> list[Report]:
    """Open reports of ``unit_id`` past a running deadline (for digests and the inbox)."""
    stmt = select(Report).where(Report.unit_id == unit_id, _open(), Report.resolve_due_at < now,
                                Report.sla_paused_at.is_(None)).order_by(Report.resolve_due_at)
    return list(session.exec(stmt).all())


def local_day_bounds(calendar: WorkingCalendar, instant: datetime) -> tuple[datetime, datetime]:
    """[00:00, 24:00) of the city day containing ``instant``."""
    local = calendar.local(instant)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


# ---------------------------------------------------------------------- escalation and digests


def escalate(session: Session, *, report_id: int, clock: str) -> ReportEvent | None:
    """Escalate a breached clock to the unit head(s) and the IOC, once per breach.

    Records ``escalated`` (who was escalated to) and flags the report ``escalated`` so the IOC queue
    shows it. The breach notifications themselves are planned from ``sla_breached`` by
    ``services.notify`` ("breach" template). Returns None when there is nothing to do
    (unknown report, clock no longer breached, report closed, already escalated).
    """
    report = session.get(Report, report_id)
    if report is None or clock not in (ACK, RESOLVE) or report.status not in OPEN_STATES:
        return None
    breached_at = report.ack_breached_at if clock == ACK else report.resolve_breached_at
    if breached_at is None:
        return None
    previous = session.exec(select(ReportEvent).where(ReportEvent.report_id == report_id,
                                                      ReportEvent.kind == ESCALATED)).all()
    if any((e.data or {}).get("clock") == clock and (e.data or {}).get("breached_at") == _iso(breached_at)
           for e in previous):
        return None
    heads = session.exec(select(Staff.id).where(Staff.unit_id == report.unit_id, Staff.role == Role.HEAD,
                                                Staff.is_active)).all() if report.unit_id else []
    ioc = session.exec(select(Unit.id).where(Unit.is_triage.is_(True))).all()
    flags = dict(report.flags or {})
    flags["escalated"] = {"clock": clock, "at": _iso(utcnow())}
    report.flags = flags
    session.add(report)
    return events.record(session, report, ESCALATED, actor=Actor.system("sla"), is_public=False,
                         data={"clock": clock, "breached_at": _iso(breached_at), "unit_id": report.unit_id,
                               "head_staff_ids": list(heads), "ioc_unit_ids": list(ioc)})


def digest(session: Session, *, unit_id: int, now: datetime) -> dict[str, list[Report]]:
    """The morning digest of one unit: open reports due later today, and those already overdue."""
    calendar = load_calendar(session)
    _start, end = local_day_bounds(calendar, now)
    return {"due_today": due_between(session, unit_id=unit_id, start=now, end=end),
            "overdue": overdue(session, unit_id=unit_id, now=now)}


def units_with_deadlines(session: Session, *, now: datetime) -> list[int]:
    """Units holding open reports due by the end of the city day containing ``now``."""
    _start, end = local_day_bounds(load_calendar(session), now)
    stmt = select(Report.unit_id).where(_open(), Report.unit_id.is_not(None), Report.resolve_due_at < end).distinct()
    return sorted(u for u in session.exec(stmt).all() if u is not None)
