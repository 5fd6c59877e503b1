"""The workflow service: every change to a report after intake goes through :func:`apply`.

``apply(session, report, action, actor=..., expected_version=..., **fields)``:

1. looks the action up in :data:`TRANSITIONS` (``services/transitions.py``, DESIGN §6);
2. checks role × unit × ownership (Forbidden ``action-forbidden``), the version the caller saw
   (Conflict ``version-conflict``), the current state (Conflict ``invalid-transition``) and the
   fields (InvalidInput with a field-specific code) — all before anything is written;
3. bumps ``reports.version`` with one atomic ``UPDATE … WHERE id = :id AND version = :seen``
   (a concurrent writer in another process makes it match no row → Conflict), then applies the
   effects inside a SAVEPOINT: columns, ``report_events`` rows (≥ 1 per action) and deadlines
   through ``services/sla.py``. Any error rolls the savepoint back: a refused action changes nothing.

State changes are recorded on the action's own event (``from_state``/``to_state`` set): ``routed``,
``transferred``, ``duplicate_linked``, ``reopened``, ``rated`` or ``status_changed`` (with
``data["action"]``). KPIs count a state change as any event whose ``to_state`` differs from its
``from_state``.

``expected_version`` is required from staff and API clients (the inbox posts the version it
rendered); residents and the system may omit it (the version they act on is the one loaded).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, select

from backend.errors import Conflict, Forbidden, InvalidInput
from backend.models.base import utcnow
from backend.models.categories import Category
from backend.models.reports import CLOSED_STATES, ActorKind, EventKind, Report, ReportEvent, State
from backend.services import events, routing, sla, transitions
from backend.services import settings as city_settings
from backend.services.events import Actor
from backend.services.report_photos import attach_photos, check_photos
from backend.services.reports import state_label
from backend.services.text import fold, nfc
from backend.services.transitions import TRANSITIONS, Transition, may

log = logging.getLogger(__name__)

__all__ = ["TRANSITIONS", "Context", "allowed_actions", "apply", "close_resolved", "reopen_deadline",
           "route_report"]

MAX_TEXT = 4000
MAX_REASON = 2000

Effect = Callable[[], ReportEvent]


@dataclass
class Context:
    """One action in flight: what prepare functions validate and effects act on."""

    session: Session
    report: Report
    actor: Actor
    transition: Transition
    at: datetime
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def from_state(self) -> str:
        return self.report.status


# --------------------------------------------------------------------------- entry point


def apply(session: Session, report: Report, action: str, *, actor: Actor, expected_version: int | None = None,
          at: datetime | None = None, **fields: Any) -> ReportEvent:
    """Take ``action`` on ``report`` as ``actor``; returns the action's main event.

    Raises InvalidInput (unknown action/field, bad value), Forbidden (role, unit, ownership),
    Conflict (stale ``expected_version``, action not allowed in the current state, reopen window
    passed), NotFound (duplicate target). On any error nothing is changed.

    Without ``expected_version`` (residents, the system) a concurrent change is not the caller's
    mistake: the report is reloaded and the action re-checked and retried once.
    """
    try:
        return _apply(session, report, action, actor=actor, expected_version=expected_version, at=at,
                      fields=fields)
    except Conflict as exc:
        if expected_version is not None or exc.code != "version-conflict":
            raise
        log.info("report %s: concurrent change, retrying %s", report.code, action)
        session.refresh(report)
        return _apply(session, report, action, actor=actor, expected_version=None, at=at, fields=fields)


def _apply(session: Session, report: Report, action: str, *, actor: Actor, expected_version: int | None,
           at: datetime | None, fields: dict[str, Any]) -> ReportEvent:
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise InvalidInput(f"Thao tác không hợp lệ: {str(action)[:40]}.", code="unknown-action")
    unknown = set(fields) - set(transition.required) - set(transition.optional)
    if unknown:
        raise InvalidInput(f"Thao tác {action} không nhận trường: {', '.join(sorted(unknown))}.",
                           code="unknown-field", details={"fields": sorted(unknown)})
    if not may(report, actor, transition):
        raise Forbidden("Bạn không có quyền thực hiện thao tác này trên phản ánh này.", code="action-forbidden",
                        details={"action": action})
    _check_expected_version(report, actor, expected_version)
    if report.status not in transition.from_states:
        raise Conflict(f"Không thể thực hiện thao tác này khi phản ánh đang ở trạng thái "
                       f"“{state_label(report.status)}”.",
                       code="invalid-transition", details={"action": action, "state": report.status})
    _check_required(transition, fields)
    ctx = Context(session, report, actor, transition, at or utcnow(), dict(fields))
    from backend.services.workflow_actions import PREPARE

    effect = PREPARE[action](ctx)
    try:
        with session.begin_nested():
            _bump_version(session, report)
            event = effect()
            report.updated_at = ctx.at
            session.add(report)
            session.flush()
    except Exception:
        session.expire(report)  # the savepoint is rolled back: reload what the database says
        raise
    log.info("report %s: %s by %s%s", report.code, action, actor.kind, f" {actor.id}" if actor.id else "")
    return event


def allowed_actions(report: Report, actor: Actor, *, session: Session | None = None,
                    at: datetime | None = None) -> list[str]:
    """Actions ``actor`` may take on ``report`` now (state × role × unit × ownership).

    With a ``session`` the time rules are checked too: the reporter's reopen window and the
    system's close delay. Field values are still only checked by :func:`apply`.
    """
    actions = transitions.allowed_actions(report, actor)
    if session is None:
        return actions
    now = at or utcnow()
    if "reopen" in actions and actor.kind == ActorKind.RESIDENT:
        deadline = reopen_deadline(session, report)
        if deadline is None or now > deadline:
            actions.remove("reopen")
    if "close" in actions and actor.kind == ActorKind.SYSTEM:
        due = close_due(session, report)
        if due is None or now < due:
            actions.remove("close")
    return actions


def reopen_deadline(session: Session, report: Report) -> datetime | None:
    """Until when the reporter may reopen (``reopen_window_days`` after the resolution), or None."""
    if report.resolved_at is None:
        return None
    return report.resolved_at + timedelta(days=city_settings.reopen_window_days(session))


def close_due(session: Session, report: Report) -> datetime | None:
    """When a resolved report closes automatically (``close_after_days`` after the resolution)."""
    if report.resolved_at is None or report.status != State.RESOLVED:
        return None
    return report.resolved_at + timedelta(days=city_settings.close_after_days(session))


def close_resolved(session: Session, *, now: datetime | None = None, limit: int = 500) -> int:
    """Close (as the system) resolved reports whose ``close_after_days`` have passed; returns how many.

    For a periodic job. Each report is one ``apply`` (its own savepoint); a report changed
    concurrently is skipped and picked up by the next run.
    """
    now = now or utcnow()
    cutoff = now - timedelta(days=city_settings.close_after_days(session))
    stmt = (select(Report).where(Report.status == State.RESOLVED, Report.resolved_at <= cutoff)  # type: ignore[operator]
            .order_by(Report.resolved_at).limit(limit))
    closed = 0
    for report in session.exec(stmt).all():
        try:
            apply(session, report, "close", actor=Actor.system("auto-close"), at=now)
            closed += 1
        except (Conflict, InvalidInput) as exc:
            log.info("auto-close of %s skipped: %s", report.code, exc.code)
    if closed:
        log.info("auto-closed %d resolved report(s)", closed)
    return closed


#: Vietnamese names of the fields, for "missing" messages
FIELD_LABELS = {
    "unit_id": "đơn vị xử lý", "assignee_id": "cán bộ được giao", "reason": "lý do", "budget": "thời hạn gia hạn",
    "text": "nội dung", "reply": "nội dung trả lời công khai", "guidance": "hướng dẫn cho người dân",
    "category_code": "lĩnh vực", "priority": "mức ưu tiên", "of_code": "mã phản ánh gốc",
    "rating": "điểm đánh giá",
}


def _check_required(transition: Transition, fields: dict[str, Any]) -> None:
    missing = [name for name in transition.required if name not in fields]
    if not missing:
        return
    labels = ", ".join(FIELD_LABELS.get(name, name) for name in missing)
    code = f"{missing[0].replace('_', '-')}-required" if len(missing) == 1 else "missing-field"
    raise InvalidInput(f"Vui lòng cung cấp: {labels}.", code=code, details={"fields": missing})


def _check_expected_version(report: Report, actor: Actor, expected_version: int | None) -> None:
    if expected_version is None:
        if actor.kind in (ActorKind.STAFF, ActorKind.API_CLIENT):
            raise InvalidInput("Thiếu phiên bản của phản ánh (expected_version).", code="version-required")
        return
    if isinstance(expected_version, bool) or not isinstance(expected_version, int) \
            or expected_version != report.version:
        raise _version_conflict(report)


def _version_conflict(report: Report) -> Conflict:
    return Conflict("Phản ánh vừa được người khác cập nhật. Vui lòng tải lại trang và thao tác lại.",
                    code="version-conflict", details={"code": report.code})


def _bump_version(session: Session, report: Report) -> None:
    """Atomic compare-and-increment of ``reports.version`` (safe across processes)."""
    seen = report.version
    stmt = (update(Report).where(Report.id == report.id, Report.version == seen)
            .values(version=Report.version + 1).execution_options(synchronize_session=False))
    result = session.exec(stmt)  # type: ignore[call-overload]
    if result.rowcount != 1:
        raise _version_conflict(report)
    set_committed_value(report, "version", seen + 1)


# --------------------------------------------------------------------------- shared effects


def record(ctx: Context, kind: str, *, to_state: str | None = None, data: dict[str, Any] | None = None,
           from_unit_id: int | None = None, to_unit_id: int | None = None,
           is_public: bool | None = None) -> ReportEvent:
    """Record the action's event; ``to_state`` given → it carries the state change."""
    payload = {"action": ctx.transition.action, **(data or {})}
    return events.record(ctx.session, ctx.report, kind, actor=ctx.actor, at=ctx.at, is_public=is_public,
                         from_state=ctx.from_state if to_state else None, to_state=to_state,
                         from_unit_id=from_unit_id, to_unit_id=to_unit_id, data=payload)


