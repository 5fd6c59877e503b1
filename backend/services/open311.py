"""Open311 GeoReport v2 on our domain: services, request queries, reporter data, mySociety updates.

The contract is ``docs/open311.md`` §2. In short:

- :data:`STATUSES` is the one table of mySociety's extended status words, both ways: which of our
  states a word describes (published as posted for those states), which word each state publishes,
  and which workflow action a unit key's word takes from which state.
- :func:`post_update`: a **unit key** (bound to the report's unit) acts for the unit, its text the
  public reply; the report's **sender** (the key that created it) speaks for its residents: a resident
  comment, never a state change except a reporter's reopening where the city allows it. The word
  posted stays on the event (``data["open311_status"]``); updates are deduplicated per
  (client, ``update_id``) in ``external_updates``.
- **Update ids are event ids**: a POST answers the id of the event it recorded, the feed
  (:func:`updates_feed`) publishes events under their ids and never a sender's own events.
- :func:`find_requests` implements ``GET requests``; :func:`public_notes` gives ``status_notes`` and
  ``updated_datetime`` (a closed request keeps those of its closing).

Nothing here exposes personal data: reporter fields go to a ``Resident`` + ``Identity("open311")``
and are never read back by the Open311 views.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend.errors import Conflict, Forbidden, InvalidInput, NotFound
from backend.models.base import utcnow
from backend.models.categories import Category
from backend.models.clients import ApiClient, ExternalUpdate
from backend.models.photos import Photo, PhotoRole
from backend.models.reports import (
    CLOSED_STATES,
    FIXED_STATES,
    OPEN_STATES,
    ActorKind,
    EventKind,
    Report,
    ReportEvent,
    State,
)
from backend.services import city, photos, reports, residents
from backend.services.events import Actor

log = logging.getLogger(__name__)

DEFAULT_WINDOW = timedelta(days=90)
MAX_REQUESTS = 1000
MAX_PAGE_SIZE = 1000
MAX_UPDATES = 1000
_CODE_IN_TEXT = re.compile(r"\bPA[-\s]?[0-9A-Za-z]{6}\b")
#: a closed request (GeoReport ``closed``): resolved or final
DONE_STATES = CLOSED_STATES | FIXED_STATES
S = State

# --------------------------------------------------------------------------- the status vocabulary

_STARTABLE = frozenset({S.ASSIGNED, S.ACKNOWLEDGED, S.REOPENED})
_WORKING = frozenset({S.ASSIGNED, S.ACKNOWLEDGED, S.IN_PROGRESS, S.ON_HOLD, S.REOPENED})


@dataclass(frozen=True)
class Status:
    """One word of mySociety's extended vocabulary (``docs/open311.md`` §2.5).

    ``describes``: our states the word is true of (the feed publishes a posted word for them);
    ``published_for``: our states that publish this word when an event carries no word of its own;
    ``unit_actions``: state before → workflow action when a unit key posts the word (else a reply).
    """

    word: str
    describes: frozenset[str] = frozenset()
    published_for: frozenset[str] = frozenset()
    unit_actions: dict[str, str] = field(default_factory=dict)


def _each(states: frozenset[str], action: str) -> dict[str, str]:
    return {state: action for state in states}


STATUSES: dict[str, Status] = {s.word: s for s in (
    Status("OPEN", OPEN_STATES, frozenset({S.RECEIVED, S.TRIAGE, S.ASSIGNED, S.REOPENED}),
           _each(DONE_STATES, "reopen")),
    Status("REOPEN", unit_actions=_each(DONE_STATES, "reopen")),
    Status("UNCHANGED"),
    Status("INVESTIGATING", OPEN_STATES, frozenset({S.ACKNOWLEDGED}),
           {S.ASSIGNED: "acknowledge", S.REOPENED: "acknowledge"}),
    Status("IN_PROGRESS", OPEN_STATES, frozenset({S.IN_PROGRESS}), {**_each(_STARTABLE, "start"), S.ON_HOLD: "resume"}),
    Status("ACTION_SCHEDULED", OPEN_STATES, frozenset({S.ON_HOLD}), _each(_STARTABLE, "start")),
    Status("PLANNED", OPEN_STATES, unit_actions=_each(_STARTABLE, "start")),
    Status("FIXED", frozenset({S.RESOLVED, S.CLOSED}), frozenset({S.RESOLVED}), _each(_WORKING, "resolve")),
    Status("CLOSED", frozenset({S.RESOLVED, S.CLOSED}), frozenset({S.CLOSED}),
           {**_each(_WORKING, "resolve"), S.RESOLVED: "close"}),
    Status("NO_FURTHER_ACTION", frozenset({S.REJECTED}), frozenset({S.REJECTED}), _each(OPEN_STATES, "reject")),
    Status("CANCELLED", frozenset({S.REJECTED}), unit_actions=_each(OPEN_STATES, "reject")),
    Status("NOT_COUNCILS_RESPONSIBILITY", frozenset({S.NOT_COMPETENT}), frozenset({S.NOT_COMPETENT}),
           _each(OPEN_STATES, "not_competent")),
    Status("DUPLICATE", frozenset({S.DUPLICATE}), frozenset({S.DUPLICATE}), _each(OPEN_STATES, "mark_duplicate")),
    Status("INTERNAL_REFERRAL", OPEN_STATES, unit_actions=_each(_WORKING, "refer")),
    Status("FOR_TRIAGE", OPEN_STATES, unit_actions=_each(_WORKING, "refer")),
)}
#: our state -> the word it publishes
STATE_WORDS: dict[str, str] = {state: s.word for s in STATUSES.values() for state in s.published_for}


def parse_status(value: str) -> Status:
    """The :class:`Status` of a posted word (any case, spaces for underscores). Raises InvalidInput."""
    word = value.strip().upper().replace(" ", "_")
    if word not in STATUSES:
        raise InvalidInput(f"Trạng thái {value[:40]} không được hỗ trợ.", code="invalid-status")
    return STATUSES[word]


def published_status(event: ReportEvent, state: str) -> str:
    """The lower-case word the feed publishes for ``event``, the report being in ``state`` after it."""
    posted = STATUSES.get(str((event.data or {}).get("open311_status") or ""))
    word = posted.word if posted is not None and state in posted.describes else STATE_WORDS.get(state, "OPEN")
    return word.lower()


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


def services_changed_at(session: Session) -> datetime:
    """When a service or its definition last changed (city pack load, admin edit): discovery's changeset."""
    return city.catalog_changed_at(session)


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
        wanted = [c for c in (reports.normalize_code(i) for i in query.ids) if c]
        if not wanted:
            return []
        stmt = (select(Report).where(col(Report.code).in_(wanted), reports.listed())
                .order_by(col(Report.created_at).desc()))
        return list(session.exec(stmt.limit(MAX_REQUESTS)))
    stmt = select(Report).where(reports.listed())
    statuses = {s.lower() for s in query.statuses}
    if statuses - {"open", "closed"}:
        raise InvalidInput("status chỉ nhận open hoặc closed.", code="invalid-status")
    if statuses == {"open"}:
        stmt = stmt.where(col(Report.status).not_in(sorted(DONE_STATES)))
    elif statuses == {"closed"}:
        stmt = stmt.where(col(Report.status).in_(sorted(DONE_STATES)))
    if query.service_codes:
        stmt = stmt.join(Category, Category.id == Report.category_id).where(
            col(Category.code).in_(query.service_codes))
    stmt = _window(stmt, query, now or utcnow())
    size = min(query.page_size or MAX_REQUESTS, MAX_PAGE_SIZE)
    offset = (max(query.page, 1) - 1) * size
    stmt = stmt.order_by(col(Report.created_at).desc(), col(Report.id).desc()).offset(offset).limit(size)
    return list(session.exec(stmt))


