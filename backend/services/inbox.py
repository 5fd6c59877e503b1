"""The staff triage inbox: which reports a staff member may see, and the queue query.

The queue is a unit's open reports sorted by the nearest resolve deadline (reports without a
deadline last), filtered and searched, paginated by keyset on ``(resolve_due_at, id)``. For a
single unit the query is served by the partial index ``ix_reports_queue (unit_id, resolve_due_at,
id) WHERE open`` — the status predicate below is written exactly like the index predicate so
PostgreSQL can use it (DESIGN §14: ≤ 15 ms p95 at 1,000,000 reports).

Authorisation (also enforced by the workflow service for actions): admin and dispatcher see every
unit; head and officer see their own unit; a viewer sees their unit, or every unit without one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, false, or_
from sqlmodel import Session, col, select

from backend.errors import Forbidden, InvalidInput, NotFound
from backend.models.areas import Area
from backend.models.categories import Category
from backend.models.photos import Photo, PhotoRole, PhotoState
from backend.models.reports import CLOSED_STATES, FIXED_STATES, OPEN_STATES, Channel, Report, State
from backend.models.staff import SavedView, Staff
from backend.models.units import Unit
from backend.schemas.common import parse_id
from backend.services import deadlines
from backend.services.city import timezone
from backend.services.city.access import category_scope, sees_all_units, visible_unit_ids
from backend.services.photos.copies import smallest_thumb, thumbnails
from backend.services.reports.lookup import report_flags
from backend.text import fold

log = logging.getLogger(__name__)

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
DUE_SOON = timedelta(hours=4)
#: the states excluded by the partial index predicate (keep in the same order as the index)
#: the unit filter's value for "Toàn thành phố" (every unit the staff member may see)
CITY_WIDE = "all"
NOT_OPEN = ("resolved", "rejected", "not_competent", "duplicate", "closed")
assert set(NOT_OPEN) == {s.value for s in CLOSED_STATES | FIXED_STATES}




# --------------------------------------------------------------------------- the queue


@dataclass
class QueueFilter:
    """Parsed queue filters. Unknown values are refused with InvalidInput by :func:`parse_filter`."""

    unit_id: int | None = None
    states: list[str] = field(default_factory=list)
    category_id: int | None = None
    area_id: int | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    overdue: bool = False
    channel: str | None = None
    q: str = ""
    after_due: datetime | None = None
    after_id: int | None = None
    after_null: bool = False
    limit: int = PAGE_SIZE
    #: the reporter's phone or e-mail searched for (set by :func:`contact_search`, never from the URL alone)
    contact_ids: list[int] | None = None
    #: "Toàn thành phố" chosen explicitly (``unit_id=all``): no unit filter beyond what staff may see
    city_wide: bool = False

    def as_query(self) -> dict[str, Any]:
        """The filter as query-string parameters (saved views, links)."""
        out: dict[str, Any] = {"unit_id": CITY_WIDE} if self.city_wide else {}
        for key in ("unit_id", "category_id", "area_id", "assignee_id", "channel"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.states:
            out["state"] = list(self.states)
        if self.overdue:
            out["overdue"] = "1"
        if self.unassigned:
            out["unassigned"] = "1"
        if self.q:
            out["q"] = self.q
        return out


def parse_filter(args: Any) -> QueueFilter:
    """Build a :class:`QueueFilter` from a multi-dict (``request.args``) or a plain dict."""
    getlist = args.getlist if hasattr(args, "getlist") else (
        lambda k: v if isinstance(v := args.get(k), list) else ([v] if v else []))
    states = [s for s in getlist("state") if s]
    open_values = {s.value for s in OPEN_STATES}
    for s in states:
        if s not in open_values:
            raise InvalidInput(f"Trạng thái không hợp lệ: {s}.", code="invalid-filter")
    channel = args.get("channel") or None
    if channel and channel not in {c.value for c in Channel}:
        raise InvalidInput(f"Kênh không hợp lệ: {channel}.", code="invalid-filter")
    q = (args.get("q") or "").strip()
    if len(q) > 200:
        raise InvalidInput("Từ khóa tìm kiếm quá dài.", code="invalid-filter")
    after_due = None
    raw_due = args.get("after_due") or ""
    if raw_due and raw_due != "none":
        try:
            after_due = datetime.fromisoformat(raw_due)
        except ValueError:
            raise InvalidInput("Con trỏ trang không hợp lệ.", code="invalid-cursor") from None
        if after_due.tzinfo is None:
            raise InvalidInput("Con trỏ trang không hợp lệ.", code="invalid-cursor")
    limit = parse_id(args.get("limit"), "limit") or PAGE_SIZE
    city_wide = args.get("unit_id") == CITY_WIDE
    return QueueFilter(
        unit_id=None if city_wide else parse_id(args.get("unit_id"), "unit_id"), city_wide=city_wide, states=states,
        category_id=parse_id(args.get("category_id"), "category_id"), area_id=parse_id(args.get("area_id"), "area_id"),
        assignee_id=parse_id(args.get("assignee_id"), "assignee_id"),
        unassigned=args.get("unassigned") in ("1", "on", "true"),
        overdue=args.get("overdue") in ("1", "on", "true"), channel=channel, q=q,
        after_due=after_due, after_id=parse_id(args.get("after_id"), "after_id"),
        after_null=raw_due == "none", limit=min(max(limit, 1), MAX_PAGE_SIZE),
    )


@dataclass
class QueueRow:
    report: Report
    category: str
    area: str
    unit: str
    deadline: str  # ok | due_soon | overdue | none
    thumb_key: str | None
    flags: list[str]
    assignee: str = ""


@dataclass
class QueuePage:
    rows: list[QueueRow]
    next_cursor: dict[str, str] | None


def deadline_class(report: Report, now: datetime) -> str:
    """``ok`` / ``due_soon`` / ``overdue`` (or ``none`` without a deadline) for colouring."""
    due = report.resolve_due_at
    if report.status in (State.RECEIVED, State.TRIAGE) and report.ack_due_at is not None:
        due = report.ack_due_at if due is None else min(due, report.ack_due_at)
    if due is None:
        return "none"
    if due <= now:
        return "overdue"
    return "due_soon" if due - now <= DUE_SOON else "ok"


def queue(session: Session, *, staff: Staff, flt: QueueFilter, now: datetime) -> QueuePage:
    """One page of the queue visible to ``staff``. Raises Forbidden for a unit they may not see."""
    stmt = _with_names().where(col(Report.status).not_in(NOT_OPEN))
    visible = visible_unit_ids(session, staff=staff)
    if flt.unit_id is not None:
        if visible is not None and flt.unit_id not in visible:
            raise Forbidden("Bạn không có quyền xem hàng đợi của đơn vị này.", code="other-unit")
        stmt = stmt.where(Report.unit_id == flt.unit_id)
    elif visible is not None:
        stmt = stmt.where(col(Report.unit_id).in_(visible) if visible else false())
    stmt = in_scope(stmt, category_scope(session, staff=staff))  # an officer of a unit that scopes by category
    stmt = _apply_filters(stmt, flt, now)
    stmt = _apply_cursor(stmt, flt)
    stmt = stmt.order_by(col(Report.resolve_due_at).asc().nulls_last(), col(Report.id).asc()).limit(flt.limit + 1)
    found = list(session.exec(stmt))
    more = len(found) > flt.limit
    found = found[: flt.limit]
    reports = [row[0] for row in found]
    rows = [QueueRow(report=r, category=cat or "", area=area or "", unit=unit or "", deadline=deadline_class(r, now),
                     thumb_key=smallest_thumb(thumb, None), flags=report_flags(r), assignee=who or "")
            for r, cat, area, unit, thumb, who in found]
    cursor = None
    if more and reports:
        last = reports[-1]
        cursor = {"after_due": last.resolve_due_at.isoformat() if last.resolve_due_at else "none",
                  "after_id": str(last.id)}
    return QueuePage(rows=rows, next_cursor=cursor)


def in_scope(stmt: Any, categories: list[int] | None) -> Any:
    """Limit ``stmt`` (over reports) to an officer's categories (``city.category_scope``; None = no limit).

    The one rule for everything an officer of a category-scoped unit sees in the inbox: the queue and its live
    refresh, the map, the unit counts and the new-reports count. A report page stays reachable by its link."""
    return stmt if categories is None else stmt.where(col(Report.category_id).in_(categories))


def _with_names() -> Any:
    """Reports with category, area and unit names and the first thumbnail: one round trip for the page."""
    thumb = (select(Photo.thumb_keys)
             .where(Photo.report_id == Report.id, Photo.role == PhotoRole.REPORT, Photo.state == PhotoState.READY)
             .order_by(col(Photo.id)).limit(1).correlate(Report).scalar_subquery())
    return (select(Report, Category.name_vi, Area.name, Unit.name_vi, thumb, Staff.name)
            .outerjoin(Staff, col(Staff.id) == Report.assignee_id)
            .outerjoin(Category, col(Category.id) == Report.category_id)
            .outerjoin(Area, col(Area.id) == Report.area_id)
            .outerjoin(Unit, col(Unit.id) == Report.unit_id))


def _apply_filters(stmt: Any, flt: QueueFilter, now: datetime) -> Any:
    if flt.states:
        stmt = stmt.where(col(Report.status).in_(flt.states))
    if flt.category_id is not None:
        stmt = stmt.where(Report.category_id == flt.category_id)
    if flt.area_id is not None:
        stmt = stmt.where(Report.area_id == flt.area_id)
    if flt.unassigned:
        stmt = stmt.where(col(Report.assignee_id).is_(None))
    elif flt.assignee_id is not None:
        stmt = stmt.where(Report.assignee_id == flt.assignee_id)
    if flt.channel:
        stmt = stmt.where(Report.channel == flt.channel)
    if flt.overdue:
        stmt = stmt.where(overdue_at(now))
    if flt.contact_ids is not None:
        return stmt.where(col(Report.resident_id).in_(flt.contact_ids) if flt.contact_ids else false())
    for word in fold(flt.q).split()[:8]:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(or_(col(Report.search_text).like(f"%{escaped}%", escape="\\"),
                              col(Report.code) == word.upper()))
    return stmt


def _apply_cursor(stmt: Any, flt: QueueFilter) -> Any:
    if flt.after_id is None:
        return stmt
    due, rid = col(Report.resolve_due_at), col(Report.id)
    if flt.after_null or flt.after_due is None:
        return stmt.where(due.is_(None), rid > flt.after_id)
    return stmt.where(or_(due > flt.after_due, and_(due == flt.after_due, rid > flt.after_id), due.is_(None)))


def decorate(session: Session, *, reports: list[Report], now: datetime) -> list[QueueRow]:
    """Attach names, deadline colour, a thumbnail key and flags with three small IN queries."""
    cats = _names(session, Category, {r.category_id for r in reports}, "name_vi")
    areas = _names(session, Area, {r.area_id for r in reports}, "name")
    units = _names(session, Unit, {r.unit_id for r in reports}, "name_vi")
    people = _names(session, Staff, {r.assignee_id for r in reports}, "name")
    thumbs = thumbnails(session, report_ids=[r.id for r in reports if r.id is not None])
    return [QueueRow(report=r, category=cats.get(r.category_id, ""), area=areas.get(r.area_id, ""),
                     unit=units.get(r.unit_id, ""), deadline=deadline_class(r, now),
                     thumb_key=thumbs.get(r.id), flags=report_flags(r), assignee=people.get(r.assignee_id, ""))
            for r in reports]


def _names(session: Session, model: Any, ids: set[int | None], attr: str) -> dict[int, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = session.exec(select(model.id, getattr(model, attr)).where(col(model.id).in_(wanted)))
    return {row[0]: row[1] for row in rows}


def overdue_at(now: datetime) -> Any:
    """An open report is overdue once its resolve deadline has passed — a paused one only if the pause began
    after the deadline: the KPIs' rule (docs/kpis.md), so the queue, the IOC and the city page count as
    ``deadlines.figures`` does."""
    return and_(col(Report.resolve_due_at) < now,
                or_(col(Report.sla_paused_at).is_(None), col(Report.sla_paused_at) > col(Report.resolve_due_at)))


def overdue_elsewhere(session: Session, *, staff: Staff, now: datetime, limit: int = 50) -> list[QueueRow]:
    """Every unit's overdue open reports (IOC view). Dispatchers and admins only."""
    if not sees_all_units(staff):
        raise Forbidden("Chỉ trung tâm điều hành xem được quá hạn của mọi đơn vị.", code="ioc-only")
    stmt = (select(Report).where(col(Report.status).not_in(NOT_OPEN), overdue_at(now))
            .order_by(col(Report.resolve_due_at).asc(), col(Report.id)).limit(limit))
    return decorate(session, reports=list(session.exec(stmt)), now=now)


