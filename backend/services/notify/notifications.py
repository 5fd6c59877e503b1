"""Who hears what: one decision per report event, turned into durable ``deliveries`` rows.

``plan(session, event_id=...)`` reads one ``report_events`` row and writes one ``Delivery`` per
recipient × channel × target with a deterministic ``dedupe_key`` (event, recipient, channel,
target): running it twice — a retried job, a relay after a crash — creates nothing new. Each
non-feed delivery is sent by ``handlers.notifications.send_delivery`` (enqueued in the same
transaction); the in-app feed rows are final at once.

Audiences (DESIGN §10, notifications issue):

- reporter: received (with code), routed/transferred, acknowledged, public reply, resolved (with
  reply and after photo), rejected / not competent / duplicate (with reason and link), reopened;
- followers: resolved and duplicate;
- the unit's staff: new report in the queue, resident comment, reopen;
- the unit head and the IOC dispatchers: deadline breach.

Channels: ``feed`` (always, for residents and staff), ``fcm`` (each active device of a resident),
``zalo`` (residents with a Zalo identity), ``email`` (a unit's address, when SMTP is configured).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from backend import queue
from backend.models import (
    Delivery,
    Device,
    EventKind,
    Follower,
    Identity,
    Photo,
    Report,
    ReportEvent,
    Resident,
    Role,
    SendState,
    Staff,
    State,
    Unit,
)
from backend.services import events
from backend.services.notify import deliveries
from backend.services.notify.links import public_link, reporter_link
from backend.services.notify.texts import render

log = logging.getLogger(__name__)

URGENT_TEMPLATES = frozenset({"breach", "new_in_queue_urgent"})


@dataclass(frozen=True)
class Recipient:
    kind: str  # resident | staff | unit
    id: int
    locale: str = "vi"


def template_for(event: ReportEvent, report: Report) -> dict[str, list[str]]:
    """{template: [audiences]} for one event. Audiences: reporter, followers, unit, escalation."""
    kind, to = event.kind, event.to_state
    if kind == EventKind.CREATED:
        return {"received": ["reporter"]}
    if kind in (EventKind.ROUTED, EventKind.TRANSFERRED):
        plan = {"new_in_queue": ["unit"]}
        if event.from_state != State.RECEIVED:  # the first routing is told in "received"
            plan["routed"] = ["reporter"]
        return plan
    if kind == EventKind.REOPENED:
        return {"reopened": ["reporter", "unit"]}
    if kind == EventKind.RESIDENT_COMMENT:
        return {"comment": ["unit"]}
    if kind == EventKind.PUBLIC_REPLY:
        return {"reply": ["reporter"]}
    if kind == EventKind.SLA_BREACHED:
        return {"breach": ["escalation"]}
    if kind == EventKind.DUPLICATE_LINKED and to == State.DUPLICATE:
        return {"duplicate": ["reporter", "followers"]}
    if kind == EventKind.STATUS_CHANGED:
        return {
            State.ACKNOWLEDGED: {"acknowledged": ["reporter"]},
            State.RESOLVED: {"resolved": ["reporter", "followers"]},
            State.REJECTED: {"rejected": ["reporter"]},
            State.NOT_COMPETENT: {"not_competent": ["reporter"]},
            State.DUPLICATE: {"duplicate": ["reporter", "followers"]},
        }.get(to, {})
    return {}


def plan(session: Session, *, event_id: int, base_url: str = "", smtp_enabled: bool = False,
         secret_key: str = "") -> list[Delivery]:
    """Create the deliveries of one event (idempotent) and enqueue their sending.

    Every text carries a link to the report's page: the reporter's own signed link (``reporter_link``,
    when ``secret_key`` is given) for the reporter, the public ``/r/<code>`` for everyone else."""
    event = session.get(ReportEvent, event_id)
    if event is None:
        return []
    report = session.get(Report, event.report_id)
    created: list[Delivery] = []
    for template, audiences in template_for(event, report).items():
        context = _context(session, report, event, base_url)
        for audience in audiences:
            for recipient in _audience(session, report, event, audience):
                linked = {**context, "link": _link(report, recipient, context["link"], base_url, secret_key)}
                created += _deliveries_for(session, event, report, recipient, template, linked, smtp_enabled)
    for d in created:
        if d.channel != "feed":
            queue.enqueue(session, "handlers.notifications.send_delivery", delivery_id=d.id)
    return created


def _audience(session: Session, report: Report, event: ReportEvent, audience: str) -> list[Recipient]:
    actor_resident = int(event.actor_id) if event.actor_kind == "resident" and event.actor_id else None
    if audience == "reporter":
        if report.resident_id is None or (actor_resident == report.resident_id and event.kind != "created"):
            return []
        return [_resident(session, report.resident_id)]
    if audience == "followers":
        ids = session.exec(select(Follower.resident_id).where(Follower.report_id == report.id)).all()
        return [_resident(session, rid) for rid in ids if rid != report.resident_id]
    if audience == "unit":
        unit_id = event.to_unit_id or report.unit_id
        return [Recipient("unit", unit_id)] if unit_id else []
    if audience == "escalation":
        heads = session.exec(select(Staff).where(Staff.is_active, (
            (Staff.role == Role.HEAD) & (Staff.unit_id == report.unit_id)) | (Staff.role == Role.DISPATCHER))).all()
        return [Recipient("staff", s.id, s.locale) for s in heads]
    return []


def _link(report: Report, recipient: Recipient, public: str, base_url: str, secret_key: str) -> str:
    """The reporter's signed link for the reporter (they may comment, rate, reopen), else the public page."""
    if secret_key and recipient.kind == "resident" and recipient.id == report.resident_id:
        return reporter_link(report, base_url=base_url, secret_key=secret_key)
    return public


