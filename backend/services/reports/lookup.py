"""Reading reports: lookup by public code, state labels (DESIGN §6), the public timeline, the map/list
of reports, nearby open reports and the flags staff see.

Everything here is read-only and returns model rows or plain dicts; channels shape them. Nearby lookup
(the duplicate suggestion shown before submitting, DESIGN §14: ≤ 10 ms at 1M reports) filters a
lat/lon bounding box on ``ix_reports_geo`` and ranks the few candidates by haversine distance.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, literal_column
from sqlmodel import Session, col, select

from backend.errors import InvalidInput, NotFound
from backend.models.reports import CLOSED_STATES, FIXED_STATES, OPEN_STATES, EventKind, Report, ReportEvent, State
from backend.models.units import Unit
from backend.services import events
from backend.services.reports.codes import normalize_code
from backend.services.reports.visibility import listed

log = logging.getLogger(__name__)

#: DESIGN §6: (Vietnamese, English, Open311 status)
STATE_LABELS: dict[str, tuple[str, str, str]] = {
    State.RECEIVED: ("Mới tiếp nhận", "Received", "open"),
    State.TRIAGE: ("Chờ phân loại", "Awaiting triage", "open"),
    State.ASSIGNED: ("Đã chuyển đơn vị xử lý", "Sent to the responsible unit", "open"),
    State.ACKNOWLEDGED: ("Đơn vị đã tiếp nhận", "Accepted by the unit", "open"),
    State.IN_PROGRESS: ("Đang xử lý", "In progress", "open"),
    State.ON_HOLD: ("Gia hạn / Chờ phối hợp", "On hold / awaiting coordination", "open"),
    State.RESOLVED: ("Đã xử lý", "Resolved", "closed"),
    State.REOPENED: ("Người dân phản ánh lại", "Reopened by the resident", "open"),
    State.REJECTED: ("Không hợp lệ", "Rejected", "closed"),
    State.NOT_COMPETENT: ("Không thuộc thẩm quyền", "Not within our competence", "closed"),
    State.DUPLICATE: ("Trùng phản ánh", "Duplicate", "closed"),
    State.CLOSED: ("Đã đóng", "Closed", "closed"),
}

#: what each public event says on the timeline when it has no state change
EVENT_LABELS: dict[str, tuple[str, str]] = {
    EventKind.CREATED: ("Đã gửi phản ánh", "Report submitted"),
    EventKind.ROUTED: ("Đã chuyển đơn vị xử lý", "Sent to the responsible unit"),
    EventKind.TRANSFERRED: ("Chuyển đơn vị xử lý", "Transferred to another unit"),
    EventKind.STATUS_CHANGED: ("Cập nhật trạng thái", "Status updated"),
    EventKind.PUBLIC_REPLY: ("Trả lời của cơ quan xử lý", "Reply from the city"),
    EventKind.RESIDENT_COMMENT: ("Ý kiến bổ sung của người dân", "Follow-up from the resident"),
    EventKind.DUPLICATE_LINKED: ("Trùng phản ánh", "Duplicate"),
    EventKind.RATED: ("Người dân đã đánh giá", "Rated by the resident"),
    EventKind.REOPENED: ("Người dân phản ánh lại", "Reopened"),
    EventKind.PHOTO_ADDED: ("Bổ sung ảnh", "Photo added"),
}

def get_by_code(session: Session, code: str | None) -> Report:
    """The report with this public code (typed by a human: case, spaces, missing dash are fine).

    Raises NotFound ``report-not-found``.
    """
    canonical = normalize_code(code)
    report = session.exec(select(Report).where(Report.code == canonical)).first() if canonical else None
    if report is None:
        raise NotFound("Không tìm thấy phản ánh với mã này. Vui lòng kiểm tra lại mã (dạng PA-XXXXXX).",
                       code="report-not-found")
    return report


def state_label(state: str, locale: str = "vi") -> str:
    """The label residents see for ``state`` (Vietnamese by default, English for ``en*``)."""
    labels = STATE_LABELS.get(state)
    if labels is None:
        return str(state)
    return labels[1] if locale.startswith("en") else labels[0]


def open311_status(state: str) -> str:
    """``open`` or ``closed`` (GeoReport v2 status) for a report state."""
    labels = STATE_LABELS.get(state)
    return labels[2] if labels else "open"


def is_final(state: str) -> bool:
    return state in CLOSED_STATES


def public_timeline(session: Session, report: Report, *, locale: str = "vi", include_comments: bool = False,
                    known_units: dict[int, str] | None = None) -> list[dict[str, Any]]:
    """Public events of ``report``, oldest first, as plain dicts safe to show anyone.

    Each item: ``at``, ``kind``, ``label``, ``state`` / ``state_label`` when the event changed the
    state, ``unit`` (name of the unit it went to, for routing and transfers) and the few public
    data fields of that kind. Resident comments' text is only included with ``include_comments``
    (the reporter's own view): the public sees that a follow-up exists, not what it said.
    ``known_units``: unit names (in ``locale``) the caller already read, so they are not read again.
    """
    stmt = select(ReportEvent).where(ReportEvent.report_id == report.id, ReportEvent.is_public == True)  # noqa: E712
    rows = session.exec(stmt.order_by(ReportEvent.at, ReportEvent.id)).all()
    en = locale.startswith("en")
    unit_names: dict[int, str] = dict(known_units or {})
    items = []
    for event in rows:
        item: dict[str, Any] = {"at": event.at, "kind": event.kind,
                                "label": _event_label(event, en)}
        if event.to_state and event.to_state != event.from_state:
            item["state"] = event.to_state
            item["state_label"] = state_label(event.to_state, locale)
        if event.to_unit_id and event.kind in (EventKind.ROUTED, EventKind.TRANSFERRED):
            item["unit"] = _unit_name(session, event.to_unit_id, unit_names, en)
        item.update(events.resident_fields(event, reporter=include_comments))
        items.append(item)
    return items


def _event_label(event: ReportEvent, en: bool) -> str:
    if event.kind == EventKind.STATUS_CHANGED and event.to_state:
        return state_label(event.to_state, "en" if en else "vi")
    labels = EVENT_LABELS.get(event.kind)
    if labels is None:
        return event.kind
    return labels[1] if en else labels[0]


def _unit_name(session: Session, unit_id: int, cache: dict[int, str], en: bool) -> str:
    if unit_id not in cache:
        unit = session.get(Unit, unit_id)
        cache[unit_id] = unit.name("en" if en else "vi") if unit else ""
    return cache[unit_id]


# ---------------------------------------------------------------------------- list / map

EARTH_RADIUS_M = 6_371_008.8
MAX_BBOX_DEG = 2.0
NEARBY_LIMIT = 10


@dataclass(frozen=True)
class ReportFilter:
    bbox: tuple[float, float, float, float] | None = None  # min_lon, min_lat, max_lon, max_lat
    status: str | None = None  # a state, "open" or "closed"
    category_id: int | None = None
    since: datetime | None = None
    resident_id: int | None = None


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``min_lon,min_lat,max_lon,max_lat`` → floats; refuses inverted or huge boxes."""
    try:
        min_lon, min_lat, max_lon, max_lat = (float(v) for v in text.split(","))
    except ValueError:
        raise InvalidInput("bbox phải có dạng min_lon,min_lat,max_lon,max_lat.", code="invalid-bbox") from None
    if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
        raise InvalidInput("bbox không hợp lệ (min phải nhỏ hơn max).", code="invalid-bbox")
    if max_lon - min_lon > MAX_BBOX_DEG or max_lat - min_lat > MAX_BBOX_DEG:
        raise InvalidInput("Vùng bản đồ quá lớn; hãy phóng to thêm.", code="invalid-bbox")
    return min_lon, min_lat, max_lon, max_lat


def _status_clause(status: str) -> Any:
    if status == "open":
        return col(Report.status).in_(sorted(OPEN_STATES))
    if status == "closed":
        return col(Report.status).in_(sorted(CLOSED_STATES | FIXED_STATES))
    return Report.status == status


def list_reports(session: Session, flt: ReportFilter, *, page: int = 1, per_page: int = 20) -> list[Report]:
    """Reports matching ``flt``, newest first; ``per_page + 1`` rows (the envelope trims)."""
    stmt = select(Report)
    if flt.resident_id is not None:  # the reporter's own list: hidden reports too
        stmt = stmt.where(Report.resident_id == flt.resident_id)
    else:
        stmt = stmt.where(listed())
        if flt.status != "duplicate":
            stmt = stmt.where(Report.duplicate_of_id == None)  # noqa: E711
    if flt.bbox:
        min_lon, min_lat, max_lon, max_lat = flt.bbox
        stmt = stmt.where(col(Report.lat).between(min_lat, max_lat), col(Report.lon).between(min_lon, max_lon))
    if flt.status:
        stmt = stmt.where(_status_clause(flt.status))
    if flt.category_id is not None:
        stmt = stmt.where(Report.category_id == flt.category_id)
    if flt.since is not None:
        stmt = stmt.where(Report.updated_at >= flt.since)
    stmt = stmt.order_by(col(Report.created_at).desc(), col(Report.id).desc())
    return list(session.exec(stmt.offset((page - 1) * per_page).limit(per_page + 1)))


# ---------------------------------------------------------------------------- nearby


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _num(value: float) -> Any:
    """A float rendered into the SQL text: PostgreSQL then plans each box with its real bounds
    (a cached generic plan for ``lat BETWEEN $1 AND $2`` picks a 6x slower index scan)."""
    if not math.isfinite(value):
        raise InvalidInput("Toạ độ không hợp lệ.", code="invalid-location")
    return literal_column(f"{value:.7f}", Float)


def nearby_open(session: Session, *, lat: float, lon: float, radius_m: float = 150,
                category_id: int | None = None, limit: int = NEARBY_LIMIT,
                include_hidden: bool = False) -> list[tuple[Report, float]]:
    """Open reports within ``radius_m`` of the point, nearest first, as (report, distance in m). Reports
    hidden by staff only with ``include_hidden`` (staff pages).

    Two steps keep it cheap at a million reports: (id, lat, lon) of the candidates in the bounding
    box (``ix_reports_geo``), ranked by haversine in Python; then only the ``limit`` nearest rows.
    """
    dlat = radius_m / 111_320.0
    dlon = radius_m / (111_320.0 * max(0.01, math.cos(math.radians(lat))))
    stmt = (select(Report.id, Report.lat, Report.lon)
            .where(col(Report.lat).between(_num(lat - dlat), _num(lat + dlat)),
                   col(Report.lon).between(_num(lon - dlon), _num(lon + dlon)),
                   col(Report.status).in_(sorted(OPEN_STATES)),
                   Report.duplicate_of_id == None)  # noqa: E711
            .limit(5000))
    if category_id is not None:
        stmt = stmt.where(Report.category_id == category_id)
    if not include_hidden:
        stmt = stmt.where(listed())
    hits = []
    for report_id, r_lat, r_lon in session.exec(stmt):
        d = haversine_m(lat, lon, r_lat, r_lon)
        if d <= radius_m:
            hits.append((d, report_id))
    hits.sort()
    nearest = hits[:limit]
    if not nearest:
        return []
    rows = {r.id: r for r in session.exec(select(Report).where(col(Report.id).in_([i for _, i in nearest])))}
    return [(rows[i], d) for d, i in nearest if i in rows]


# ---------------------------------------------------------------------------- staff flags


#: report.flags keys (set by services/photos/pipeline.py, sla.py) -> the flag names the inbox shows
FLAG_KEYS = (("photo_reused", "reused_photo"), ("photo_far_from_location", "far_from_location"),
             ("photo_old", "old_photo"), ("escalated", "escalated"), ("unverified", "unverified"))

def report_flags(report: Report) -> list[str]:
    """Flags shown in the queue: reused photo, far from location, reopened, comment waiting."""
    flags = report.flags or {}
    out = [label for name, label in FLAG_KEYS if flags.get(name)]
    if report.reopen_count or report.status == State.REOPENED:
        out.append("reopened")
    if flags.get("comment_waiting"):
        out.append("comment_waiting")
    return out


def public_text(event: ReportEvent) -> str | None:
    """The public words an event carries — a reply, a resolution's reply, a rejection's reason, a "not
    competent" guidance — by the one visibility rule (``events.resident_text``): never a hold reason, an
    internal note or the internal reason of "not competent"."""
    return events.resident_text(event)


def states_after(session: Session, events: list[ReportEvent]) -> dict[int, str]:
    """``event_id -> the report's state right after the event`` (a reply leaves the state it found)."""
    changes: dict[int, list[tuple[datetime, int, str]]] = {}
    stmt = (select(ReportEvent.report_id, ReportEvent.at, ReportEvent.id, ReportEvent.to_state)
            .where(col(ReportEvent.report_id).in_({e.report_id for e in events}))
            .where(col(ReportEvent.to_state).is_not(None)).order_by(col(ReportEvent.at), col(ReportEvent.id)))
    for report_id, at, event_id, to_state in session.exec(stmt):
        changes.setdefault(report_id, []).append((at, event_id, to_state))
    out: dict[int, str] = {}
    for event in events:
        before = [s for at, eid, s in changes.get(event.report_id, []) if (at, eid) <= (event.at, event.id)]
        out[event.id] = event.to_state or (before[-1] if before else State.RECEIVED)  # type: ignore[index]
    return out
