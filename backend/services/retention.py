"""Personal-data retention (Decree 13/2023/NĐ-CP): anonymise closed reports past a period.

``anonymize(session, older_than="24m")`` detaches the reporter from every report closed before
the cut-off, erases the private EXIF columns and deletes the private originals of their photos
(public, metadata-free copies stay), blanks resident actor ids in their events, and scrubs the
residents left with no report: contact data, identities and devices. Report rows, events and
ratings stay, so every KPI computed before is computed the same after (a test proves it).
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
    Device,
    EventKind,
    Follower,
    IdempotencyKey,
    Identity,
    Photo,
    Report,
    ReportEvent,
    Resident,
)
from backend.models.base import utcnow
from backend.services import events

log = logging.getLogger(__name__)
_PERIOD = re.compile(r"^\s*(\d{1,3})\s*(m|mo|month|months|d|day|days|y|year|years)\s*$", re.IGNORECASE)


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
    counts = {"reports": len(reports), "photos": 0, "residents": 0}
    if dry_run or not reports:
        return counts
    residents = {r.resident_id for r in reports}
    for report in reports:
        counts["photos"] += _scrub_photos(session, report, storage)
        session.execute(update(ReportEvent).where(ReportEvent.report_id == report.id,
                                                  ReportEvent.actor_kind == ActorKind.RESIDENT)
                        .values(actor_id=None))
        report.resident_id = None
        session.add(report)
        events.record(session, report, EventKind.ANONYMIZED, actor=events.Actor.system("retention"),
                      is_public=False, data={"older_than": older_than})
    session.flush()
    for resident_id in residents:
        counts["residents"] += _scrub_resident(session, resident_id)
    log.info("anonymised %(reports)d reports, %(photos)d photos, %(residents)d residents", counts)
    return counts


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


def _scrub_resident(session: Session, resident_id: int) -> int:
    """Erase a resident's personal data once no report of theirs remains attached."""
    if session.exec(select(Report.id).where(Report.resident_id == resident_id).limit(1)).first():
        return 0
    resident = session.get(Resident, resident_id)
    if resident is None or resident.anonymized_at is not None:
        return 0
    for model in (Identity, Device, Follower, IdempotencyKey):
        for row in session.exec(select(model).where(model.resident_id == resident_id)).all():
            session.delete(row)
    for model in (Conversation, Photo):
        session.execute(update(model).where(model.resident_id == resident_id).values(resident_id=None))
    resident.display_name = resident.email = resident.phone = None
    resident.anonymized_at = utcnow()
    session.add(resident)
    return 1