def counts_by_unit(session: Session, *, unit_ids: list[int], now: datetime,
                   categories: list[int] | None = None) -> dict[int, tuple[int, int]]:
    """``{unit_id: (open, overdue)}`` for the unit switcher; ``categories`` limits them to an officer's
    categories (``city.category_scope``), as their queue is."""
    from sqlalchemy import case, func

    if not unit_ids:
        return {}
    overdue = func.sum(case((overdue_at(now), 1), else_=0))
    stmt = (select(Report.unit_id, func.count(), overdue)
            .where(col(Report.status).not_in(NOT_OPEN), col(Report.unit_id).in_(unit_ids)))
    stmt = in_scope(stmt, categories).group_by(Report.unit_id)
    return {row[0]: (int(row[1]), int(row[2] or 0)) for row in session.exec(stmt)}


@dataclass
class CityOverview:
    """The leaders' landing: the whole city's open and overdue work, by unit, and the oldest overdue items."""

    open: int
    overdue: int
    unassigned: int
    units: list[tuple[Unit, int, int]]  # (unit, open, overdue), most overdue first
    overdue_rows: list[QueueRow]
    month: dict[str, Any] = field(default_factory=dict)  # deadlines.figures(...)["period"] of this month


def city_overview(session: Session, *, staff: Staff, now: datetime) -> CityOverview:
    """Numbers for roles that see every unit (admin, dispatcher, a viewer without a unit): open and overdue work
    now (overdue by :func:`overdue_at`, so the totals equal this month's ``open`` / ``open_overdue`` in
    ``deadlines.figures``), by unit, and the month's KPI figures."""
    from sqlalchemy import func

    if not sees_all_units(staff):
        raise Forbidden("Chỉ lãnh đạo và trung tâm điều hành xem được toàn thành phố.", code="city-only")
    units = {u.id: u for u in session.exec(select(Unit))}
    counts = counts_by_unit(session, unit_ids=list(units), now=now)
    unassigned = session.exec(select(func.count()).select_from(Report).where(
        col(Report.status).not_in(NOT_OPEN), col(Report.assignee_id).is_(None))).one()
    rows = sorted(((units[uid], o, d) for uid, (o, d) in counts.items() if uid in units),
                  key=lambda t: (-t[2], -t[1], t[0].name_vi))
    return CityOverview(open=sum(o for _u, o, _d in rows), overdue=sum(d for _u, _o, d in rows),
                        unassigned=int(unassigned), units=rows,
                        overdue_rows=overdue_elsewhere(session, staff=staff, now=now, limit=20),
                        month=_month_figures(session, now))