def set_state(ctx: Context, from_state: str, to_state: str, *, reason: str | None = None) -> None:
    """Move the report to ``to_state``: timestamps that go with it, then the deadlines."""
    report, at = ctx.report, ctx.at
    report.status = to_state
    if to_state in (State.ACKNOWLEDGED, State.IN_PROGRESS, State.ON_HOLD) and report.acknowledged_at is None:
        report.acknowledged_at = at
    if to_state == State.RESOLVED:
        report.resolved_at = at
        report.closed_at = None
    elif to_state in CLOSED_STATES:
        report.closed_at = at
    else:
        report.closed_at = None
        if to_state == State.REOPENED:
            report.resolved_at = None
    if to_state != State.DUPLICATE:
        report.duplicate_of_id = None
    sla.on_state_change(ctx.session, report, from_state=from_state, to_state=to_state, at=at,
                        reason=reason, actor=ctx.actor)


def set_flag(report: Report, name: str, value: Any) -> None:
    """Flags are a JSON column: assign a new dict so the change is detected."""
    flags = dict(report.flags or {})
    if value is None:
        flags.pop(name, None)
    else:
        flags[name] = value
    report.flags = flags


def route_report(session: Session, report: Report, route: routing.Route, *, actor: Actor, at: datetime,
                 data: dict[str, Any] | None = None) -> ReportEvent:
    """Put ``report`` in the queue of ``route.unit_id`` (``triage`` for the IOC, else ``assigned``),
    record ``routed`` and start the deadlines. Used by intake and by the ``route`` action."""
    from_state, from_unit = report.status, report.unit_id
    to_state = State.TRIAGE if route.is_triage else State.ASSIGNED
    report.unit_id = route.unit_id
    if route.area_id is not None:
        report.area_id = route.area_id
    if route.priority:
        report.priority = route.priority
    report.status = to_state
    report.assignee_id = None
    payload = {"rule_id": route.rule_id, "is_triage": route.is_triage, "area_id": report.area_id,
               "priority": report.priority, **(data or {})}
    event = events.record(session, report, EventKind.ROUTED, actor=actor, at=at, from_state=from_state,
                          to_state=to_state, from_unit_id=from_unit, to_unit_id=route.unit_id, data=payload)
    sla.on_routed(session, report, at=at)
    return event


