"""Personal-data retention (Decree 13/2023/NĐ-CP): anonymise closed reports past a period.

``anonymize(session, older_than="24m")`` removes every copy of the reporter's personal data that the
system keeps for a report closed before the cut-off (the data map is ``docs/privacy.md``):

- the report: its reporter link, phone numbers and e-mail addresses typed into its description, search
  text, address, attributes, public reply, closure reason and rating text, into the text of its events;
  its idempotency replays; resident actor ids;
- its photos: the private originals (with their EXIF) are deleted, EXIF columns, uploader and source URL
  erased (public, metadata-free copies stay);
- the deliveries about it: recipient, target (FCM token, Zalo user id, e-mail), text and payload;
- residents left with no report: contact data, identities, devices, follows, idempotency keys, and
  everything their chat channel kept — conversations (``external_user_id``, draft), inbound messages
  (raw payloads) and the deliveries addressed to them;
- whatever the report: chat traffic older than the period (inbound payloads, idle conversations,
  replies not about a report) and residents who never reported and were not heard from since (a Zalo
  user who only chatted, an anonymous follower).

Report rows, events and ratings stay, so every KPI computed before is computed the same after.
"""

from __future__ import annotations

import contextlib
import logging
import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, select

from backend.errors import InvalidInput
from backend.models import (
    CLOSED_STATES,
    ActorKind,
    Conversation,
    Delivery,
    Device,
    EventKind,
    Follower,
    IdempotencyKey,
    Identity,
    InboundMessage,
    Photo,
    Report,
    ReportEvent,
    Resident,
)
from backend.models.base import utcnow
from backend.services import events
from backend.services.residents import INTERACTION_RESOLUTION, forget_identities

log = logging.getLogger(__name__)
_PERIOD = re.compile(r"^\s*(\d{1,3})\s*(m|mo|month|months|d|day|days|y|year|years)\s*$", re.IGNORECASE)
#: phone numbers (Vietnamese and international, with spaces, dots or dashes) and e-mail addresses in free text
_CONTACT = re.compile(r"(?:\+|\b)(?:\d[\s.\-]?){8,13}\d\b|[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
REDACTED = "[đã ẩn]"


def redact(value: Any) -> Any:
    """``value`` with phone numbers and e-mail addresses replaced in every string (JSON walked)."""
    if isinstance(value, str):
        return _CONTACT.sub(REDACTED, value)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def parse_period(text: str) -> timedelta:
    """"24m" (months of 30.44 days), "730d", "2y" → timedelta; InvalidInput otherwise."""
    match = _PERIOD.match(text or "")
    if not match or int(match.group(1)) == 0:
        raise InvalidInput(f"Khoảng thời gian không hợp lệ: {text!r} (ví dụ: 24m, 730d, 2y).",
                           code="invalid-period")
    n, unit = int(match.group(1)), match.group(2).lower()[0]
    days = {"m": 30.44, "d": 1, "y": 365.25}[unit] * n
    return timedelta(days=days)


def anonymize(session: Session, *, older_than: str, storage: Any = None, now: datetime | None = None,
              dry_run: bool = False) -> dict[str, int]:
    """Anonymise closed reports whose ``closed_at`` is older than the period. Idempotent."""
    cutoff = (now or utcnow()) - parse_period(older_than)
    reports = session.exec(select(Report).where(Report.status.in_([str(s) for s in CLOSED_STATES]),
                                                Report.closed_at < cutoff, Report.resident_id.is_not(None))
                           ).all()
    idle = _idle_residents(session, cutoff)
    counts = {"reports": len(reports), "photos": 0, "residents": 0, "chat_messages": _old_chat_count(session, cutoff)}
    if dry_run:
        counts["residents"] = len(idle)
        return counts
    _scrub_old_chat(session, cutoff)
    for resident_id in idle:
        counts["residents"] += _scrub_resident(session, resident_id, now)
    if not reports:
        return counts
    residents = {r.resident_id for r in reports}
    for report in reports:
        counts["photos"] += _scrub_photos(session, report, storage)
        _scrub_report(session, report)
        events.record(session, report, EventKind.ANONYMIZED, actor=events.Actor.system("retention"),
                      is_public=False, data={"older_than": older_than})
    session.flush()
    for resident_id in residents:
        counts["residents"] += _scrub_resident(session, resident_id, now)
    log.info("anonymised %(reports)d reports, %(photos)d photos, %(residents)d residents", counts)
    return counts


def _scrub_report(session: Session, report: Report) -> None:
    """The report's own copies: reporter link, contact data in its texts, events, replays, deliveries."""
    session.execute(update(ReportEvent).where(ReportEvent.report_id == report.id,
                                              ReportEvent.actor_kind == ActorKind.RESIDENT).values(actor_id=None))
    for event in session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id)).all():
        cleaned = redact(event.data or {})
        if cleaned != event.data:
            event.data = cleaned
            session.add(event)
    report.resident_id = None
    report.description = redact(report.description or "")
    report.search_text = redact(report.search_text or "")
    report.attributes = redact(report.attributes or {})
    for column in ("address", "public_reply", "closure_reason", "rating_text", "original_description"):
        if getattr(report, column):
            setattr(report, column, redact(getattr(report, column)))
    session.add(report)
    for key in session.exec(select(IdempotencyKey).where(IdempotencyKey.report_id == report.id)).all():
        session.delete(key)
    _blank_deliveries(session, Delivery.report_id == report.id)