def _window(stmt: Any, query: RequestQuery, now: datetime) -> Any:
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
    return stmt


def get_request(session: Session, service_request_id: str) -> Report:
    """The report with this public code (any spelling a human would type). Raises NotFound."""
    return reports.get_by_code(session, service_request_id)


def public_request(session: Session, service_request_id: str) -> Report:
    """The report for a public read: NotFound also when staff hid it (``reports.is_listed``)."""
    report = reports.get_by_code(session, service_request_id)
    if not reports.is_listed(report):
        raise NotFound("Không tìm thấy phản ánh với mã này.", code="report-not-found")
    return report


def find_by_token(session: Session, token: str) -> Report:
    """The report created with this token. Raises NotFound."""
    report = session.exec(select(Report).where(Report.external_ref == token_ref(token))).first()
    if report is None or not reports.is_listed(report):
        raise NotFound("Không có yêu cầu nào với token này.", code="unknown-token")
    return report


def new_token() -> str:
    """A fresh token for a posted request (GeoReport ``batch`` services answer it instead of an id)."""
    return secrets.token_hex(16)


def token_ref(token: str) -> str:
    """The ``reports.external_ref`` of a report posted through Open311 with this token."""
    return "o311:" + token


def token_of(report: Report) -> str | None:
    ref = report.external_ref or ""
    return ref[len("o311:"):] if ref.startswith("o311:") else None


#: the events whose public text is a request's ``status_notes``: the city's words, not a resident's
NOTE_KINDS = (EventKind.STATUS_CHANGED, EventKind.PUBLIC_REPLY, EventKind.DUPLICATE_LINKED)


@dataclass(frozen=True)
class Notes:
    """``status_notes`` and ``updated_datetime`` of a request."""

    text: str | None
    at: datetime


def public_notes(session: Session, report_list: list[Report]) -> dict[int, Notes]:
    """``report_id -> Notes``. An open request: its latest public text and its last change. A closed
    one: the text and time of the event that closed it (later replies do not move them)."""
    ids = [r.id for r in report_list if r.id is not None]
    if not ids:
        return {}
    stmt = (select(ReportEvent).where(col(ReportEvent.report_id).in_(ids))
            .where(col(ReportEvent.kind).in_(NOTE_KINDS)).where(ReportEvent.is_public == True)  # noqa: E712
            .order_by(col(ReportEvent.at), col(ReportEvent.id)))
    texts: dict[int, str | None] = {}
    closings: dict[int, ReportEvent] = {}
    for event in session.exec(stmt):
        texts[event.report_id] = reports.public_text(event) or texts.get(event.report_id)
        if event.to_state in DONE_STATES and event.from_state not in DONE_STATES:
            closings[event.report_id] = event
    out = {}
    for report in report_list:
        closing = closings.get(report.id) if report.status in DONE_STATES else None  # type: ignore[arg-type]
        if closing is not None:
            out[report.id] = Notes(reports.public_text(closing) or _duplicate_text(closing), closing.at)
        else:
            out[report.id] = Notes(texts.get(report.id) or report.public_reply, report.updated_at)  # type: ignore[index]
    return out  # type: ignore[return-value]


def _duplicate_text(event: ReportEvent) -> str | None:
    of_code = (event.data or {}).get("of_code")
    return f"Trùng phản ánh {of_code}" if of_code else None


def reporter_resident(session: Session, *, client: ApiClient, fields: dict[str, str | None]) -> int | None:
    """The private resident behind a POST's reporter fields (the same person from the same client is one
    resident), or None when the fields name nobody."""
    resident = residents.resident_for_contact(session, provider="open311", namespace=f"c{client.id}", fields=fields)
    return resident.id if resident is not None else None


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
