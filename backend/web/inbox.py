"""The triage queue: list, live refresh, map, saved views, bulk actions and the IOC view."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlmodel import Session, col, select

from backend.db import request_session
from backend.errors import DomainError, InvalidInput
from backend.models.areas import Area
from backend.models.categories import Category
from backend.models.reports import OPEN_STATES, Channel, Report
from backend.models.staff import Role, Staff
from backend.models.units import Unit
from backend.schemas.common import parse_id
from backend.services import city, reports
from backend.services import inbox as inbox_service
from backend.web import common

bp = Blueprint("web_inbox", __name__, url_prefix="/inbox", template_folder="templates")
common.protect(bp)

BULK_ACTIONS = ("acknowledge", "assign", "transfer")


def _filter_for(staff: Staff) -> inbox_service.QueueFilter:
    """The queue filter of the request. Without a unit chosen: a search by a city-wide role looks at the
    whole city; a viewer without a unit (leaders) sees the whole city; everybody else opens their home unit.
    A report code (typed any way: "pa d95z5j") or a reporter's phone / e-mail searched by a city-wide role
    looks across the city even with a unit chosen — the form carries the unit on screen, and a code or a
    caller's number must be found wherever the report is. The reporter's phone or e-mail is searched for
    roles allowed to read contacts (audited)."""
    session = request_session()
    flt = inbox_service.parse_filter(request.args)
    if request.args.get("all") == "1":
        flt.city_wide = True
    if flt.unit_id is None and not flt.city_wide:
        if city.sees_all_units(staff) and (flt.q or staff.role == Role.VIEWER):
            flt.city_wide = True
        else:
            unit = city.home_unit(session, staff=staff)
            flt.unit_id = unit.id if unit is not None else None
    if flt.q:
        code = reports.normalize_code(flt.q)
        flt.q = code or flt.q
        by_contact = inbox_service.contact_search(session, staff=staff, flt=flt)
        if (code or by_contact) and city.sees_all_units(staff):
            flt.unit_id, flt.city_wide = None, True  # a code or a caller's phone: wherever the report is
    return flt


def _queue_options(session: Session, *, staff: Staff, unit_id: int | None) -> dict[str, Any]:
    """:func:`options` for the queue and its map: an officer of a category-scoped unit filters among their
    categories only (the report page still offers every category to change to)."""
    opts = options(session, staff=staff, unit_id=unit_id)
    scope = city.category_scope(session, staff=staff)
    if scope is not None:
        opts["categories"] = [c for c in opts["categories"] if c.id in scope]
    return opts


def options(session: Session, *, staff: Staff, unit_id: int | None) -> dict[str, Any]:
    """Choices for the filter form and action forms."""
    everything = list(session.exec(select(Unit).order_by(col(Unit.is_triage).desc(), col(Unit.name_vi))))
    now = common.now()
    units = [u for u in everything if city.is_unit_active(u, now)]  # targets: never an ended or merged unit
    categories = list(session.exec(select(Category).where(Category.active == True)  # noqa: E712
                                   .order_by(col(Category.sort_order), col(Category.name_vi))))
    areas = list(session.exec(select(Area.id, Area.name).order_by(col(Area.name)).limit(5000)))
    people_stmt = select(Staff).where(Staff.is_active == True,  # noqa: E712
                                      col(Staff.role).in_([Role.OFFICER, Role.HEAD]))
    if unit_id is not None:
        people_stmt = people_stmt.where(Staff.unit_id == unit_id)
    people = list(session.exec(people_stmt.order_by(col(Staff.name)).limit(500)))
    visible = city.visible_unit_ids(session, staff=staff)
    switchable = [u for u in units if visible is None or u.id in visible]
    return {"units": units, "switchable": switchable, "categories": categories, "areas": areas,
            "people": people, "open_states": [s.value for s in OPEN_STATES], "channels": [c.value for c in Channel],
            "city_scope": city.sees_all_units(staff), "me_id": staff.id}


@bp.get("")
@bp.get("/")
def queue() -> Any:
    staff = common.require_staff()
    session = request_session()
    if staff.role == Role.VIEWER and staff.unit_id is None and not request.args:
        return redirect(url_for("web_inbox.city_page"))  # leaders land on the city's numbers
    flt = _filter_for(staff)
    page = inbox_service.queue(session, staff=staff, flt=flt, now=common.now())
    opts = _queue_options(session, staff=staff, unit_id=flt.unit_id)
    switchable = opts["switchable"]
    counts = inbox_service.counts_by_unit(session, unit_ids=[u.id for u in switchable][:300], now=common.now(),
                                          categories=city.category_scope(session, staff=staff)) \
        if len(switchable) > 1 else {}
    return render_template("web/queue.html", page=page, flt=flt, query=flt.as_query(), counts=counts,
                           views=inbox_service.saved_views(session, staff=staff),
                           can_act=city.can_act(staff), **opts)


@bp.get("/city")
def city_page() -> Any:
    """The city at a glance: open, overdue and unassigned work of every unit (leaders' landing page)."""
    staff = common.require_staff()
    if not city.sees_all_units(staff):
        return common.error_page(403, _("Chỉ lãnh đạo và trung tâm điều hành xem được toàn thành phố."))
    overview = inbox_service.city_overview(request_session(), staff=staff, now=common.now())
    return render_template("web/city.html", o=overview)


@bp.get("/rows")
def rows() -> Any:
    """The table body (htmx: live refresh and "more")."""
    staff = common.require_staff()
    flt = _filter_for(staff)
    page = inbox_service.queue(request_session(), staff=staff, flt=flt, now=common.now())
    template = "web/_queue_more.html" if flt.after_id is not None else "web/_queue_body.html"
    return render_template(template, page=page, flt=flt, query=flt.as_query(),
                           can_act=city.can_act(staff))


@bp.get("/map")
def map_page() -> Any:
    staff = common.require_staff()
    session = request_session()
    flt = _filter_for(staff)
    opts = _queue_options(session, staff=staff, unit_id=flt.unit_id)
    return render_template("web/queue_map.html", flt=flt, query=flt.as_query(), **opts)


@bp.get("/map.json")
def map_json() -> Any:
    """The same list as GeoJSON points (at most 500) for the Leaflet map."""
    staff = common.require_staff()
    flt = _filter_for(staff)
    flt.limit = inbox_service.MAX_PAGE_SIZE
    features = []
    for _round in range(3):
        page = inbox_service.queue(request_session(), staff=staff, flt=flt, now=common.now())
        for row in page.rows:
            r = row.report
            if r.lat is None or r.lon is None:
                continue
            features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [r.lon, r.lat]},
                             "properties": {"code": r.code, "state": common.STATE_LABELS.get(r.status, r.status),
                                            "category": row.category, "deadline": row.deadline,
                                            "url": url_for("web_reports.show", code=r.code)}})
        if not page.next_cursor:
            break
        flt.after_due = None if page.next_cursor["after_due"] == "none" else \
            inbox_service.parse_filter(page.next_cursor).after_due
        flt.after_null = page.next_cursor["after_due"] == "none"
        flt.after_id = int(page.next_cursor["after_id"])
    return jsonify({"type": "FeatureCollection", "features": features})