def _resident(session: Session, resident_id: int) -> Recipient:
    resident = session.get(Resident, resident_id)
    return Recipient("resident", resident_id, (resident.locale if resident else "vi") or "vi")


def _deliveries_for(session: Session, event: ReportEvent, report: Report, recipient: Recipient, template: str,
                    context: dict[str, Any], smtp_enabled: bool) -> list[Delivery]:
    title, body = render(template, recipient.locale, context)
    payload = {"code": report.code, "link": context["link"], "event_kind": event.kind,
               "state": report.status, "photo_url": context.get("after_photo"),
               # for a ZNS template, which carries fields rather than our text (notify/tiers.py)
               "status": event.to_state or report.status, "unit": context["unit_vi"],
               "content": _summary(template, context), "at": event.at.isoformat()}
    targets: list[tuple[str, str | None]] = [("feed", None)]
    if recipient.kind == "resident":
        devices = session.exec(select(Device).where(Device.resident_id == recipient.id, Device.is_active)).all()
        targets += [("fcm", f"{d.kind}:{d.token}") for d in devices]
        zalo = session.exec(select(Identity).where(Identity.resident_id == recipient.id,
                                                   Identity.provider == "zalo")).first()
        if zalo is not None:
            targets.append(("zalo", zalo.subject))
    elif recipient.kind == "unit":
        unit = session.get(Unit, recipient.id)
        if smtp_enabled and unit is not None and unit.email:
            targets.append(("email", unit.email))
    elif recipient.kind == "staff" and smtp_enabled:
        staff = session.get(Staff, recipient.id)
        if staff is not None:
            targets.append(("email", staff.email))
    rows = []
    for channel, target in targets:
        row = deliveries.insert_once(session, Delivery(
            dedupe_key=f"ev{event.id}:{recipient.kind}{recipient.id}:{channel}:{_short(target)}",
            report_id=report.id, event_id=event.id, recipient_kind=recipient.kind, recipient_id=recipient.id,
            channel=channel, target=target, template=template, locale=recipient.locale, title=title, body=body,
            payload=payload, send_state=SendState.SENT if channel == "feed" else SendState.PENDING,
            sent_at=event.at if channel == "feed" else None))
        if row is not None:
            rows.append(row)
    return rows


def _summary(template: str, context: dict[str, Any]) -> str:
    """The one-line content of a notification for a ZNS template: the reply, the reason, the original."""
    if template in ("reply", "resolved"):
        return context["reply"]
    if template == "duplicate":
        return f"Trùng với phản ánh {context['duplicate_of']}" if context["duplicate_of"] else ""
    if template in ("rejected", "not_competent", "reopened"):
        return context["reason"]
    return ""


def _short(target: str | None) -> str:
    if not target:
        return "-"
    import hashlib

    return hashlib.sha256(target.encode()).hexdigest()[:16]


def _context(session: Session, report: Report, event: ReportEvent, base_url: str) -> dict[str, Any]:
    unit = session.get(Unit, report.unit_id) if report.unit_id else None
    after = session.exec(select(Photo).where(Photo.report_id == report.id, Photo.role == "after",
                                             Photo.public_key.is_not(None)).order_by(Photo.id.desc())).first()
    data = events.resident_fields(event, reporter=True)  # the one visibility rule: nothing staff-only
    dup = session.get(Report, report.duplicate_of_id) if report.duplicate_of_id else None
    return {
        "code": report.code,
        "unit_vi": unit.name_vi if unit else "Trung tâm điều hành",
        "unit_en": (unit.name_en or unit.name_vi) if unit else "the operations centre",
        "due": _local(report.resolve_due_at),
        # the event's own text: by the time the job runs, the report's public_reply may be a later one
        "reply": data.get("text") or data.get("reply") or report.public_reply or "",
        "reason": data.get("reason") or "",
        "guidance": data.get("guidance") or "",
        "duplicate_of": dup.code if dup else data.get("of_code", ""),
        "comment": data.get("text", ""),
        "clock": (event.data or {}).get("clock", ""),  # SLA breaches: staff notices only
        "link": public_link(report, base_url=base_url),
        "after_photo": f"{base_url.rstrip('/')}/media/{after.public_key}" if after else None,
    }


def _local(at: datetime | None) -> str:
    if at is None:
        return ""
    return at.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%H:%M %d/%m/%Y")


def is_urgent(delivery: Delivery) -> bool:
    return delivery.template in URGENT_TEMPLATES


def feed(session: Session, *, resident_id: int, limit: int = 50, before_id: int | None = None) -> list[Delivery]:
    """The in-app notification feed of a resident, newest first."""
    stmt = select(Delivery).where(Delivery.recipient_kind == "resident", Delivery.recipient_id == resident_id,
                                  Delivery.channel == "feed")
    if before_id:
        stmt = stmt.where(Delivery.id < before_id)
    return list(session.exec(stmt.order_by(Delivery.id.desc()).limit(limit)).all())
