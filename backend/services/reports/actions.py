"""One function per workflow action: validate (read only), then return the effect to run.

Each ``prepare(ctx)`` raises a domain error for bad input *before* anything is written, and returns
a closure that ``workflow.apply`` runs after bumping the version (inside a savepoint). The closure
changes the report, records the action's event and returns it.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from backend.errors import Conflict, InvalidInput, NotFound
from backend.models.categories import Category, Priority
from backend.models.photos import PhotoRole
from backend.models.reports import ActorKind, EventKind, Follower, Report, ReportEvent, State
from backend.models.staff import Role, Staff
from backend.models.units import Unit
from backend.services.city import routing
from backend.services.city import settings as city_settings
from backend.services.city.calendar import parse_duration
from backend.services.deadlines import sla
from backend.services.photos.linking import has_photo
from backend.services.reports.codes import normalize_code
from backend.services.reports.effects import (
    Context,
    Effect,
    build_search_text,
    close_due,
    record,
    reopen_deadline,
    route_report,
    set_flag,
    set_state,
)
from backend.services.reports.fields import MAX_REASON, existing_category, is_db_id, photos_for, text_field
from backend.services.reports.location import relocate
from backend.services.reports.moderation import PREPARE as MODERATION

MAX_DUPLICATE_HOPS = 20


def _state_change(ctx: Context, *, reason: str | None = None, data: dict[str, Any] | None = None) -> Effect:
    """The plain case: go to the transition's target state, record ``status_changed`` (with the public
    ``reply`` said with it, for the actions that take one)."""
    to_state = ctx.transition.to_state
    assert to_state is not None
    if "reply" in ctx.transition.optional:
        reply = text_field(ctx, "reply", required=False)
        data = {**(data or {}), **({"reply": reply} if reply else {})}

    def effect() -> ReportEvent:
        from_state = ctx.from_state
        event = record(ctx, EventKind.STATUS_CHANGED, to_state=to_state,
                       data={**({"reason": reason} if reason else {}), **(data or {})})
        set_state(ctx, from_state, to_state, reason=reason)
        return event

    return effect


def _active_unit(ctx: Context, unit_id: Any) -> Unit:
    unit = None
    if is_db_id(unit_id):
        unit = ctx.session.get(Unit, unit_id)
    if unit is None or not routing.is_active(unit, ctx.at):
        raise InvalidInput("Đơn vị không tồn tại hoặc đã ngừng hoạt động.", code="unknown-unit")
    return unit


def _priority(value: Any) -> str:
    if value not in {p.value for p in Priority}:
        raise InvalidInput("Mức ưu tiên không hợp lệ (urgent, normal, complex).", code="invalid-priority")
    return str(value)


# --------------------------------------------------------------------------- queue actions


def route(ctx: Context) -> Effect:
    """Route from triage: to ``unit_id`` if given, else by the routing rules."""
    session, report = ctx.session, ctx.report
    priority = _priority(ctx.fields["priority"]) if ctx.fields.get("priority") is not None else None
    if ctx.fields.get("unit_id") is not None:
        unit = _active_unit(ctx, ctx.fields["unit_id"])
        target = routing.Route(unit.id, report.area_id, None, priority, unit.is_triage)  # type: ignore[arg-type]
    else:
        category = session.get(Category, report.category_id) if report.category_id else None
        found = routing.route(session, category=category, lat=report.lat, lon=report.lon, at=ctx.at)
        target = routing.Route(found.unit_id, found.area_id, found.rule_id, priority or found.priority,
                               found.is_triage)
    if report.status == State.TRIAGE and target.is_triage and target.unit_id == report.unit_id:
        raise InvalidInput("Phản ánh đã ở hàng chờ phân loại; hãy chọn đơn vị xử lý.", code="unit-required")

    def effect() -> ReportEvent:
        previous = report.priority
        event = route_report(session, report, target, actor=ctx.actor, at=ctx.at, data={"action": "route"})
        if report.priority != previous:  # the resolve clock started in triage: reschedule it
            sla.on_budget_change(session, report, at=ctx.at)
        return event

    return effect


def hold(ctx: Context) -> Effect:
    return _state_change(ctx, reason=text_field(ctx, "reason", max_len=MAX_REASON))


def assign(ctx: Context) -> Effect:
    """Assign to a member of the report's unit (``assignee_id=None`` unassigns)."""
    report, assignee_id = ctx.report, ctx.fields["assignee_id"]
    staff = None
    if assignee_id is not None:
        if is_db_id(assignee_id):
            staff = ctx.session.get(Staff, assignee_id)
        if staff is None or not staff.is_active or staff.unit_id != report.unit_id \
                or staff.role not in (Role.HEAD, Role.OFFICER):
            raise InvalidInput("Chỉ có thể giao cho cán bộ đang làm việc tại đơn vị xử lý.",
                               code="invalid-assignee")
    if assignee_id == report.assignee_id:
        raise InvalidInput("Phản ánh đã được giao cho người này.", code="unchanged")

    def effect() -> ReportEvent:
        previous = report.assignee_id
        report.assignee_id = assignee_id
        return record(ctx, EventKind.ASSIGNED, data={"assignee_id": assignee_id, "from_assignee_id": previous,
                                                     "assignee_name": staff.name if staff else None})

    return effect


