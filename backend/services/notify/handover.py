"""Handing the reporter's link to a person who reported by phone or at the counter (``/inbox/new``).

Staff read the person the text of :func:`handover_text` (the "received" notification: code, unit, deadline,
link) to copy into an SMS, or — when the caller's phone number is one a Zalo follower of the city's Official
Account shared with consent (:func:`zalo_contact`) — send it to that follower by Zalo with
:func:`send_link_by_zalo`: one durable ``deliveries`` row (channel ``zalo``, sent by
``handlers.notifications.send_delivery`` through the usual tiers: free or paid customer-service message, else
ZNS) and an internal ``notified`` event saying who sent it. Sending twice for the same report and follower
sends once.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from backend import queue
from backend.models import Delivery, EventKind, Identity, Report, Unit
from backend.models.base import utcnow
from backend.services import events
from backend.services.events import Actor
from backend.services.notify import deliveries
from backend.services.notify.texts import render

log = logging.getLogger(__name__)

TEMPLATE = "received"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def handover_text(session: Session, *, report: Report, link: str) -> tuple[str, str]:
    """``(title, body)`` of the "received" notification for ``report`` with ``link`` (the reporter's own)."""
    unit = session.get(Unit, report.unit_id) if report.unit_id else None
    context = {"code": report.code, "unit_vi": unit.name_vi if unit else "Trung tâm điều hành",
               "unit_en": (unit.name_en or unit.name_vi) if unit else "the operations centre",
               "due": _local(report.resolve_due_at) or "—", "link": link}
    return render(TEMPLATE, "vi", context)


def _local(at: datetime | None) -> str:
    return at.astimezone(TZ).strftime("%H:%M %d/%m/%Y") if at is not None else ""


def zalo_contact(session: Session, *, phone: str | None) -> Identity | None:
    """The Zalo follower who shared ``phone`` (``84…``) with consent (the latest consent), or None."""
    if not phone:
        return None
    return session.exec(select(Identity).where(Identity.provider == "zalo", Identity.phone == phone,
                                               col(Identity.phone_consented_at).is_not(None))
                        .order_by(col(Identity.phone_consented_at).desc()).limit(1)).first()


def send_link_by_zalo(session: Session, *, report: Report, identity: Identity, link: str,
                      actor: Actor) -> Delivery | None:
    """Queue the "received" text with ``link`` to the Zalo follower ``identity``; None if it was already sent.

    Side effects (caller commits): a ``deliveries`` row, a ``send_delivery`` job through the outbox and an
    internal ``notified`` event by ``actor``.
    """
    title, body = handover_text(session, report=report, link=link)
    unit = session.get(Unit, report.unit_id) if report.unit_id else None
    digest = hashlib.sha256(identity.subject.encode()).hexdigest()[:16]
    row = deliveries.insert_once(session, Delivery(
        dedupe_key=f"handover:{report.id}:zalo:{digest}", report_id=report.id, recipient_kind="resident",
        recipient_id=identity.resident_id, channel="zalo", target=identity.subject, template=TEMPLATE,
        locale="vi", title=title, body=body,
        payload={"code": report.code, "link": link, "event_kind": EventKind.CREATED, "state": report.status,
                 "status": report.status, "unit": unit.name_vi if unit else "", "content": "",
                 "at": utcnow().isoformat()}))
    if row is None:
        return None
    events.record(session, report, EventKind.NOTIFIED, actor=actor, is_public=False,
                  data={"channel": "zalo", "what": "reporter_link", "delivery_id": row.id})
    queue.enqueue(session, "handlers.notifications.send_delivery", delivery_id=row.id)
    log.info("report %s: the reporter's link queued to a Zalo follower (delivery %s)", report.code, row.id)
    return row
