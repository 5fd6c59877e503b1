"""What the staff report page shows: photos, timeline, deadlines, actions, duplicate candidates.

Read-only except :func:`reporter_contact`, which records a ``pii_viewed`` event (DESIGN §2.3:
reading a reporter's personal data from the inbox is itself logged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from backend.errors import Forbidden
from backend.models.areas import Area
from backend.models.categories import Category
from backend.models.photos import Photo, PhotoState
from backend.models.reports import Report, ReportEvent
from backend.models.residents import Identity, Resident
from backend.models.staff import Staff
from backend.models.templates import ReplyTemplate
from backend.models.units import Unit
from backend.services import events
from backend.services.city import access
from backend.services.city import settings as city_settings
from backend.services.deadlines import sla
from backend.services.events import Actor
from backend.services.photos import copies
from backend.services.reports import lookup as queries
from backend.services.reports.transitions import allowed_actions
from backend.services.residents import phones

log = logging.getLogger(__name__)

NEARBY_RADIUS_M = 300

ACTION_LABELS: dict[str, str] = {
    "route": "Chuyển xử lý", "acknowledge": "Tiếp nhận", "assign": "Giao cán bộ", "transfer": "Chuyển đơn vị",
    "start": "Bắt đầu xử lý", "hold": "Tạm dừng / chờ phối hợp", "resume": "Tiếp tục xử lý",
    "extend": "Gia hạn", "reply": "Trả lời công khai", "note": "Ghi chú nội bộ",
    "change_category": "Đổi lĩnh vực", "change_priority": "Đổi mức ưu tiên", "mark_duplicate": "Đánh dấu trùng",
    "relocate": "Sửa vị trí",
    "reject": "Từ chối (không hợp lệ)", "not_competent": "Không thuộc thẩm quyền", "resolve": "Hoàn thành xử lý",
    "reopen": "Mở lại", "close": "Đóng",
    "edit_text": "Sửa / che nội dung", "hide": "Ẩn khỏi trang công khai", "unhide": "Hiện lại trên trang công khai",
}

EVENT_LABELS: dict[str, str] = {
    "created": "Tiếp nhận phản ánh", "routed": "Chuyển đơn vị xử lý", "transferred": "Chuyển đơn vị khác",
    "assigned": "Giao cán bộ", "status_changed": "Đổi trạng thái", "public_reply": "Trả lời công khai",
    "internal_note": "Ghi chú nội bộ", "resident_comment": "Người dân bổ sung", "photo_added": "Thêm ảnh",
    "duplicate_linked": "Liên kết phản ánh trùng", "category_changed": "Đổi lĩnh vực",
    "priority_changed": "Đổi mức ưu tiên", "sla_paused": "Tạm dừng thời hạn", "sla_resumed": "Tính lại thời hạn",
    "sla_extended": "Gia hạn", "sla_breached": "Quá hạn", "escalated": "Báo cáo cấp trên",
    "rated": "Người dân đánh giá", "reopened": "Mở lại", "notified": "Đã thông báo",
    "pii_viewed": "Xem thông tin cá nhân", "flagged": "Gắn cờ", "anonymized": "Ẩn danh hóa",
    "location_changed": "Sửa vị trí",
    "sla_started": "Bắt đầu tính thời hạn", "photo_redacted": "Che thông tin trong ảnh",
    "text_edited": "Sửa nội dung phản ánh", "hidden": "Ẩn khỏi trang công khai",
    "unhidden": "Hiện lại trên trang công khai",
}
#: a state change said by the action that made it
STATUS_ACTION_LABELS: dict[str, str] = {
    "acknowledge": "Đơn vị tiếp nhận xử lý", "start": "Bắt đầu xử lý", "hold": "Tạm dừng / chờ phối hợp",
    "resume": "Tiếp tục xử lý", "resolve": "Hoàn thành xử lý", "reject": "Từ chối (không hợp lệ)",
    "not_competent": "Không thuộc thẩm quyền", "close": "Đóng phản ánh",
}
CLOCK_LABELS = {"ack": "tiếp nhận", "resolve": "xử lý"}
#: how a report entered by staff reached them (the ``created`` event's channel)
BEHALF_LABELS = {"hotline": "(qua đường dây nóng)", "counter": "(tại quầy tiếp nhận)"}


@dataclass
class PhotoView:
    id: int
    role: str
    state: str
    url: str | None
    thumb: str | None


@dataclass
class TimelineItem:
    event: ReportEvent
    label: str
    actor: str
    text: str | None


@dataclass
class ReportPage:
    category: Category | None
    unit: Unit | None
    area: Area | None
    assignee: Staff | None
    deadline: str
    photos: list[PhotoView]
    timeline: list[TimelineItem]
    actions: list[str]
    nearby: list[tuple[Report, float, str | None]]
    templates: list[ReplyTemplate]
    contact_allowed: bool
    duplicate_of: Report | None
    flags: list[str] = field(default_factory=list)


def build(session: Session, *, report: Report, staff: Staff, now: datetime) -> ReportPage:
    """Everything the page needs, after checking ``staff`` may see the report (Forbidden otherwise)."""
    access.ensure_can_see(staff, report)
    category = session.get(Category, report.category_id) if report.category_id else None
    actor = Actor.staff(staff)
    actions = allowed_actions(report, actor) if access.can_act(staff, report) else []
    return ReportPage(
        category=category, unit=session.get(Unit, report.unit_id) if report.unit_id else None,
        area=session.get(Area, report.area_id) if report.area_id else None,
        assignee=session.get(Staff, report.assignee_id) if report.assignee_id else None,
        deadline=_deadline(report, now), photos=_photos(session, report), timeline=timeline(session, report),
        actions=[a for a in actions if a in ACTION_LABELS], nearby=_nearby(session, report),
        templates=_templates(session, report), contact_allowed=_contact_allowed(session, report, staff),
        duplicate_of=session.get(Report, report.duplicate_of_id) if report.duplicate_of_id else None,
        flags=queries.report_flags(report),
    )


def _deadline(report: Report, now: datetime) -> str:
    if not report.is_open:
        return "none"
    if report.ack_due_at is None and report.resolve_due_at is None:
        return "none"
    return sla.deadline_status(report, now)


def _photos(session: Session, report: Report) -> list[PhotoView]:
    rows = session.exec(select(Photo).where(Photo.report_id == report.id).order_by(col(Photo.id)))
    out = []
    for p in rows:
        ready = p.state == PhotoState.READY
        out.append(PhotoView(id=p.id, role=p.role, state=p.state,  # type: ignore[arg-type]
                             url=f"/media/{p.public_key}" if ready and p.public_key else None,
                             thumb=_thumb(p) if ready else None))
    return out


def _thumb(photo: Photo) -> str | None:
    key = copies.smallest_thumb(photo.thumb_keys, photo.public_key)
    return f"/media/{key}" if key else None


def timeline(session: Session, report: Report) -> list[TimelineItem]:
    """Every event, public and internal, oldest first, with a readable actor."""
    rows = list(session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id)
                             .order_by(col(ReportEvent.at), col(ReportEvent.id))))
    return [TimelineItem(event=e, label=describe(e), actor=_actor(e, report), text=_text(e)) for e in rows]


def describe(event: ReportEvent) -> str:
    """What happened, in Vietnamese words a person would use (never an internal event name)."""
    data = event.data or {}
    if event.kind == "status_changed" and data.get("action") in STATUS_ACTION_LABELS:
        return STATUS_ACTION_LABELS[data["action"]]
    if event.kind in ("sla_started", "sla_breached"):
        clock = CLOCK_LABELS.get(str(data.get("clock")), "xử lý")
        due = _local(data.get("due_at"))
        if event.kind == "sla_breached":
            return f"Quá hạn {clock}" + (f" (hạn {due})" if due else "")
        verb = "Tính lại hạn" if data.get("rescheduled") else "Bắt đầu tính hạn"
        return f"{verb} {clock}" + (f": đến {due}" if due else "")
    if event.kind == "created" and event.actor_kind == "staff":  # entered on a caller's behalf (/inbox/new)
        how = BEHALF_LABELS.get(str(data.get("channel")), "")
        return f"Cán bộ nhập phản ánh thay người dân {how}".rstrip()
    if event.kind == "notified" and data.get("what") == "reporter_link":
        return "Gửi đường dẫn theo dõi cho người phản ánh qua Zalo"
    if event.kind == "assigned":
        name = data.get("assignee_name")
        if data.get("assignee_id") is None:
            return "Bỏ giao cán bộ"
        if data.get("self"):
            before = data.get("from_assignee_name") or ("cán bộ khác" if data.get("from_assignee_id") else None)
            if before:
                return f"Nhận xử lý thay {before}"
            return f"{name or 'Cán bộ'} nhận xử lý phản ánh"
        return f"Giao cán bộ: {name}" if name else "Giao cán bộ"
    return EVENT_LABELS.get(event.kind) or "Cập nhật khác"


def _local(value: Any) -> str | None:
    """An ISO time of an event's data as dd/mm/yyyy HH:MM in Việt Nam."""
    from zoneinfo import ZoneInfo

    if not isinstance(value, str) or not value:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%d/%m/%Y %H:%M")


