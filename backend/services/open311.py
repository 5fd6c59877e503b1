"""Open311 GeoReport v2 on our domain: services, request queries, reporter data, mySociety updates.

- Our typed states map to the spec's ``open``/``closed`` (DESIGN §6) and to mySociety's extended,
  lowercase statuses in the ``servicerequestupdates`` feed.
- :func:`find_requests` implements ``GET requests`` (``service_request_id`` overrides every other
  filter; default window 90 days, at most 1000 rows, newest first).
- :func:`post_update` lets a department's own system drive a report: an API client bound to the
  report's unit posts ``FIXED`` / ``IN_PROGRESS`` / … and we apply the matching workflow action with
  the client as actor. Updates are deduplicated on (client, ``update_id``) in ``external_updates``.

Nothing here exposes personal data: reporter fields go to a ``Resident`` + ``Identity("open311")``
and are never read back by the Open311 views.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend.errors import Conflict, Forbidden, InvalidInput, NotFound
from backend.models.base import utcnow
from backend.models.categories import Category
from backend.models.clients import ApiClient, ExternalUpdate
from backend.models.photos import Photo, PhotoRole
from backend.models.reports import CLOSED_STATES, FIXED_STATES, EventKind, Report, ReportEvent, State
from backend.services.events import Actor
from backend.services.photos import pipeline as photos
from backend.services.reports import codes, workflow
from backend.services.reports import lookup as reports
from backend.services.residents import residents

log = logging.getLogger(__name__)

DEFAULT_WINDOW = timedelta(days=90)
MAX_REQUESTS = 1000
MAX_PAGE_SIZE = 1000
MAX_UPDATES = 1000
RETRY_WINDOW = timedelta(hours=1)

#: our state -> mySociety's extended status (lowercase, as in the adapter's GET schema)
UPDATE_STATUS: dict[str, str] = {
    State.RECEIVED: "open", State.TRIAGE: "for_triage", State.ASSIGNED: "open",
    State.ACKNOWLEDGED: "investigating", State.IN_PROGRESS: "in_progress", State.ON_HOLD: "action_scheduled",
    State.RESOLVED: "fixed", State.REOPENED: "reopen", State.REJECTED: "no_further_action",
    State.NOT_COMPETENT: "not_councils_responsibility", State.DUPLICATE: "duplicate", State.CLOSED: "closed",
}

#: posted status (upper case) -> workflow action; ``None`` = no state change, just the public reply
POSTED_ACTION: dict[str, str | None] = {
    "FIXED": "resolve", "CLOSED": "resolve",
    "IN_PROGRESS": "start", "ACTION_SCHEDULED": "start", "PLANNED": "start",
    "OPEN": "acknowledge", "INVESTIGATING": "acknowledge",
    "NOT_COUNCILS_RESPONSIBILITY": "not_competent", "DUPLICATE": "mark_duplicate",
    "NO_FURTHER_ACTION": "reject", "CANCELLED": "reject",
    "REOPEN": "reopen", "UNCHANGED": None, "INTERNAL_REFERRAL": None, "FOR_TRIAGE": None,
}

#: the state each action leads to: posting it again on a report already there is just a reply
ACTION_TARGET: dict[str, frozenset[str]] = {
    "resolve": frozenset({State.RESOLVED, State.CLOSED}), "start": frozenset({State.IN_PROGRESS}),
    "acknowledge": frozenset({State.ACKNOWLEDGED, State.IN_PROGRESS, State.ON_HOLD}),
    "not_competent": frozenset({State.NOT_COMPETENT}), "mark_duplicate": frozenset({State.DUPLICATE}),
    "reject": frozenset({State.REJECTED}), "reopen": frozenset({State.REOPENED}),
}

FEED_KINDS = (EventKind.STATUS_CHANGED, EventKind.PUBLIC_REPLY, EventKind.REOPENED,
              EventKind.DUPLICATE_LINKED)
_CODE_IN_TEXT = re.compile(r"\bPA[-\s]?[0-9A-Za-z]{6}\b")


def open311_status(state: str) -> str:
    """``open`` or ``closed`` (DESIGN §6: resolved and every final state are closed)."""
    return "closed" if state in CLOSED_STATES or state in FIXED_STATES else "open"


# --------------------------------------------------------------------------- services


def list_services(session: Session) -> list[Category]:
    """Active categories residents may report (emergencies go to the hotlines instead)."""
    stmt = (select(Category).where(Category.active == True)  # noqa: E712
            .where(Category.is_emergency == False)  # noqa: E712
            .order_by(Category.sort_order, Category.code))
    return list(session.exec(stmt))


def get_service(session: Session, code: str) -> Category:
    """The active category ``code``. Raises NotFound."""
    category = session.exec(select(Category).where(Category.code == code)).first()
    if category is None or not category.active:
        raise NotFound(f"Không có dịch vụ (loại phản ánh) mã {code}.", code="unknown-service")
    return category


# --------------------------------------------------------------------------- reading requests


@dataclass
class RequestQuery:
    """``GET requests`` filters, already parsed. ``ids`` overrides every other filter."""

    ids: list[str] = field(default_factory=list)
    service_codes: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    page: int = 1
    page_size: int | None = None


def find_requests(session: Session, query: RequestQuery, *, now: datetime | None = None) -> list[Report]:
    """Reports matching ``query``, newest first. Raises InvalidInput for an unknown status or bad range."""
    if query.ids:
        wanted = [c for c in (codes.normalize_code(i) for i in query.ids) if c]
        if not wanted:
            return []
        stmt = select(Report).where(col(Report.code).in_(wanted)).order_by(col(Report.created_at).desc())
        return list(session.exec(stmt.limit(MAX_REQUESTS)))
    now = now or utcnow()
    stmt = select(Report)
    statuses = {s.lower() for s in query.statuses}
    if statuses - {"open", "closed"}:
        raise InvalidInput("status chỉ nhận open hoặc closed.", code="invalid-status")
    closed = sorted(CLOSED_STATES | FIXED_STATES)
    if statuses == {"open"}:
        stmt = stmt.where(col(Report.status).not_in(closed))
    elif statuses == {"closed"}:
        stmt = stmt.where(col(Report.status).in_(closed))
    if query.service_codes:
        stmt = stmt.join(Category, Category.id == Report.category_id).where(
            col(Category.code).in_(query.service_codes))
    start, end = query.start, query.end
    if start and end and start > end:
        raise InvalidInput("start_date phải trước end_date.", code="invalid-range")
    if start is None and end is None and query.updated_after is None and query.updated_before is None:
        start = now - DEFAULT_WINDOW
    elif start is None and end is not None:
        start = end - DEFAULT_WINDOW
    if start is not None:
        stmt = stmt.where(Report.created_at >= start)
    if end is not None:
        stmt = stmt.where(Report.created_at <= end)
    if query.updated_after is not None:
        stmt = stmt.where(Report.updated_at >= query.updated_after)
    if query.updated_before is not None:
        stmt = stmt.where(Report.updated_at <= query.updated_before)
    size = min(query.page_size or MAX_REQUESTS, MAX_PAGE_SIZE)
    offset = (max(query.page, 1) - 1) * size
    stmt = stmt.order_by(col(Report.created_at).desc(), col(Report.id).desc()).offset(offset).limit(size)
    return list(session.exec(stmt))


def get_request(session: Session, service_request_id: str) -> Report:
    """The report with this public code (any spelling a human would type). Raises NotFound."""
    return reports.get_by_code(session, service_request_id)


def find_by_token(session: Session, token: str) -> Report:
    """The report created with this token. Raises NotFound."""
    report = find_by_ref(session, token_ref(token))
    if report is None:
        raise NotFound("Không có yêu cầu nào với token này.", code="unknown-token")
    return report


def token_ref(token: str) -> str:
    """The ``reports.external_ref`` of a report posted through Open311 with this token/fingerprint."""
    return "o311:" + token


def find_by_ref(session: Session, ref: str, *, since: datetime | None = None) -> Report | None:
    stmt = select(Report).where(Report.external_ref == ref)
    if since is not None:
        stmt = stmt.where(Report.created_at >= since)
    return session.exec(stmt.order_by(col(Report.id).desc())).first()


def fingerprint(*, client: ApiClient, fields: dict[str, Any], blobs: list[bytes]) -> str:
    """A stable id of one POST (client, parameters, uploaded bytes): a retry has the same one.

    Used as the token and, through :func:`token_ref`, stored on the report.
    """
    digest = hashlib.sha256(json.dumps([client.id, fields], sort_keys=True, default=str).encode())
    for blob in blobs:
        digest.update(hashlib.sha256(blob).digest())
    return digest.hexdigest()[:32]


def find_retry(session: Session, *, token: str, now: datetime | None = None) -> Report | None:
    """The report an identical POST created within :data:`RETRY_WINDOW` (Open311 retries), or None."""
    return find_by_ref(session, token_ref(token), since=(now or utcnow()) - RETRY_WINDOW)


def latest_public_replies(session: Session, report_ids: list[int]) -> dict[int, str]:
    """``report_id -> text`` of the latest public reply (``status_notes``): a reply, or the text
    given with a resolution / a "not competent" guidance."""
    if not report_ids:
        return {}
    stmt = (select(ReportEvent).where(col(ReportEvent.report_id).in_(report_ids))
            .where(col(ReportEvent.kind).in_((EventKind.PUBLIC_REPLY, EventKind.STATUS_CHANGED)))
            .where(ReportEvent.is_public == True)  # noqa: E712
            .order_by(col(ReportEvent.at), col(ReportEvent.id)))
    notes: dict[int, str] = {}
    for event in session.exec(stmt):
        text = event_text(event)
        if text:
            notes[event.report_id] = text
    return notes


def event_text(event: ReportEvent, keys: tuple[str, ...] = ("text", "reply", "guidance", "reason")) -> str | None:
    """The public text an event carries (never internal notes: callers pass public events only)."""
    for key in keys:
        value = (event.data or {}).get(key)
        if isinstance(value, str) and value.strip():
            return value
    return None


def report_photos(session: Session, report_ids: list[int]) -> dict[int, list[Photo]]:
    """``report_id -> report photos`` that have a public copy, oldest first."""
    if not report_ids:
        return {}
    stmt = (select(Photo).where(col(Photo.report_id).in_(report_ids)).where(Photo.role == PhotoRole.REPORT)
            .where(col(Photo.public_key).is_not(None)).order_by(col(Photo.id)))
    found: dict[int, list[Photo]] = {}
    for photo in session.exec(stmt):
        found.setdefault(photo.report_id, []).append(photo)  # type: ignore[arg-type]
    return found


# --------------------------------------------------------------------------- posting requests


def reporter_resident(session: Session, *, client: ApiClient, fields: dict[str, str | None]) -> int | None:
    """Find or create the resident behind a POST's reporter fields (kept private). None if no field."""
    fields = {k: v.strip()[:255] for k, v in fields.items() if isinstance(v, str) and v.strip()}
    handle = fields.get("account_id") or (fields.get("email") or "").lower() or fields.get("phone") \
        or fields.get("device_id")
    if not handle:
        return None
    resident = residents.resident_for_identity(session, provider="open311",
                                               subject=f"c{client.id}:{handle}"[:255], data=fields)
    name = " ".join(p for p in (fields.get("first_name"), fields.get("last_name")) if p and p != "-")
    resident.display_name = resident.display_name or name or None
    resident.email = resident.email or _email(fields.get("email"))
    resident.phone = resident.phone or (fields.get("phone") or "")[:32] or None
    session.add(resident)
    session.flush()
    return resident.id


