"""The report page (photos, map, timeline, deadlines, duplicate candidates) and its actions.

Every action is one ``reports.apply`` call with the version the page rendered: a second officer
acting on a stale page gets a clear conflict message, never a silent overwrite.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlmodel import select

from backend.db import request_session
from backend.errors import Conflict, InvalidInput, NotFound
from backend.models.photos import Photo
from backend.models.reports import Report
from backend.models.units import Unit
from backend.schemas.common import parse_id
from backend.services import city, reports
from backend.services.events import Actor
from backend.web import common
from backend.web.inbox import options, suggest

bp = Blueprint("web_reports", __name__, url_prefix="/inbox/r", template_folder="templates")
common.protect(bp)

#: form fields each action reads (text fields are stripped; empty optional fields are omitted)
ACTION_FIELDS: dict[str, tuple[str, ...]] = {
    "route": ("unit_id", "priority"), "acknowledge": (), "start": (), "resume": (), "close": ("reason",),
    "assign": ("assignee_id",), "transfer": ("unit_id", "reason"), "hold": ("reason",),
    "extend": ("budget", "reason"), "reply": ("text",), "note": ("text",),
    "change_category": ("category_code",), "relocate": ("lat", "lon"),
    "change_priority": ("priority",), "mark_duplicate": ("of_code",),
    "reject": ("reason",), "not_competent": ("reason", "guidance"), "resolve": ("reply",), "reopen": ("reason",),
    "edit_text": ("description", "reason"), "hide": ("reason",), "unhide": ("reason",),
}
INT_FIELDS = {"unit_id", "assignee_id"}


def _load(code: str) -> Report:
    report = request_session().exec(select(Report).where(Report.code == code.strip().upper()[:16])).first()
    if report is None:
        raise NotFound(_("Không tìm thấy phản ánh %(code)s.", code=code[:16]), code="report-not-found")
    city.ensure_can_see(common.require_staff(), report)
    return report


@bp.get("/<code>")
def show(code: str) -> Any:
    staff = common.require_staff()
    session = request_session()
    report = _load(code)
    page = reports.build_page(session, report=report, staff=staff, now=common.now())
    opts = options(session, staff=staff, unit_id=report.unit_id)
    suggested = None
    if request.args.get("moved") and "transfer" in page.actions:  # after a relocation: offer re-routing
        unit_id = reports.routing_suggestion(session, report)
        suggested = session.get(Unit, unit_id) if unit_id else None
    suggestion = suggest(session, report) if {"route", "transfer"} & set(page.actions) else None
    return render_template("web/report.html", r=report, p=page, ACTION_LABELS=reports.ACTION_LABELS,
                           suggestion=suggestion,
                           suggested_unit=suggested, **opts)


@bp.post("/<code>/act")
def act(code: str) -> Any:
    """One workflow action from the report page (or the IOC one-click routing)."""
    from backend.services import reports

    staff = common.require_staff()
    session = request_session()
    report = _load(code)
    action = request.form.get("action", "")
    if action not in ACTION_FIELDS:
        raise InvalidInput(_("Thao tác không hợp lệ."), code="unknown-action")
    city.ensure_can_act(staff, report)
    version = request.form.get("version", "")
    if not version.isdigit():
        raise InvalidInput(_("Thiếu phiên bản của phản ánh; vui lòng tải lại trang."), code="version-required")
    fields = _fields(action)
    if action == "resolve":
        fields["after_photo_ids"] = _upload_after_photos(staff)
    try:
        reports.apply(session, report, action, actor=Actor.staff(staff), expected_version=int(version), **fields)
    except Conflict as exc:
        if exc.code != "version-conflict":
            raise
        session.rollback()
        fresh = session.get(Report, report.id)
        flash(_("Phản ánh %(code)s vừa được người khác cập nhật (trạng thái hiện tại: %(state)s). "
                "Thao tác của bạn chưa được lưu; trang đã tải lại dữ liệu mới nhất, vui lòng kiểm tra rồi "
                "thao tác lại.", code=report.code,
                state=common.STATE_LABELS.get(fresh.status if fresh else report.status, "")), "conflict")
        return redirect(url_for("web_reports.show", code=report.code), code=303)
    flash(_("Đã thực hiện: %(action)s.", action=reports.ACTION_LABELS.get(action, action)), "success")
    if action == "relocate":
        return redirect(url_for("web_reports.show", code=report.code, moved=1), code=303)
    if not city.can_see_report(staff, report):  # transferred out of the officer's unit: back to their queue
        return redirect(url_for("web_inbox.queue"), code=303)
    return redirect(common.back_url(url_for("web_reports.show", code=report.code)), code=303)


def _fields(action: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in ACTION_FIELDS[action]:
        raw = (request.form.get(name) or "").strip()
        if not raw:
            continue
        if name in INT_FIELDS:
            value = parse_id(raw, name)
            if value is not None:
                fields[name] = value
        else:
            fields[name] = raw
    return fields


def _upload_after_photos(staff: Any) -> list[int]:
    from backend.services import photos

    settings = current_app.extensions["phananh.settings"]
    ids = []
    for upload in request.files.getlist("after_photo")[:5]:
        if not upload or not upload.filename:
            continue
        data = upload.read(settings.max_upload_bytes + 1)
        photo = photos.accept_upload(request_session(), data=data, storage=photos.get_storage(settings),
                                     staff_id=staff.id, role="after", max_bytes=settings.max_upload_bytes)
        ids.append(photo.id)
    return ids


@bp.post("/<code>/photos/<int:photo_id>/original")
def original(code: str, photo_id: int) -> Any:
    """The private original, after an explicit click; the view is logged (``pii_viewed``)."""
    from backend.services import photos

    staff = common.require_staff()
    report = _load(code)
    photo = request_session().get(Photo, photo_id)
    if photo is None or photo.report_id != report.id:
        raise NotFound(_("Không tìm thấy ảnh."), code="photo-not-found")
    settings = current_app.extensions["phananh.settings"]
    data = photos.original_for_staff(request_session(), photo=photo, actor=Actor.staff(staff),
                                     storage=photos.get_storage(settings))
    resp = Response(data, mimetype=photo.mime or "application/octet-stream")
    resp.headers["Content-Disposition"] = f'inline; filename="{report.code}-{photo.id}-goc"'
    resp.headers["Cache-Control"] = "no-store, private"
    return resp


@bp.post("/<code>/photos/<int:photo_id>/blur")
def blur(code: str, photo_id: int) -> Any:
    """Blur rectangles of a photo's public copy (faces, number plates); the original is untouched.

    The rectangles come as ``rect`` fields "x,y,w,h" (dragged over the photo by ``blur.js``) or, typed
    with the keyboard, as the four numeric fields x, y, w, h.
    """
    from backend.services import photos

    staff = common.require_staff()
    session = request_session()
    report = _load(code)
    city.ensure_can_act(staff, report)
    photo = session.get(Photo, photo_id)
    if photo is None or photo.report_id != report.id:
        raise NotFound(_("Không tìm thấy ảnh."), code="photo-not-found")
    rects = _rects()
    reason = (request.form.get("reason") or "").strip()[:2000]
    if not reason:
        raise InvalidInput(_("Vui lòng nêu lý do che ảnh."), code="reason-required")
    settings = current_app.extensions["phananh.settings"]
    photos.redact(session, photo=photo, rects=rects, actor=Actor.staff(staff),
                  storage=photos.get_storage(settings), reason=reason)
    flash(ngettext("Đã che %(num)d vùng trên ảnh công khai; ảnh gốc giữ nguyên.",
                   "Đã che %(num)d vùng trên ảnh công khai; ảnh gốc giữ nguyên.", len(rects)), "success")
    return redirect(url_for("web_reports.show", code=report.code), code=303)


def _rects() -> list[tuple[int, int, int, int]]:
    """The dragged rectangles ("x,y,w,h" each), else the one typed in the numeric fields."""
    drawn = [raw for raw in request.form.getlist("rect")[:50] if raw.strip()]
    if drawn:
        return [_rect(raw.split(",")) for raw in drawn]
    return [_rect([request.form.get(name) or "" for name in ("x", "y", "w", "h")])]


def _rect(parts: list[str]) -> tuple[int, int, int, int]:
    if len(parts) != 4:
        raise InvalidInput(_("Vùng cần che phải là các số điểm ảnh không âm."), code="invalid-rect")
    x, y, w, h = (_pixels(p) for p in parts)
    return x, y, w, h


def _pixels(raw: str) -> int:
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 5:
        raise InvalidInput(_("Vùng cần che phải là các số điểm ảnh không âm."), code="invalid-rect")
    return int(raw)


@bp.post("/<code>/contact")
def contact(code: str) -> Any:
    """The reporter's contact, where city policy allows; each view is a ``pii_viewed`` event."""
    staff = common.require_staff()
    report = _load(code)
    info = reports.reporter_contact(request_session(), report=report, staff=staff)
    return render_template("web/_contact.html", r=report, info=info)