def _month_figures(session: Session, now: datetime) -> dict[str, Any]:
    """This city month's ``deadlines.figures`` period (the call ``GET /api/v1/stats`` makes), with its label."""
    start = now.astimezone(ZoneInfo(timezone(session))).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return {**deadlines.figures(session, start=start, end=end, now=now)["period"], "label": f"{start:%m/%Y}"}


def newer_than(session: Session, *, staff: Staff, unit_id: int | None, since_id: int) -> int:
    """How many visible open reports have an id above ``since_id`` (the live-refresh badge), within the
    officer's categories when their unit scopes queues by category."""
    from sqlalchemy import func

    stmt = select(func.count()).select_from(Report).where(col(Report.status).not_in(NOT_OPEN),
                                                          col(Report.id) > since_id)
    visible = visible_unit_ids(session, staff=staff)
    if unit_id is not None:
        if visible is not None and unit_id not in visible:
            raise Forbidden("Bạn không có quyền xem hàng đợi của đơn vị này.", code="other-unit")
        stmt = stmt.where(Report.unit_id == unit_id)
    elif visible is not None:
        stmt = stmt.where(col(Report.unit_id).in_(visible) if visible else false())
    return int(session.exec(in_scope(stmt, category_scope(session, staff=staff))).one())


# --------------------------------------------------------------------------- reporter search