def _email(value: str | None) -> str | None:
    return value[:255] if value and "@" in value else None


# --------------------------------------------------------------------------- mySociety updates


def updates_feed(session: Session, *, start: datetime | None, end: datetime | None,
                 now: datetime | None = None) -> list[tuple[ReportEvent, Report]]:
    """Public status changes and replies between ``start`` and ``end`` (default: the last 2 hours)."""
    now = now or utcnow()
    end = end or now
    start = start or end - timedelta(hours=2)
    if start > end:
        raise InvalidInput("start_date phải trước end_date.", code="invalid-range")
    stmt = (select(ReportEvent, Report).join(Report, Report.id == ReportEvent.report_id)
            .where(col(ReportEvent.kind).in_(FEED_KINDS)).where(ReportEvent.is_public == True)  # noqa: E712
            .where(ReportEvent.at >= start).where(ReportEvent.at <= end)
            .order_by(col(ReportEvent.at), col(ReportEvent.id)).limit(MAX_UPDATES))
    return [(event, report) for event, report in session.exec(stmt)]


def after_photos(session: Session, events: list[ReportEvent]) -> dict[int, Photo]:
    """``event_id -> first "after" photo`` with a public copy, for resolutions that carry photos."""
    wanted: dict[int, int] = {}
    for event in events:
        ids = (event.data or {}).get("after_photo_ids") or []
        if ids and isinstance(ids[0], int):
            wanted[ids[0]] = event.id  # type: ignore[assignment]
    if not wanted:
        return {}
    rows = session.exec(select(Photo).where(col(Photo.id).in_(list(wanted)))
                        .where(col(Photo.public_key).is_not(None)))
    return {wanted[p.id]: p for p in rows}  # type: ignore[index]


