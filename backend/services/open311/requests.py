"""GeoReport ``services`` and ``requests``: the service list, request queries and windows, tokens of requests
not yet numbered, the public status notes, the reporter's data kept as a resident (never read back).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from backend.errors import InvalidInput, NotFound
from backend.models.base import utcnow
from backend.models.categories import Category
from backend.models.clients import ApiClient
from backend.models.reports import (
    EventKind,
    Report,
    ReportEvent,
)
from backend.services import city, reports, residents
from backend.services.open311.statuses import DONE_STATES

DEFAULT_WINDOW = timedelta(days=90)
MAX_REQUESTS = 1000
MAX_PAGE_SIZE = 1000

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
