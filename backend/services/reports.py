"""Reading reports: lookup by public code, state labels (DESIGN §6), the public timeline.

Used by the API, the inbox, Open311 and the bots. Nothing here writes.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import Session, select

from backend.errors import NotFound
from backend.models.reports import CLOSED_STATES, EventKind, Report, ReportEvent, State
from backend.models.units import Unit
from backend.services.codes import normalize_code

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

#: data keys each public event may show (never actor names, ids of people or internal notes)
_PUBLIC_DATA: dict[str, tuple[str, ...]] = {
    EventKind.STATUS_CHANGED: ("reason", "reply", "guidance"),
    EventKind.PUBLIC_REPLY: ("text",),
    EventKind.RESIDENT_COMMENT: ("text",),
    EventKind.DUPLICATE_LINKED: ("of_code",),
    EventKind.RATED: ("rating",),
    EventKind.REOPENED: ("reason",),
    EventKind.TRANSFERRED: (),
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


def public_timeline(session: Session, report: Report, *, locale: str = "vi",
                    include_comments: bool = False) -> list[dict[str, Any]]:
    """Public events of ``report``, oldest first, as plain dicts safe to show anyone.

    Each item: ``at``, ``kind``, ``label``, ``state`` / ``state_label`` when the event changed the
    state, ``unit`` (name of the unit it went to, for routing and transfers) and the few public
    data fields of that kind. Resident comments' text is only included with ``include_comments``
    (the reporter's own view): the public sees that a follow-up exists, not what it said.
    """
    stmt = select(ReportEvent).where(ReportEvent.report_id == report.id, ReportEvent.is_public == True)  # noqa: E712
    rows = session.exec(stmt.order_by(ReportEvent.at, ReportEvent.id)).all()
    en = locale.startswith("en")
    unit_names: dict[int, str] = {}
    items = []
    for event in rows:
        item: dict[str, Any] = {"at": event.at, "kind": event.kind,
                                "label": _event_label(event, en)}
        if event.to_state and event.to_state != event.from_state:
            item["state"] = event.to_state
            item["state_label"] = state_label(event.to_state, locale)
        if event.to_unit_id and event.kind in (EventKind.ROUTED, EventKind.TRANSFERRED):
            item["unit"] = _unit_name(session, event.to_unit_id, unit_names, en)
        for key in _PUBLIC_DATA.get(event.kind, ()):
            if event.kind == EventKind.RESIDENT_COMMENT and not include_comments:
                continue
            value = (event.data or {}).get(key)
            if value not in (None, ""):
                item[key] = value
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
