"""The web report form (``/report``): a resident reports from a phone browser (Zalo's in-app browser
included) without the app — photos, a location (the phone's or a pin), a category, a description and,
optionally, a name/phone/e-mail given with the Decree 13/2023 consent.

Through the same services as the app: photos by ``photos.accept_upload`` (the same pipeline), the
report by ``reports.submit`` (routing, deadlines, the ``created`` event and its notifications) on
channel ``web``. Identity: a Firebase ID token handed over by the city app's WebView (``/report#id_token=…``,
copied by ``city.js`` into the form's ``id_token`` field; or ``Authorization: Bearer`` on the POST), verified
like the mobile API's, makes the reporter that Firebase user (docs/resident-web.md, "Signed in from the
app"); otherwise, when the city allows it (setting
``web_unverified_allowed``, default true), an unverified web reporter known by a device cookie — the
report is flagged ``unverified`` ("Chưa xác minh" in triage). Rate limits per IP and per device cookie.

Each form carries a signed submission id bound to the device cookie (the form's CSRF guard too); the
id is the idempotency key, so a double submit creates exactly one report and shows the same answer.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import Session
from werkzeug.exceptions import HTTPException

from backend import http
from backend.db import request_session
from backend.errors import DomainError, InvalidInput, Unauthorized
from backend.http import mark_rollback
from backend.models.reports import Report
from backend.services import city, photos, reports, residents
from backend.services.events import Actor
from backend.web import forms, public

bp = Blueprint("web_report_form", __name__, template_folder="templates")

DEVICE_COOKIE = "pa_device"
SALT = "phananh.web-report.v1"
FORM_MAX_AGE_S = 24 * 3600
MAX_PHOTOS = 5
MAX_CONTACT = 255
POLICY = "camera=(self), microphone=(), geolocation=(self)"
CONSENT = ("Tôi đồng ý để cơ quan tiếp nhận xử lý họ tên, số điện thoại, e-mail tôi cung cấp nhằm liên hệ và "
           "trả lời phản ánh này, theo Nghị định 13/2023/NĐ-CP về bảo vệ dữ liệu cá nhân. Thông tin này không "
           "được công khai.")


def _device_key() -> str:
    return f"dev:{request.cookies.get(DEVICE_COOKIE, '')[:64] or get_remote_address()}"


def _ip_key() -> str:
    return f"ip:{get_remote_address()}"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(http.settings().secret_key, salt=SALT)


def _device() -> tuple[str, bool]:
    """The device id from the cookie (a new one when missing or malformed) and whether it is new."""
    value = request.cookies.get(DEVICE_COOKIE, "")
    if len(value) == 32 and all(c in "0123456789abcdef" for c in value):
        return value, False
    return secrets.token_hex(16), True


def _with_device(resp: Response, device: str, new: bool) -> Response:
    if new:
        resp.set_cookie(DEVICE_COOKIE, device, max_age=365 * 86400, httponly=True, samesite="Lax",
                        secure=http.settings().is_production)
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Permissions-Policy"] = POLICY
    return resp


def _form_page(session: Session, *, device: str, values: dict[str, Any] | None = None,
               error: str | None = None, status: int = 200) -> Response:
    categories = city.active_categories(session)
    submission = _serializer().dumps([device, secrets.token_hex(12)])
    page = render_template("web/city/report_form.html", tile_url=_tiles(), categories=categories, submission=submission,
                           values=values or {}, error=error, consent=CONSENT, max_photos=MAX_PHOTOS,
                           photo_required=_photo_required(session), hotlines=city.hotlines(session),
                           bounds=forms.map_bounds(session))
    return Response(page, status=status, mimetype="text/html")


def _tiles() -> str:
    settings = http.settings()
    return settings.tile_url if settings.tile_origin else ""


def _photo_required(session: Session) -> bool:
    return city.setting(session, "web_photo_required") is not False


@bp.get("/report")
def form() -> Response:
    device, new = _device()
    return _with_device(_form_page(request_session(), device=device), device, new)


@dataclass(frozen=True)
class _Submission:
    key: str
    category: str | None
    description: str
    lat: float
    lon: float
    accuracy: float | None
    contact: dict[str, str]


def _float(name: str) -> float | None:
    return forms.form_number(name, message=_("Vị trí không hợp lệ."))


def _parse(session: Session, device: str) -> _Submission:
    try:
        owner, nonce = _serializer().loads(request.form.get("submission", ""), max_age=FORM_MAX_AGE_S)
    except (BadSignature, ValueError, TypeError):
        raise InvalidInput(_("Biểu mẫu đã hết hạn hoặc không hợp lệ. Vui lòng tải lại trang và gửi lại."),
                           code="invalid-form") from None
    if owner != device:
        raise InvalidInput(_("Biểu mẫu đã hết hạn hoặc không hợp lệ. Vui lòng tải lại trang và gửi lại."),
                           code="invalid-form")
    lat, lon = _float("lat"), _float("lon")
    if lat is None or lon is None:
        raise InvalidInput(_("Vui lòng chọn vị trí: bấm “Dùng vị trí của tôi” hoặc chạm vào bản đồ."),
                           code="location-required")
    if not city.within_city(session, lat, lon):
        raise InvalidInput(_("Vị trí nằm ngoài địa bàn thành phố. Vui lòng chọn lại trên bản đồ."),
                           code="outside-city")
    code = (request.form.get("category") or "").strip() or None
    category = city.category_by_code(session, code) if code else None
    if code and (category is None or not category.active):
        raise InvalidInput(_("Lĩnh vực không hợp lệ. Vui lòng chọn trong danh sách."), code="unknown-category")
    description = (request.form.get("description") or "").strip()
    if len(description) > http.settings().max_description_chars:
        raise InvalidInput(_("Mô tả quá dài (tối đa %(n)s ký tự).", n=http.settings().max_description_chars),
                           code="description-too-long")
    contact = {k: (request.form.get(k) or "").strip()[:MAX_CONTACT] for k in ("name", "phone", "email")}
    contact = {k: v for k, v in contact.items() if v}
    if contact and request.form.get("consent") != "yes":
        raise InvalidInput(_("Để gửi kèm họ tên, số điện thoại hoặc e-mail, vui lòng đánh dấu đồng ý "
                             "(Nghị định 13/2023/NĐ-CP)."), code="consent-required")
    if "email" in contact and "@" not in contact["email"]:
        raise InvalidInput(_("Địa chỉ e-mail không hợp lệ."), code="invalid-email")
    return _Submission(key=f"web:{nonce}", category=code, description=description, lat=lat, lon=lon,
                       accuracy=_float("accuracy"), contact=contact)


def _uploads(session: Session) -> list[bytes]:
    files = [f for f in request.files.getlist("photo") if f and f.filename]
    if len(files) > MAX_PHOTOS:
        raise InvalidInput(_("Tối đa %(n)s ảnh cho một phản ánh.", n=MAX_PHOTOS), code="too-many-photos")
    if not files and _photo_required(session):
        raise InvalidInput(_("Vui lòng chụp hoặc chọn ít nhất một ảnh."), code="photo-required")
    limit = http.settings().max_upload_bytes
    return [f.read(limit + 1) for f in files]


def id_token() -> str:
    """The Firebase ID token handed over by the city app: ``Authorization: Bearer <token>`` on the POST, else
    the form's hidden ``id_token`` field (filled by ``city.js`` from the page's ``#id_token=`` fragment)."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return (request.form.get("id_token") or "").strip()