def _blank_deliveries(session: Session, where: Any) -> None:
    """Deliveries keep their state and times (delivery statistics) but no recipient, address or text."""
    session.execute(update(Delivery).where(where).values(recipient_id=None, target=None, title="", body="",
                                                         payload={}, last_error=None))


def _scrub_chat(session: Session, subjects: list[str]) -> None:
    """What a chat channel kept of these external users: conversations, raw inbound payloads, replies."""
    if not subjects:
        return
    for conversation in session.exec(select(Conversation).where(Conversation.external_user_id.in_(subjects))).all():
        session.delete(conversation)
    session.execute(update(InboundMessage).where(InboundMessage.external_user_id.in_(subjects))
                    .values(external_user_id=None, payload={}, error=None))
    _blank_deliveries(session, Delivery.target.in_(subjects))


def _old_chat_count(session: Session, cutoff: datetime) -> int:
    return len(session.exec(select(InboundMessage.id).where(InboundMessage.received_at < cutoff,
                                                            InboundMessage.external_user_id.is_not(None))).all())


def _scrub_old_chat(session: Session, cutoff: datetime) -> None:
    """Chat traffic older than the period, whoever wrote it (a user who never reported, an anonymous
    follower): raw inbound payloads, conversations idle since, replies not about a report."""
    session.execute(update(InboundMessage).where(InboundMessage.received_at < cutoff)
                    .values(external_user_id=None, payload={}, error=None))
    for conversation in session.exec(select(Conversation).where(Conversation.updated_at < cutoff)).all():
        session.delete(conversation)
    _blank_deliveries(session, (Delivery.report_id.is_(None)) & (Delivery.created_at < cutoff))


def _idle_residents(session: Session, cutoff: datetime) -> list[int]:
    """Residents with no report at all, created before the cut-off and not heard from since (a chat user
    who never reported, a sign-up never used)."""
    reported = select(Report.resident_id).where(Report.resident_id.is_not(None))
    recent = select(Identity.resident_id).where(Identity.last_interaction_at >= cutoff)
    return list(session.exec(select(Resident.id).where(Resident.created_at < cutoff, Resident.anonymized_at.is_(None),
                                                      Resident.id.not_in(reported), Resident.id.not_in(recent))).all())


def _scrub_photos(session: Session, report: Report, storage: Any) -> int:
    photos = session.exec(select(Photo).where(Photo.report_id == report.id)).all()
    for photo in photos:
        if storage is not None and photo.original_key:
            with contextlib.suppress(FileNotFoundError):
                storage.delete(photo.original_key)
        photo.original_key = ""
        photo.exif_lat = photo.exif_lon = photo.exif_taken_at = None
        photo.resident_id = None
        photo.source_url = None
        session.add(photo)
    return len(photos)


def _scrub_resident(session: Session, resident_id: int, now: datetime | None = None) -> int:
    """Erase a resident's personal data once no report of theirs remains attached — unless they used the
    app just now (any process may still map their uid to them: ``residents.resident_id_for_identity``)."""
    if session.exec(select(Report.id).where(Report.resident_id == resident_id).limit(1)).first():
        return 0
    if session.exec(select(Identity.id).where(Identity.resident_id == resident_id, Identity.last_interaction_at
                                              >= (now or utcnow()) - 2 * INTERACTION_RESOLUTION).limit(1)).first():
        return 0
    resident = session.get(Resident, resident_id)
    if resident is None or resident.anonymized_at is not None:
        return 0
    subjects = list(session.exec(select(Identity.subject).where(Identity.resident_id == resident_id)).all())
    forget_identities(subjects)  # this process's uid cache
    _scrub_chat(session, subjects)
    _blank_deliveries(session, Delivery.recipient_id == resident_id)
    for model in (Identity, Device, Follower, IdempotencyKey):
        for row in session.exec(select(model).where(model.resident_id == resident_id)).all():
            session.delete(row)
    for model in (Conversation, Photo):
        session.execute(update(model).where(model.resident_id == resident_id).values(resident_id=None))
    resident.display_name = resident.email = resident.phone = None
    resident.anonymized_at = utcnow()
    session.add(resident)
    return 1