def feed_status(event: ReportEvent, report: Report) -> str:
    return UPDATE_STATUS.get(event.to_state or report.status, "open")


@dataclass(frozen=True)
class PostedUpdate:
    update_id: str
    service_request_id: str
    status: str
    description: str
    updated_at: datetime | None = None
    media_urls: tuple[str, ...] = ()


def post_update(session: Session, *, client: ApiClient, update: PostedUpdate) -> ExternalUpdate:
    """Apply an external status update to a report with ``client`` as actor; idempotent per update_id.

    Raises NotFound (unknown report), Forbidden (client not bound to the report's unit),
    InvalidInput (unknown status, missing description, action not possible in the current state).
    """
    status = update.status.strip().upper().replace(" ", "_")
    if status not in POSTED_ACTION:
        raise InvalidInput(f"Trạng thái {update.status} không được hỗ trợ.", code="invalid-status")
    external_id = update.update_id.strip()[:128]
    existing = session.exec(select(ExternalUpdate).where(ExternalUpdate.api_client_id == client.id)
                            .where(ExternalUpdate.external_id == external_id)).first()
    if existing is not None:
        return existing
    report = get_request(session, update.service_request_id)
    if client.unit_id is None or client.unit_id != report.unit_id:
        raise Forbidden("Ứng dụng này không được cập nhật phản ánh của đơn vị khác.", code="wrong-unit")
    row = _claim(session, client=client, external_id=external_id, report=report, at=update.updated_at)
    action, fields = _action_for(session, report, status, update)
    if action is None:
        action, fields = "reply", {"text": _need_text(update)}
    event = workflow.apply(session, report, action, actor=Actor.api_client(client),
                           expected_version=report.version, **fields)
    row.event_id = event.id
    session.add(row)
    session.flush()
    log.info("external update %s from client %s applied to %s (%s)", external_id, client.id, report.code, action)
    return row


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