def _verified_claims(token: str) -> dict[str, Any]:
    """The claims of ``token``, verified exactly as the mobile API does (``residents.verify_token``).

    A forged, expired or other-project token is refused (401) with a message saying the report was not sent
    and what to do; the view's transaction is rolled back, so nothing is stored."""
    try:
        return residents.verify_token(token, settings=http.settings())
    except Unauthorized as exc:
        raise Unauthorized(f"{exc.message} " + _("Phản ánh chưa được gửi. Vui lòng mở lại biểu mẫu từ ứng dụng "
                                                   "của thành phố rồi gửi lại."), code="invalid-id-token") from exc


def _reporter(session: Session, device: str, sub: _Submission) -> tuple[int, bool]:
    """(resident id, verified): the Firebase user of a valid ID token, else the device's web reporter."""
    token = id_token()
    if token:
        claims = _verified_claims(token)
        resident = residents.resident_for_identity(session, provider="firebase", subject=claims["uid"],
                                                   data={"sign_in_provider": "web"})
        verified = True
    else:
        if city.setting(session, "web_unverified_allowed") is False:
            raise Unauthorized(_("Thành phố chỉ nhận phản ánh trên web từ người đã đăng nhập."),
                               code="sign-in-required")
        resident = residents.resident_for_identity(session, provider="web", subject=f"device:{device}", data={})
        verified = False
    if sub.contact:
        resident.display_name = resident.display_name or sub.contact.get("name")
        resident.phone = resident.phone or (sub.contact.get("phone") or "")[:32] or None
        resident.email = resident.email or sub.contact.get("email")
        session.add(resident)
    return resident.id, verified