def build_search_text(report: Report, category: Category | None) -> str:
    """Accent-insensitive text the inbox searches: code, description, address, category names."""
    parts = [report.code, report.description, report.address or ""]
    if category is not None:
        parts += [category.name_vi, category.name_en]
    return fold(" ".join(p for p in parts if p))


# --------------------------------------------------------------------------- field validation


def text_field(ctx: Context, name: str, *, max_len: int = MAX_TEXT, required: bool = True) -> str | None:
    value, slug = ctx.fields.get(name), name.replace("_", "-")
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        if not required and isinstance(value, str):
            return None
        raise InvalidInput(_TEXT_REQUIRED.get(name, f"Vui lòng nhập {name}."), code=f"{slug}-required")
    value = nfc(value).strip()
    if len(value) > max_len:
        raise InvalidInput(f"Nội dung quá dài (tối đa {max_len} ký tự).", code=f"{slug}-too-long")
    if "\x00" in value:
        raise InvalidInput("Nội dung chứa ký tự không hợp lệ.", code=f"{slug}-invalid")
    return value


_TEXT_REQUIRED = {
    "reason": "Vui lòng nêu lý do.",
    "text": "Vui lòng nhập nội dung.",
    "reply": "Vui lòng nhập nội dung trả lời công khai cho người dân.",
    "guidance": "Vui lòng hướng dẫn người dân nơi có thẩm quyền giải quyết.",
}