def _need_text(update: PostedUpdate) -> str:
    text = update.description.strip()
    if not text:
        raise InvalidInput("Thiếu description (nội dung cập nhật).", code="description-required")
    return text


def _action_for(session: Session, report: Report, status: str, update: PostedUpdate
                ) -> tuple[str | None, dict[str, Any]]:
    action = POSTED_ACTION[status]
    if action is None or report.status in ACTION_TARGET.get(action, frozenset()):
        return None, {}
    if action == "acknowledge" and report.status not in (State.ASSIGNED, State.REOPENED):
        return None, {}
    if action == "start" and report.status == State.ON_HOLD:
        return "resume", {}
    text = update.description.strip()
    if action == "resolve":
        fields: dict[str, Any] = {"reply": _need_text(update)}
        photo_ids = _fetch_after_photos(session, update.media_urls)
        if photo_ids:
            fields["after_photo_ids"] = photo_ids
        return action, fields
    if action in ("reject", "reopen"):
        return action, {"reason": _need_text(update)}
    if action == "not_competent":
        return action, {"reason": _need_text(update), "guidance": text}
    if action == "mark_duplicate":
        match = _CODE_IN_TEXT.search(text)
        original = codes.normalize_code(match.group(0)) if match else None
        if not original or original == report.code:
            log.info("DUPLICATE for %s without an original code: kept as a reply", report.code)
            return None, {}
        return action, {"of_code": original}
    return action, {}


def _fetch_after_photos(session: Session, urls: tuple[str, ...]) -> list[int]:
    if not urls:
        return []
    ids = []
    for url in urls[:5]:
        photo = photos.accept_remote(session, url=url, resident_id=None, role=PhotoRole.AFTER, source="open311")
        ids.append(photo.id)
    return ids