@bp.post("/report")
@http.limiter.limit("10/hour", key_func=_device_key)
@http.limiter.limit("30/hour", key_func=_ip_key)
def submit() -> Response:
    session = request_session()
    device, new = _device()
    sub = _parse(session, device)
    uploads = _uploads(session)
    resident_id, verified = _reporter(session, device, sub)
    digest = reports.request_hash({"device": device, "key": sub.key})
    stored = reports.claim_key(session, resident_id=resident_id, key=sub.key, request_hash=digest)
    if stored is not None and stored.report_id is not None:
        return _with_device(_done(session, session.get(Report, stored.report_id)), device, new)
    storage, limit = photos.get_storage(http.settings()), http.settings().max_upload_bytes
    photo_ids = [photos.accept_upload(session, data=data, storage=storage, resident_id=resident_id, role="report",
                                      max_bytes=limit).id for data in uploads]
    new_report = reports.submit(session, channel="web", actor=Actor.resident(resident_id), category_code=sub.category,
                                description=sub.description, lat=sub.lat, lon=sub.lon, accuracy_m=sub.accuracy,
                                photo_ids=photo_ids, resident_id=resident_id)
    report = new_report.report
    if not verified:
        report.flags = {**(report.flags or {}), "unverified": True}
        session.add(report)
    reports.complete_key(session, resident_id=resident_id, key=sub.key, status=201, body={"code": report.code},
                         report_id=report.id)
    return _with_device(_done(session, report), device, new)


def _done(session: Session, report: Report | None) -> Response:
    assert report is not None
    settings = http.settings()
    link = reports.reporter_link(report, base_url=settings.base_url, secret_key=settings.secret_key)
    page = render_template("web/city/report_done.html", tile_url="", report=report, link=link,
                           moderated=city.moderation_required(session))
    return Response(page, status=201 if request.method == "POST" else 200, mimetype="text/html")


def _error(exc: DomainError) -> Any:
    """A refused submission: the form again with the Vietnamese message and what was typed (no photo)."""
    mark_rollback()
    session = request_session()
    if request.method != "POST":
        return public.error_page(exc.status, exc.message)
    device, new = _device()
    values = {k: (request.form.get(k) or "")[:5000] for k in ("category", "description", "lat", "lon", "name",
                                                              "phone", "email")}
    if exc.code != "invalid-id-token":  # a refused token is not offered again
        values["id_token"] = (request.form.get("id_token") or "")[:8192]
    status = exc.status if exc.status < 500 else 503
    return _with_device(_form_page(session, device=device, values=values, error=exc.message, status=status),
                        device, new)


def _http_error(exc: HTTPException) -> Any:
    """An upload over the size limit (413) and other protocol errors: a Vietnamese page, never a 500."""
    mark_rollback()
    message = (_("Ảnh quá lớn. Vui lòng chọn ảnh nhỏ hơn.") if exc.code == 413
               else _("Yêu cầu không hợp lệ. Vui lòng tải lại trang."))
    return public.error_page(exc.code or 400, message)


bp.register_error_handler(DomainError, _error)
bp.register_error_handler(HTTPException, _http_error)
