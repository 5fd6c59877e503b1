"""Ending a unit (a merger, a reorganisation): the unit stops receiving reports from a city-local day and
its open reports are handed to a successor unit **through the workflow service**, one ``transferred``
event each (``route`` for a report still waiting to be routed), so deadlines, notifications and the
timeline follow the usual rules.

- End today: the unit's ``active_to`` is the start of today (it is no longer a target at once) and its
  open reports move now, in the admin's transaction, acting as the admin (more than
  :data:`MOVE_NOW_LIMIT`: by the periodic job within 15 minutes, still as that admin).
- End on a later day (a successor is then required): the unit works normally until then;
  :func:`hand_over_due` (a periodic job) moves whatever is still open once the day has come, acting as the
  admin who set the end (from the audit trail), so each event still says who decided it. The same job
  moves a report reopened after the end (to the successor, else the IOC).
- Routing follows the successor: a routing rule or a category default naming an ended unit sends new
  reports to its successor (``services/city/routing.py``), so rules need not be rewritten the same day.
- Refused (nothing changes): a unit with open reports and no successor, a successor that has ended or
  will end, a back-dated end, the IOC. See ``city.check_unit_end``.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from backend.models.reports import OPEN_STATES, Report, State
from backend.models.staff import Staff, StaffAudit
from backend.models.units import Unit
from backend.services import city
from backend.services.events import Actor
from backend.services.reports.workflow import apply

log = logging.getLogger(__name__)

#: at most this many open reports move in the admin's request (≈ 7–14 ms each); more are left to the
#: periodic hand-over job (every 15 minutes) so the page never hits the web server's timeout
MOVE_NOW_LIMIT = 500


def end_unit(session: Session, *, actor: Staff, unit_id: int, on: date, successor_id: int | None,
             now: datetime, ip: str = "") -> tuple[Unit, int]:
    """End ``unit_id`` from the start of the city-local day ``on``; returns the unit and how many open
    reports were moved now. Raises InvalidInput/NotFound/Forbidden with nothing changed."""
    city.ensure_admin(actor)
    unit = city.get_unit(session, unit_id)
    tz = ZoneInfo(city.timezone(session))
    end = city.local_day_start(on, tz)
    successor = city.check_unit_end(session, unit=unit, end=end, on=on, today=now.astimezone(tz).date(),
                                    successor_id=successor_id, now=now)
    unit.active_to = end
    unit.successor_id = successor.id if successor else None
    session.add(unit)
    session.flush()
    city.audit_staff(session, "unit_ended", ip=ip, actor_id=actor.id, unit_id=unit.id, code=unit.code,
                     on=on.isoformat(), successor_id=unit.successor_id)
    moved = 0
    small_enough = city.open_report_count(session, unit_id) <= MOVE_NOW_LIMIT
    if successor is not None and end <= now and small_enough:
        moved = _hand_over(session, unit, successor, actor=Actor.staff(actor), at=now, on=on)
    log.info("admin %s ended unit %s from %s (successor %s, %d reports moved)", actor.id, unit.code, on,
             unit.successor_id, moved)
    return unit, moved


def _hand_over(session: Session, unit: Unit, successor: Unit, *, actor: Actor, at: datetime, on: date) -> int:
    reason = (f"Đơn vị “{unit.name_vi}” kết thúc hoạt động từ {on:%d/%m/%Y}; phản ánh được chuyển sang đơn vị "
              f"kế nhiệm “{successor.name_vi}”.")
    reports = list(session.exec(select(Report).where(Report.unit_id == unit.id,
                                                     col(Report.status).in_(list(OPEN_STATES)))
                                .order_by(col(Report.id))))
    for report in reports:
        if report.status == State.RECEIVED:
            apply(session, report, "route", actor=actor, at=at, expected_version=report.version, unit_id=successor.id)
        else:
            apply(session, report, "transfer", actor=actor, at=at, expected_version=report.version,
                  unit_id=successor.id, reason=reason)
    return len(reports)


def hand_over_due(session: Session, *, now: datetime) -> int:
    """Move the open reports of every unit whose end has come (idempotent: a unit with nothing open is
    skipped) to its heir: the successor — or the successor's successor if that one has ended too — else the
    IOC (a report resolved before the end and reopened after it must not wait in a unit nobody works in).
    Acts as the admin who set the end; a unit ended without one (a city pack) is only logged. Returns how
    many reports moved."""
    moved = 0
    for unit in session.exec(select(Unit).where(col(Unit.active_to) <= now)).all():
        if not city.open_report_count(session, unit.id):  # type: ignore[arg-type]
            continue
        admin = _who_ended(session, unit)
        if admin is None:
            log.warning("unit %s has ended with open reports but no admin ended it here; move them by hand",
                        unit.code)
            continue
        on = unit.active_to.astimezone(ZoneInfo(city.timezone(session))).date()  # type: ignore[union-attr]
        moved += _hand_over(session, unit, _heir(session, unit, now), actor=Actor.staff(admin), at=now, on=on)
    return moved


def _heir(session: Session, unit: Unit, now: datetime) -> Unit:
    """The active successor (followed like routing does, up to 5 hops), else the IOC."""
    current: Unit | None = unit
    for _ in range(5):
        current = session.get(Unit, current.successor_id) if current and current.successor_id else None
        if current is None:
            break
        if city.is_unit_active(current, now):
            return current
    return city.triage_unit(session, now)


def _who_ended(session: Session, unit: Unit) -> Staff | None:
    """The admin who set the unit's end (the newest ``unit_ended`` audit row naming it)."""
    rows = session.exec(select(StaffAudit).where(StaffAudit.kind == "unit_ended")
                        .order_by(col(StaffAudit.id).desc())).all()
    for row in rows:
        if (row.data or {}).get("unit_id") == unit.id and row.actor_id is not None:
            return session.get(Staff, row.actor_id)
    return None