def contact_search(session: Session, *, staff: Staff, flt: QueueFilter) -> bool:
    """When the search text is a phone number or an e-mail and ``staff`` may read reporters' contacts,
    turn the search into "reports of these residents" and audit it (who searched, not the number).

    Returns whether the search was a contact search. Others searching a number get the text search.
    """
    from backend.models.residents import Identity, Resident
    from backend.models.staff import StaffAudit
    from backend.services.city import settings as city_settings
    from backend.services.city.access import can_act
    from backend.services.residents import phones

    q = flt.q.strip()
    phone = phones.normalize(q) if sum(ch.isdigit() for ch in q) >= 9 and "@" not in q else None
    email = q.lower() if "@" in q and " " not in q else None
    if phone is None and email is None:
        return False
    if not (can_act(staff) and city_settings.reporter_visible_to_units(session)):
        return False
    if phone is not None:
        variants = [phone, "+" + phone, "0" + phone[2:]]
        ids = set(session.exec(select(Resident.id).where(col(Resident.phone).in_(variants))))
        ids |= set(session.exec(select(Identity.resident_id).where(Identity.phone == phone)))
    else:
        from sqlalchemy import func

        ids = set(session.exec(select(Resident.id).where(func.lower(Resident.email) == email)))
    flt.contact_ids = sorted(i for i in ids if i is not None)[:500]
    session.add(StaffAudit(kind="contact_search", staff_id=staff.id, actor_id=staff.id,
                           data={"by": "phone" if phone else "email", "residents": len(flt.contact_ids)}))
    session.flush()
    return True


# --------------------------------------------------------------------------- saved views


def save_view(session: Session, *, staff: Staff, name: str, flt: QueueFilter) -> SavedView:
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("Tên bộ lọc phải có từ 1 đến 100 ký tự.", code="invalid-name")
    view = SavedView(staff_id=staff.id, name=name, query=flt.as_query())
    session.add(view)
    session.flush()
    return view


def saved_views(session: Session, *, staff: Staff) -> list[SavedView]:
    return list(session.exec(select(SavedView).where(SavedView.staff_id == staff.id).order_by(col(SavedView.name))))


def delete_view(session: Session, *, staff: Staff, view_id: int) -> None:
    view = session.get(SavedView, view_id)
    if view is None or view.staff_id != staff.id:
        raise NotFound("Không tìm thấy bộ lọc đã lưu.", code="view-not-found")
    session.delete(view)
    session.flush()
