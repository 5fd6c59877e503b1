"""Morning digests: per unit, what is due today and what is overdue (in-app feed, and e-mail to the
unit's address when SMTP is configured). One digest per unit per working day."""

from __future__ import annotations

import logging
from datetime import date, datetime, time

from sqlmodel import Session, select

from backend import queue
from backend.models import Delivery, Outbox, Report, Role, SendState, Staff, Unit
from backend.models.base import utcnow
from backend.services import deadlines, notify
from backend.services.city import load_calendar

log = logging.getLogger(__name__)

DIGEST_FROM = time(7, 0)
JOB = "handlers.digests.send_unit_digest"


def sweep_digests(session: Session, *, now: datetime | None = None) -> int:
    """Periodic: from 07:00 on working days, enqueue each unit's digest once; returns how many."""
    now = now or utcnow()
    calendar = load_calendar(session)
    local = calendar.local(now)
    if local.time() < DIGEST_FROM or not calendar.is_working_day(local.date()):
        return 0
    day = local.date().isoformat()
    done = {(row.args or {}).get("unit_id") for row in session.exec(
        select(Outbox).where(Outbox.job_name == JOB, Outbox.args["day"].as_string() == day)).all()}
    queued = 0
    for unit_id in deadlines.units_with_deadlines(session, now=now):
        if unit_id not in done:
            queue.enqueue(session, JOB, unit_id=unit_id, day=day)
            queued += 1
    return queued


def _line(report: Report, calendar_local) -> str:
    due = calendar_local(report.resolve_due_at)
    return f"- {report.code} (hạn {due:%H:%M %d/%m/%Y})"


def send_unit_digest(session: Session, *, unit_id: int, day: str) -> None:
    """Write the digest of ``unit_id`` for ``day`` to its staff's feeds (and the unit's e-mail)."""
    unit = session.get(Unit, unit_id)
    if unit is None:
        return
    calendar = load_calendar(session)
    now = utcnow()
    lists = deadlines.digest(session, unit_id=unit_id, now=now)
    if not lists["due_today"] and not lists["overdue"]:
        return
    when = date.fromisoformat(day)
    title = f"Bản tin ngày {when:%d/%m/%Y}: {len(lists['due_today'])} đến hạn, {len(lists['overdue'])} quá hạn"
    parts = [f"{unit.name_vi}"]
    if lists["due_today"]:
        parts.append(f"Đến hạn hôm nay ({len(lists['due_today'])}):")
        parts += [_line(r, calendar.local) for r in lists["due_today"][:50]]
    if lists["overdue"]:
        parts.append(f"Quá hạn ({len(lists['overdue'])}):")
        parts += [_line(r, calendar.local) for r in lists["overdue"][:50]]
    body = "\n".join(parts)[:4000]
    payload = {"unit_id": unit_id, "day": day, "due_today": [r.code for r in lists["due_today"]],
               "overdue": [r.code for r in lists["overdue"]]}
    staff = session.exec(select(Staff).where(Staff.unit_id == unit_id, Staff.is_active,
                                             Staff.role != Role.VIEWER)).all()
    for person in staff:
        notify.insert_once(session, Delivery(
            dedupe_key=f"digest:{unit_id}:{day}:staff{person.id}:feed", recipient_kind="staff",
            recipient_id=person.id, channel="feed", template="digest", locale=person.locale or "vi", title=title,
            body=body, payload=payload, send_state=SendState.SENT, sent_at=now))
    settings = _settings()
    if unit.email and settings is not None and getattr(settings, "smtp_url", None):
        row = notify.insert_once(session, Delivery(
            dedupe_key=f"digest:{unit_id}:{day}:unit{unit_id}:email", recipient_kind="unit", recipient_id=unit_id,
            channel="email", target=unit.email, template="digest", title=title, body=body, payload=payload))
        if row is not None:
            queue.enqueue(session, "handlers.notifications.send_delivery", delivery_id=row.id)
    log.info("digest for unit %s on %s: %d due, %d overdue", unit_id, day, len(lists["due_today"]),
             len(lists["overdue"]))


def _settings() -> object | None:
    try:
        return queue.runtime().config.get("settings")
    except RuntimeError:  # no job runtime (called outside a worker): feed only
        return None