def transfer(ctx: Context) -> Effect:
    """Hand the report to another unit (state ``assigned``, or ``triage`` for the IOC)."""
    session, report = ctx.session, ctx.report
    unit = _active_unit(ctx, ctx.fields["unit_id"])
    reason = text_field(ctx, "reason", max_len=MAX_REASON)
    if unit.id == report.unit_id:
        raise InvalidInput("Phản ánh đang ở đơn vị này.", code="same-unit")

    def effect() -> ReportEvent:
        from_state, from_unit = ctx.from_state, report.unit_id
        to_state = State.TRIAGE if unit.is_triage else State.ASSIGNED
        event = record(ctx, EventKind.TRANSFERRED, to_state=to_state, from_unit_id=from_unit, to_unit_id=unit.id,
                       data={"reason": reason, "unit_name": unit.name_vi})
        report.unit_id = unit.id
        report.assignee_id = None
        set_state(ctx, from_state, to_state, reason=reason)
        sla.on_routed(session, report, at=ctx.at, is_transfer=True)
        return event

    return effect


def extend(ctx: Context) -> Effect:
    """Gia hạn: add a working-time budget to the resolve deadline (head of the unit, IOC)."""
    report, budget = ctx.report, ctx.fields["budget"]
    reason = text_field(ctx, "reason", max_len=1000)
    parse_duration(budget)
    if report.resolve_due_at is None:
        raise Conflict("Phản ánh không còn thời hạn xử lý để gia hạn.", code="no-deadline")
    if report.sla_paused_at is None and report.resolve_due_at < ctx.at:
        raise Conflict("Phản ánh đã quá hạn; không thể gia hạn sau khi hết hạn.", code="already-overdue")

    def effect() -> ReportEvent:
        sla.extend(ctx.session, report, actor=ctx.actor, budget=budget, reason=reason or "", now=ctx.at)
        return _latest_event(ctx, sla.SLA_EXTENDED)

    return effect


def _latest_event(ctx: Context, kind: str) -> ReportEvent:
    stmt = select(ReportEvent).where(ReportEvent.report_id == ctx.report.id, ReportEvent.kind == kind) \
        .order_by(ReportEvent.id.desc())  # type: ignore[union-attr]
    event = ctx.session.exec(stmt).first()
    assert event is not None
    return event


# --------------------------------------------------------------------------- messages


def reply(ctx: Context) -> Effect:
    text = text_field(ctx, "text")

    def effect() -> ReportEvent:
        set_flag(ctx.report, "comment_waiting", None)
        return record(ctx, EventKind.PUBLIC_REPLY, data={"text": text})

    return effect


def note(ctx: Context) -> Effect:
    text = text_field(ctx, "text")

    def effect() -> ReportEvent:
        set_flag(ctx.report, "comment_waiting", None)
        return record(ctx, EventKind.INTERNAL_NOTE, data={"text": text})

    return effect