@bp.post("/views")
def save_view() -> Any:
    staff = common.require_staff()
    flt = inbox_service.parse_filter(request.form)
    view = inbox_service.save_view(request_session(), staff=staff, name=request.form.get("name", ""), flt=flt)
    flash(_("Đã lưu bộ lọc “%(name)s”.", name=view.name), "success")
    return redirect(url_for("web_inbox.queue", **view.query), code=303)


@bp.post("/views/<int:view_id>/delete")
def delete_view(view_id: int) -> Any:
    inbox_service.delete_view(request_session(), staff=common.require_staff(), view_id=view_id)
    flash(_("Đã xóa bộ lọc."), "success")
    return redirect(url_for("web_inbox.queue"), code=303)


@bp.post("/bulk")
def bulk() -> Any:
    """Acknowledge / assign / transfer several reports; each goes through the workflow service."""
    from backend.services.events import Actor

    staff = common.require_staff()
    city.ensure_can_act(staff)  # a read-only account is refused as a whole, not item by item
    action = request.form.get("action", "")
    if action not in BULK_ACTIONS:
        raise InvalidInput(_("Thao tác hàng loạt không hợp lệ."), code="invalid-action")
    fields = _bulk_fields(action)
    session = request_session()
    done, failed = 0, []
    for item in request.form.getlist("report")[:200]:
        code, _sep, version = item.partition(":")
        report = session.exec(select(Report).where(Report.code == code)).first()
        if report is None or not version.isdigit():
            failed.append(f"{code}: {_('không tìm thấy')}")
            continue
        try:
            with session.begin_nested():
                city.ensure_can_act(staff, report)
                reports.apply(session, report, action, actor=Actor.staff(staff),
                               expected_version=int(version), **fields)
            done += 1
        except DomainError as exc:
            failed.append(f"{code}: {exc.message}")
    if done:
        label = reports.ACTION_LABELS.get(action, action)
        flash(ngettext("Đã thực hiện “%(action)s” cho %(num)d phản ánh.",
                       "Đã thực hiện “%(action)s” cho %(num)d phản ánh.", done, action=label), "success")
    for message in failed[:10]:
        flash(message, "error")
    if not done and not failed:
        flash(_("Chưa chọn phản ánh nào."), "error")
    return redirect(common.back_url(url_for("web_inbox.queue")), code=303)