def _actor(event: ReportEvent, report: Report) -> str:
    name = (event.data or {}).get("actor_name")
    if event.actor_kind == "resident":
        who = "Người phản ánh" if event.actor_id and event.actor_id == str(report.resident_id) else "Người dân"
        via = (event.data or {}).get("via")
        if via or (event.data or {}).get("via_api_client_id"):
            return f"{who} (qua {via or 'Open311'})"
        return "Người phản ánh"
    if event.actor_kind == "system":
        return "Hệ thống"
    if event.actor_kind == "bot":
        return f"Bot {event.actor_id or ''}".strip()
    return str(name or event.actor_kind)


def _text(event: ReportEvent) -> str | None:
    data = event.data or {}
    for key in ("text", "reply", "reason", "guidance", "note", "message"):
        if isinstance(data.get(key), str) and data[key]:
            return data[key]
    return None


def _nearby(session: Session, report: Report) -> list[tuple[Report, float, str | None]]:
    if report.lat is None or report.lon is None:
        return []
    hits = [(r, d) for r, d in queries.nearby_open(session, lat=report.lat, lon=report.lon,
                                                   radius_m=NEARBY_RADIUS_M, limit=9,
                                                   include_hidden=True) if r.id != report.id][:8]
    thumbs = copies.thumbnails(session, report_ids=[r.id for r, _d in hits])  # type: ignore[misc]
    return [(r, d, f"/media/{thumbs[r.id]}" if r.id in thumbs else None) for r, d in hits]