def comment(ctx: Context) -> Effect:
    """A resident's follow-up (text and/or photos): reaches the unit's queue, flagged until staff
    reply or note."""
    attach = photos_for(ctx, "photo_ids", PhotoRole.COMMENT)
    text = text_field(ctx, "text", required=not ctx.fields.get("photo_ids"))

    def effect() -> ReportEvent:
        photo_ids = attach()
        set_flag(ctx.report, "comment_waiting", True)
        return record(ctx, EventKind.RESIDENT_COMMENT, data={"text": text, "photo_ids": photo_ids})

    return effect


# --------------------------------------------------------------------------- classification


def change_category(ctx: Context) -> Effect:
    report = ctx.report
    category = existing_category(ctx.session, ctx.fields["category_code"])
    if category.is_emergency:
        raise InvalidInput("Không thể chuyển sang lĩnh vực khẩn cấp.", code="emergency-category")
    if category.id == report.category_id:
        raise InvalidInput("Phản ánh đã thuộc lĩnh vực này.", code="unchanged")
    old = ctx.session.get(Category, report.category_id) if report.category_id else None

    def effect() -> ReportEvent:
        report.category_id = category.id
        report.search_text = build_search_text(report, category)
        event = record(ctx, EventKind.CATEGORY_CHANGED, data={
            "from_category": old.code if old else None, "to_category": category.code})
        sla.on_budget_change(ctx.session, report, at=ctx.at)
        return event

    return effect


def change_priority(ctx: Context) -> Effect:
    report = ctx.report
    priority = _priority(ctx.fields["priority"])
    if priority == report.priority:
        raise InvalidInput("Mức ưu tiên không thay đổi.", code="unchanged")

    def effect() -> ReportEvent:
        previous = report.priority
        report.priority = priority
        event = record(ctx, EventKind.PRIORITY_CHANGED, data={"from_priority": previous, "to_priority": priority})
        sla.on_budget_change(ctx.session, report, at=ctx.at)
        return event

    return effect


def mark_duplicate(ctx: Context) -> Effect:
    """Close as a duplicate of another report; the reporter follows the original."""
    session, report = ctx.session, ctx.report
    original = _duplicate_target(ctx, ctx.fields["of_code"])
    reply = text_field(ctx, "reply", required=False)

    def effect() -> ReportEvent:
        from_state = ctx.from_state
        event = record(ctx, EventKind.DUPLICATE_LINKED, to_state=State.DUPLICATE,
                       data={"of_code": original.code, "of_id": original.id, **({"reply": reply} if reply else {})})
        set_state(ctx, from_state, State.DUPLICATE)
        report.duplicate_of_id = original.id
        report.closure_reason = f"Trùng phản ánh {original.code}"
        if report.resident_id and report.resident_id != original.resident_id:
            exists = session.exec(select(Follower).where(Follower.resident_id == report.resident_id,
                                                         Follower.report_id == original.id)).first()
            if exists is None:
                session.add(Follower(resident_id=report.resident_id, report_id=original.id))
        return event

    return effect


def _duplicate_target(ctx: Context, of_code: Any) -> Report:
    code = normalize_code(of_code) if isinstance(of_code, str) else None
    target = ctx.session.exec(select(Report).where(Report.code == code)).first() if code else None
    if target is None:
        raise NotFound("Không tìm thấy phản ánh gốc với mã này.", code="duplicate-target-not-found")
    for _ in range(MAX_DUPLICATE_HOPS):
        if target.duplicate_of_id is None or target.status != State.DUPLICATE:
            break
        target = ctx.session.get(Report, target.duplicate_of_id)
        assert target is not None
    if target.id == ctx.report.id:
        raise InvalidInput("Không thể đánh dấu phản ánh trùng với chính nó.", code="duplicate-of-self")
    return target


# --------------------------------------------------------------------------- closing and reopening


def reject(ctx: Context) -> Effect:
    reason = text_field(ctx, "reason", max_len=MAX_REASON)
    effect = _state_change(ctx, reason=reason)

    def run() -> ReportEvent:
        ctx.report.closure_reason = reason
        return effect()

    return run


def not_competent(ctx: Context) -> Effect:
    """Closed: not this city's competence; ``guidance`` (where to go) is the public reply."""
    reason = text_field(ctx, "reason", max_len=MAX_REASON)
    guidance = text_field(ctx, "guidance")
    effect = _state_change(ctx, reason=reason, data={"guidance": guidance})

    def run() -> ReportEvent:
        ctx.report.closure_reason = reason
        ctx.report.public_reply = guidance
        return effect()

    return run


