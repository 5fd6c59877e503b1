"""mySociety's updates: the feed (``GET servicerequestupdates``; update ids are event ids, a sender's own
events never published to it) and updates posted by unit keys and senders (``POST``), deduplicated per
(client, ``update_id``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend.errors import Conflict, Forbidden, InvalidInput
from backend.models.base import utcnow
from backend.models.clients import ApiClient, ExternalUpdate
from backend.models.photos import Photo, PhotoRole
from backend.models.reports import (
    ActorKind,
    EventKind,
    Report,
    ReportEvent,
)
from backend.services import city, photos, reports
from backend.services.events import Actor
from backend.services.open311.requests import get_request, reporter_resident
from backend.services.open311.statuses import DONE_STATES, Status, parse_status, published_status

log = logging.getLogger(__name__)

MAX_UPDATES = 1000
_CODE_IN_TEXT = re.compile(r"\bPA[-\s]?[0-9A-Za-z]{6}\b")

# --------------------------------------------------------------------------- the updates feed

FEED_KINDS = (EventKind.STATUS_CHANGED, EventKind.PUBLIC_REPLY, EventKind.REOPENED,
              EventKind.DUPLICATE_LINKED, EventKind.TRANSFERRED)


@dataclass(frozen=True)
class FeedItem:
    event: ReportEvent
    report: Report
    state: str  # the report's state right after the event

    @property
    def status(self) -> str:
        return published_status(self.event, self.state)


def updates_feed(session: Session, *, start: datetime | None, end: datetime | None,
                 now: datetime | None = None) -> list[FeedItem]:
    """The city's public updates between ``start`` and ``end`` (default: the last 2 hours), oldest first.

    A sender's own updates (recorded from its POSTs, attributed to its residents) are left out;
    a transfer only when a unit's system referred the report back with a word of the vocabulary.
    """
    end = end or now or utcnow()
    start = start or end - timedelta(hours=2)
    if start > end:
        raise InvalidInput("start_date phải trước end_date.", code="invalid-range")
    from_sender = exists().where(ExternalUpdate.event_id == ReportEvent.id)
    stmt = (select(ReportEvent, Report).join(Report, Report.id == ReportEvent.report_id).where(reports.listed())
            .where(col(ReportEvent.kind).in_(FEED_KINDS)).where(ReportEvent.is_public == True)  # noqa: E712
            .where(~((ReportEvent.actor_kind == ActorKind.RESIDENT) & from_sender))
            .where(ReportEvent.at >= start).where(ReportEvent.at <= end)
            .order_by(col(ReportEvent.at), col(ReportEvent.id)).limit(MAX_UPDATES))
    rows = [(e, r) for e, r in session.exec(stmt)
            if e.kind != EventKind.TRANSFERRED or (e.data or {}).get("open311_status")]
    states = reports.states_after(session, [e for e, _ in rows])
    return [FeedItem(e, r, states[e.id]) for e, r in rows]  # type: ignore[index]


def after_photos(session: Session, events: list[ReportEvent]) -> dict[int, Photo]:
    """``event_id -> first "after" photo`` with a public copy, for resolutions that carry photos."""
    first = {e.id: ids[0] for e in events if (ids := (e.data or {}).get("after_photo_ids")) and isinstance(ids[0], int)}
    public = photos.public_photos(session, list(first.values()))
    return {event_id: public[pid] for event_id, pid in first.items() if pid in public}  # type: ignore[misc]


# --------------------------------------------------------------------------- posted updates


@dataclass(frozen=True)
class PostedUpdate:
    update_id: str
    service_request_id: str
    status: str
    description: str
    updated_at: datetime | None = None
    media_urls: tuple[str, ...] = ()
    duplicate_of: str | None = None
    #: who the sender says wrote it: first_name, last_name, email, phone, account_id
    author: dict[str, str | None] = field(default_factory=dict)


def post_update(session: Session, *, client: ApiClient, update: PostedUpdate) -> ReportEvent:
    """Record one posted update as one event (returned); a repeat of ``update_id`` returns the same one.

    Raises NotFound (unknown report), Forbidden (neither the report's unit's key nor its sender),
    InvalidInput (unknown status, missing text, bad media URL), Conflict (a state change the
    workflow refuses, the same update being posted concurrently).
    """
    status = parse_status(update.status)
    external_id = update.update_id.strip()[:128]
    existing = session.exec(select(ExternalUpdate).where(ExternalUpdate.api_client_id == client.id)
                            .where(ExternalUpdate.external_id == external_id)).first()
    if existing is not None and existing.event_id is not None:
        return session.get(ReportEvent, existing.event_id)  # type: ignore[return-value]
    report = get_request(session, update.service_request_id)
    acts_for_unit = client.unit_id is not None and client.unit_id == report.unit_id
    if not acts_for_unit and client.id != report.api_client_id:
        raise Forbidden("Ứng dụng này không được cập nhật phản ánh này (không phải bên gửi, không thuộc "
                        "đơn vị xử lý).", code="wrong-unit")
    row = _claim(session, client=client, external_id=external_id, report=report, at=update.updated_at)
    event = (_unit_update if acts_for_unit else _sender_update)(session, client, report, status, update)
    event.data = {**(event.data or {}), "open311_status": status.word}  # the sender's own word, kept
    row.event_id = event.id
    session.add_all([event, row])
    session.flush()
    log.info("update %s from client %s on %s: %s %s", external_id, client.id, report.code, status.word, event.kind)
    return event


def _claim(session: Session, *, client: ApiClient, external_id: str, report: Report,
           at: datetime | None) -> ExternalUpdate:
    """Insert the dedup row first (with the client's own update time): a concurrent post of the same
    update waits, then gets a Conflict."""
    row = ExternalUpdate(api_client_id=client.id, external_id=external_id, report_id=report.id,
                         external_updated_at=at)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise Conflict("Cập nhật này đang được xử lý; vui lòng thử lại sau.", code="update-in-progress") from None
    return row


def _unit_update(session: Session, client: ApiClient, report: Report, status: Status,
                 update: PostedUpdate) -> ReportEvent:
    """The unit's action for the word (``STATUSES``), its text the public reply; else a reply."""
    text = update.description.strip()
    action = status.unit_actions.get(report.status)
    fields: dict[str, Any] = {}
    if action in ("acknowledge", "start", "resume"):
        fields = {"reply": text} if text else {}
    elif action == "resolve":
        fields = {"reply": text, "after_photo_ids": _fetch(session, update.media_urls, PhotoRole.AFTER, None)}
    elif action in ("reject", "reopen", "close"):
        fields = {"reason": text}
    elif action == "not_competent":
        fields = {"reason": text, "guidance": text}
    elif action == "mark_duplicate":
        original = _original(session, update.duplicate_of, text, report)
        action, fields = ("mark_duplicate", {"of_code": original, "reply": text}) if original else (None, {})
    elif action == "refer":
        action = "transfer"
        fields = {"unit_id": city.triage_unit(session).id,
                  "reason": text or "Đơn vị chuyển lại Trung tâm điều hành để phân loại."}
    if action is None:
        action, fields = "reply", {"text": text}
    return reports.apply(session, report, action, actor=Actor.api_client(client), expected_version=report.version,
                          **{k: v for k, v in fields.items() if v not in (None, "", [])})


def _original(session: Session, duplicate_of: str | None, text: str, report: Report) -> str | None:
    """The original's code: ``duplicate_of`` (must exist: InvalidInput), else an existing ``PA-…`` code
    named in the text, else None (the update is then a reply)."""
    if duplicate_of:
        code = reports.normalize_code(duplicate_of)
        if not code or code == report.code or not session.exec(select(Report.id).where(Report.code == code)).first():
            raise InvalidInput(f"duplicate_of: không có phản ánh {duplicate_of[:20]}.", code="unknown-duplicate-of")
        return code
    for match in _CODE_IN_TEXT.finditer(text):
        code = reports.normalize_code(match.group(0))
        if code and code != report.code and session.exec(select(Report.id).where(Report.code == code)).first():
            return code
    return None


def _sender_update(session: Session, client: ApiClient, report: Report, status: Status,
                   update: PostedUpdate) -> ReportEvent:
    """A resident comment; a reporter's reopening (OPEN/REOPEN on a finished report) where the city allows."""
    resident_id = reporter_resident(session, client=client, fields=update.author)
    actor = Actor.sender(client, resident_id)
    photo_ids = _fetch(session, update.media_urls, PhotoRole.COMMENT, resident_id)
    text = update.description.strip()
    if status.word in ("OPEN", "REOPEN") and report.status in DONE_STATES and text \
            and city.open311_sender_status_changes(session):
        try:
            return reports.apply(session, report, "reopen", actor=actor, reason=text, photo_ids=photo_ids)
        except (Conflict, Forbidden, InvalidInput) as exc:  # not the reporter, window passed, ...
            log.info("sender reopening of %s kept as a comment: %s", report.code, exc.code)
    return reports.apply(session, report, "sender_comment", actor=actor, text=text or None, photo_ids=photo_ids)


def _fetch(session: Session, urls: tuple[str, ...], role: str, resident_id: int | None) -> list[int]:
    """Pending photos for ``media_url`` links (fetched by a worker, SSRF-safe). Raises InvalidInput."""
    return [photos.accept_remote(session, url=url, resident_id=resident_id, role=role, source="open311").id
            for url in urls[:5]]  # type: ignore[misc]
