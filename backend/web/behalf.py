"""Report on behalf (``/inbox/new``): staff enter a report from a call to the hotline or a visit to the counter.

Thin views over ``reports.submit_on_behalf`` (the same intake as the app, Zalo and the web form). The form
carries a signed one-time key bound to the staff member, so a double submit makes one report and shows it
again. A refused form comes back with what was typed and a Vietnamese message (nothing stored). After the
submit the page ``/inbox/new/<code>`` (the creator's only) shows the code, the deadline, the reporter's
signed link, the SMS text to copy and, when the caller's number belongs to a Zalo follower who shared it,
"Gửi qua Zalo". The address search is the city's ward look-up (``/inbox/new/places?q=``).
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import Session

from backend import http
from backend.db import request_session
from backend.errors import DomainError, Forbidden, InvalidInput
from backend.http import mark_rollback
from backend.models.staff import Role, Staff
from backend.models.units import Unit
from backend.services import city, notify, photos, reports, residents
from backend.services.events import Actor
from backend.web import common, forms

bp = Blueprint("web_behalf", __name__, url_prefix="/inbox/new", template_folder="templates")
common.protect(bp)

ACTING = (Role.ADMIN, Role.DISPATCHER, Role.HEAD, Role.OFFICER)
SALT = "phananh.behalf.v1"
FORM_MAX_AGE_S = 8 * 3600
FIELDS = ("channel", "caller_name", "caller_phone", "no_phone", "category", "description", "lat", "lon", "address",
          "place")
BAD_FORM = "Biểu mẫu đã hết hạn hoặc không hợp lệ. Vui lòng tải lại trang và nhập lại."


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(http.settings().secret_key, salt=SALT)


def _form_page(session: Session, staff: Staff, *, values: dict[str, str] | None = None, error: str | None = None,
               status: int = 200) -> Response:
    defaults = {"channel": "hotline" if staff.role in (Role.ADMIN, Role.DISPATCHER) else "counter"}
    page = render_template("web/behalf_form.html", values={**defaults, **(values or {})}, error=error,
                           submission=_serializer().dumps([staff.id, secrets.token_hex(12)]),
                           categories=[c for c in city.active_categories(session) if not c.is_emergency],
                           emergencies=[c for c in city.active_categories(session) if c.is_emergency],
                           hotlines=city.hotlines(session), max_photos=reports.BEHALF_MAX_PHOTOS,
                           bounds=forms.map_bounds(session))
    return Response(page, status=status, mimetype="text/html")


@bp.get("")
@common.roles(*ACTING)
def form() -> Response:
    return _form_page(request_session(), common.require_staff())


@bp.get("/places")
@common.roles(*ACTING)
def places() -> Any:
    """Wards and communes matching the typed words (the form's address search), as JSON."""
    found = city.find_places(request_session(), q=request.args.get("q", ""))
    return jsonify([{"code": p.code, "name": p.name, "lat": p.lat, "lon": p.lon, "bbox": list(p.bbox)}
                    for p in found])


def _key(staff: Staff) -> str:
    try:
        owner, nonce = _serializer().loads(request.form.get("submission", ""), max_age=FORM_MAX_AGE_S)
    except (BadSignature, ValueError, TypeError):
        raise InvalidInput(BAD_FORM, code="invalid-form") from None
    if owner != staff.id:
        raise InvalidInput(BAD_FORM, code="invalid-form")
    return f"behalf:{staff.id}:{nonce}"


def _uploads() -> list[bytes]:
    files = [f for f in request.files.getlist("photo") if f and f.filename]
    limit = http.settings().max_upload_bytes
    return [f.read(limit + 1) for f in files]


@bp.post("")
@common.roles(*ACTING)
def submit() -> Any:
    staff = common.require_staff()
    session = request_session()
    key = _key(staff)
    bad = _("Vị trí không hợp lệ. Vui lòng chọn lại trên bản đồ.")
    lat, lon = forms.form_number("lat", message=bad), forms.form_number("lon", message=bad)
    form = reports.BehalfForm(channel=request.form.get("channel", ""), caller_name=request.form.get("caller_name", ""),
                              caller_phone=request.form.get("caller_phone", ""),
                              no_phone=request.form.get("no_phone") == "1",
                              category_code=request.form.get("category", ""),
                              description=request.form.get("description", ""), lat=lat, lon=lon,
                              address=request.form.get("address", ""))
    reports.check_behalf(session, staff=staff, form=form)  # before reading the photos' bytes
    settings = http.settings()
    entered = reports.submit_on_behalf(session, staff=staff, form=form, key=key, uploads=_uploads(),
                                       storage=photos.get_storage(settings), max_bytes=settings.max_upload_bytes)
    if entered.replayed:
        flash(_("Phản ánh này đã được gửi trước đó (bấm gửi hai lần): không tạo thêm phản ánh mới."), "info")
    return redirect(url_for("web_behalf.done", code=entered.report.code), code=303)


@bp.get("/<code>")
def done(code: str) -> Any:
    """The creator's page after the submit: code, unit, deadline, the reporter's link, the SMS text, Zalo.
    Everyone else gets 404 (``reports.entered_by``)."""
    staff = common.require_staff()
    session = request_session()
    report = reports.entered_by(session, staff=staff, code=code)
    settings = http.settings()
    unit = session.get(Unit, report.unit_id) if report.unit_id else None
    if report.resident_id is None:  # the caller left no number: only the public page, nobody to notify
        public = notify.public_link(report, base_url=settings.base_url)
        return render_template("web/behalf_done.html", report=report, unit=unit, link=public, sms=None,
                               masked=None, zalo=False, no_contact=True)
    link = reports.reporter_link(report, base_url=settings.base_url, secret_key=settings.secret_key)
    _title, sms = notify.handover_text(session, report=report, link=link)
    phone = reports.caller_number(session, report=report)
    zalo = notify.zalo_contact(session, phone=phone)
    return render_template("web/behalf_done.html", report=report, unit=unit, link=link, sms=sms,
                           masked=residents.masked_phone(phone) if phone else None, zalo=zalo is not None,
                           no_contact=False)


@bp.post("/<code>/zalo")
def send_zalo(code: str) -> Any:
    """Send the reporter's link to the Zalo follower who shared the caller's number (once)."""
    staff = common.require_staff()
    session = request_session()
    report = reports.entered_by(session, staff=staff, code=code)
    identity = notify.zalo_contact(session, phone=reports.caller_number(session, report=report))
    if report.resident_id is None:
        flash(_("Người gọi không để lại số điện thoại: không có ai để gửi."), "error")
    elif identity is None:
        flash(_("Số điện thoại này chưa liên kết với Zalo của thành phố: hãy gửi tin nhắn SMS."), "error")
    else:
        settings = http.settings()
        link = reports.reporter_link(report, base_url=settings.base_url, secret_key=settings.secret_key)
        sent = notify.send_link_by_zalo(session, report=report, identity=identity, link=link,
                                        actor=Actor.staff(staff))
        flash(_("Đã gửi đường dẫn theo dõi qua Zalo.") if sent is not None
              else _("Đường dẫn đã được gửi qua Zalo trước đó; không gửi lại."), "success" if sent else "info")
    return redirect(url_for("web_behalf.done", code=report.code), code=303)


def _error(exc: DomainError) -> Any:
    """A refused form: the form again with what was typed (photos must be chosen again) and the message."""
    mark_rollback()
    if request.endpoint != "web_behalf.submit" or isinstance(exc, Forbidden):
        return common.error_page(exc.status, exc.message)
    values = {k: (request.form.get(k) or "")[:5000] for k in FIELDS}
    status = exc.status if exc.status < 500 else 503
    return _form_page(request_session(), common.require_staff(), values=values, error=exc.message, status=status)


bp.register_error_handler(DomainError, _error)