def _bulk_fields(action: str) -> dict[str, Any]:
    if action == "assign":
        assignee = parse_id(request.form.get("assignee_id"), "assignee_id")
        if assignee is None:
            raise InvalidInput(_("Hãy chọn cán bộ được giao."), code="assignee-required")
        return {"assignee_id": assignee}
    if action == "transfer":
        unit_id = parse_id(request.form.get("unit_id"), "unit_id")
        reason = (request.form.get("reason") or "").strip()
        if unit_id is None or not reason:
            raise InvalidInput(_("Chuyển đơn vị cần chọn đơn vị và ghi lý do."), code="reason-required")
        return {"unit_id": unit_id, "reason": reason}
    return {}


@bp.get("/ioc")
@common.roles(Role.ADMIN, Role.DISPATCHER)
def ioc() -> Any:
    """The IOC: the triage queue with routing suggestions, and every unit's overdue items."""
    from backend.services import city

    staff = common.require_staff()
    session = request_session()
    triage = city.triage_unit(session)
    flt = inbox_service.parse_filter(request.args)
    flt.unit_id = triage.id
    page = inbox_service.queue(session, staff=staff, flt=flt, now=common.now())
    suggestions = {}
    for row in page.rows:
        suggestions[row.report.id] = suggest(session, row.report)
    overdue = inbox_service.overdue_elsewhere(session, staff=staff, now=common.now())
    opts = options(session, staff=staff, unit_id=None)
    return render_template("web/ioc.html", page=page, overdue=overdue, suggestions=suggestions,
                           triage=triage, flt=flt, query=flt.as_query(), **opts)


@dataclass
class Suggestion:
    """The routing service's answer for a report, with why (shown next to the preselected unit)."""

    unit: Unit
    reason: str


def suggest(session: Session, report: Report) -> Suggestion | None:
    """Where the routing service would send ``report`` (None: it would stay in triage)."""
    category = session.get(Category, report.category_id) if report.category_id else None
    try:
        found = city.route(session, category=category, lat=report.lat, lon=report.lon)
    except DomainError:
        return None
    unit = session.get(Unit, found.unit_id)
    if found.is_triage or unit is None:
        return None
    area = session.get(Area, found.area_id) if found.area_id else None
    if category is not None and area is not None:
        reason = _("Quy tắc định tuyến: lĩnh vực “%(category)s” tại %(area)s.", category=category.name_vi,
                   area=area.name)
    elif category is not None:
        reason = _("Quy tắc định tuyến: lĩnh vực “%(category)s”.", category=category.name_vi)
    else:
        reason = _("Quy tắc định tuyến theo vị trí.")
    return Suggestion(unit=unit, reason=reason)