def resolve(ctx: Context) -> Effect:
    """Resolved: a public reply; an after photo when the category requires one."""
    session, report = ctx.session, ctx.report
    text = text_field(ctx, "reply")
    attach = photos_for(ctx, "after_photo_ids", PhotoRole.AFTER)
    category = session.get(Category, report.category_id) if report.category_id else None
    if category is not None and category.requires_after_photo and not ctx.fields.get("after_photo_ids") \
            and not has_photo(session, report, PhotoRole.AFTER):
        raise InvalidInput("Lĩnh vực này yêu cầu ảnh sau khi xử lý.", code="after-photo-required")

    def effect() -> ReportEvent:
        from_state = ctx.from_state
        photo_ids = attach()
        event = record(ctx, EventKind.STATUS_CHANGED, to_state=State.RESOLVED,
                       data={"reply": text, "after_photo_ids": photo_ids})
        report.public_reply = text
        report.closure_reason = None
        set_flag(report, "comment_waiting", None)
        set_state(ctx, from_state, State.RESOLVED)
        return event

    return effect


def reopen(ctx: Context) -> Effect:
    """Back to the unit. The reporter: within ``reopen_window_days`` of the resolution."""
    report = ctx.report
    reason = text_field(ctx, "reason", max_len=MAX_REASON)
    if ctx.actor.kind == ActorKind.RESIDENT:
        deadline = reopen_deadline(ctx.session, report)
        if deadline is None or ctx.at > deadline:
            days = city_settings.reopen_window_days(ctx.session)
            raise Conflict(f"Đã quá {days} ngày kể từ khi xử lý xong; không thể phản ánh lại. "
                           "Vui lòng gửi phản ánh mới.", code="reopen-window-passed")
    attach = photos_for(ctx, "photo_ids", PhotoRole.COMMENT)

    def effect() -> ReportEvent:
        from_state = ctx.from_state
        photo_ids = attach()
        event = record(ctx, EventKind.REOPENED, to_state=State.REOPENED,
                       data={"reason": reason, "photo_ids": photo_ids, "reopen_number": report.reopen_count + 1})
        report.reopen_count += 1
        report.rating = None
        report.rating_text = None
        report.closure_reason = None
        set_state(ctx, from_state, State.REOPENED, reason=reason)
        return event

    return effect


def close(ctx: Context) -> Effect:
    """Close a resolved report; the system only once ``close_after_days`` have passed."""
    report = ctx.report
    reason = text_field(ctx, "reason", max_len=MAX_REASON, required=False)
    if ctx.actor.kind == ActorKind.SYSTEM:
        due = close_due(ctx.session, report)
        if due is None or ctx.at < due:
            raise Conflict("Chưa đến hạn tự động đóng phản ánh.", code="too-early")
    return _state_change(ctx, reason=reason, data={"automatic": ctx.actor.kind == ActorKind.SYSTEM})


def rate(ctx: Context) -> Effect:
    """The reporter rates the resolution 1–5; this closes the report."""
    report, rating = ctx.report, ctx.fields["rating"]
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidInput("Điểm đánh giá phải từ 1 đến 5.", code="invalid-rating")
    text = text_field(ctx, "text", max_len=1000, required=False)

    def effect() -> ReportEvent:
        from_state = ctx.from_state
        event = record(ctx, EventKind.RATED, to_state=State.CLOSED, data={"rating": rating, "text": text})
        report.rating = rating
        report.rating_text = text
        set_state(ctx, from_state, State.CLOSED)
        return event

    return effect


PREPARE = {
    "route": route, "acknowledge": _state_change, "assign": assign, "transfer": transfer, "start": _state_change,
    "hold": hold, "resume": _state_change, "extend": extend, "reply": reply, "note": note,
    "change_category": change_category, "change_priority": change_priority, "mark_duplicate": mark_duplicate,
    "reject": reject, "not_competent": not_competent, "resolve": resolve, "reopen": reopen, "close": close,
    "comment": comment, "sender_comment": comment, "rate": rate, "relocate": relocate, **MODERATION,
}