MAX_DB_ID = 2**31 - 1


def is_db_id(value: Any) -> bool:
    """A plausible primary key: an int (not a bool) that fits the INTEGER columns."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_DB_ID


def photo_id_list(value: Any) -> list[int]:
    """Validate a list of photo ids (shape and range only); duplicates are dropped."""
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(is_db_id(v) for v in value):
        raise InvalidInput("Danh sách ảnh không hợp lệ.", code="invalid-photo-ids")
    return list(dict.fromkeys(value))


def id_list(ctx: Context, name: str) -> list[int]:
    return photo_id_list(ctx.fields.get(name))


def photos_for(ctx: Context, name: str, role: str) -> Callable[[], list[int]]:
    """Validate the photo ids in ``name`` now; the returned function attaches them (effect phase)."""
    ids = id_list(ctx, name)
    resident_id, staff_id = ctx.actor.resident_id, ctx.actor.staff_id
    check_photos(ctx.session, photo_ids=ids, resident_id=resident_id, staff_id=staff_id)

    def attach() -> list[int]:
        attach_photos(ctx.session, photo_ids=ids, report=ctx.report, resident_id=resident_id,
                      staff_id=staff_id, role=role)
        return ids

    return attach


def existing_category(session: Session, code: Any) -> Category:
    """An active, non-emergency category by code (InvalidInput otherwise)."""
    category = None
    if isinstance(code, str) and code.strip() and len(code) <= 64 and "\x00" not in code:
        category = session.exec(select(Category).where(Category.code == code.strip())).first()
    if category is None or not category.active:
        raise InvalidInput("Lĩnh vực phản ánh không tồn tại hoặc đã ngừng tiếp nhận.", code="unknown-category",
                           details={"category_code": str(code)[:64] if code is not None else None})
    return category