def _templates(session: Session, report: Report) -> list[ReplyTemplate]:
    stmt = select(ReplyTemplate).where(ReplyTemplate.locale == "vi")
    if report.category_id is not None:
        stmt = stmt.where((ReplyTemplate.category_id == report.category_id) | col(ReplyTemplate.category_id).is_(None))
    else:
        stmt = stmt.where(col(ReplyTemplate.category_id).is_(None))
    rows = list(session.exec(stmt.order_by(col(ReplyTemplate.state), col(ReplyTemplate.title)).limit(200)))
    # the category's own templates first, then the generic ones
    return sorted(rows, key=lambda t: (t.category_id is None, t.state, t.title))


def _contact_allowed(session: Session, report: Report, staff: Staff) -> bool:
    return (report.resident_id is not None and not report.is_anonymous and access.can_act(staff, report)
            and city_settings.reporter_visible_to_units(session))


def reporter_contact(session: Session, *, report: Report, staff: Staff) -> dict[str, Any]:
    """The reporter's name, phone and e-mail; records ``pii_viewed``. Raises Forbidden if not allowed."""
    access.ensure_can_see(staff, report)
    if not _contact_allowed(session, report, staff):
        raise Forbidden("Không được xem thông tin liên hệ của người phản ánh này.", code="contact-hidden")
    resident = session.get(Resident, report.resident_id)
    if resident is None or resident.anonymized_at is not None:
        return {"name": None, "phone": None, "email": None}
    events.record(session, report, "pii_viewed", actor=Actor.staff(staff), is_public=False,
                  data={"what": "reporter_contact"})
    log.info("staff %s viewed the contact of report %s", staff.id, report.code)
    return {"name": resident.display_name, "phone": resident.phone or _shared_phone(session, resident.id),
            "email": resident.email}


def _shared_phone(session: Session, resident_id: int | None) -> str | None:
    """A number the resident consented to share on a chat channel (Zalo, for ZNS), as Vietnamese read it."""
    phone = session.exec(select(Identity.phone).where(Identity.resident_id == resident_id,
                                                      Identity.phone.is_not(None)).limit(1)).first()
    return phones.local(phone) if phone else None
