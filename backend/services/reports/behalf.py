"""Reports entered by staff on a resident's behalf: a call to the city's hotline or a visit to the counter
("Trung tâm Phục vụ hành chính công"), channel ``hotline`` or ``counter`` (``/inbox/new``).

:func:`submit_on_behalf` checks the staff form (who may, the caller's phone, category, description, a
location) before writing anything, then in the caller's transaction: the caller as a resident known by their
phone number (identity ``phone:84…``; name and number private, read only through the audited contact view),
the idempotency claim of the form's one-time key (a double submit gives the first report back), the photos
through the photo pipeline (``photos.accept_upload``, uploaded by the staff member for the caller) and the
report through the same intake as every channel (``intake.submit``: routing, deadlines, the ``created`` event
by the staff member — the audit line "entered on behalf by …" — and its notifications). The caller commits.

A caller who will not give a phone number (``BehalfForm.no_phone``, the form's checkbox "Người gọi không để
lại số điện thoại"): the report has no reporter (``resident_id`` NULL, the caller's name is not kept either), so
no one is notified and there is no reporter's link; it is still routed, gets deadlines and a code the caller may
quote when calling back. A number typed anyway is used (and checked) as usual. A double submit of such a form
is recognised by the form's key kept in ``reports.external_ref`` (``behalf:…``; the staff row is locked while
looking, so two submits at once make one report).

Who may: every role that acts (admin, IOC dispatcher, unit head, officer of any unit: the counter is staffed
by ward officers too); a viewer may not. The page after the submit (:func:`entered_by`) is the creator's
only: it carries the reporter's signed link.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from backend.errors import InvalidInput, NotFound
from backend.models.reports import ActorKind, Channel, EventKind, Report, ReportEvent
from backend.models.residents import Identity
from backend.models.staff import Staff
from backend.services import city, photos, residents
from backend.services.events import Actor
from backend.services.reports import idempotency
from backend.services.reports.codes import normalize_code
from backend.services.reports.intake import MAX_DESCRIPTION, submit
from backend.text import nfc

CHANNELS = (Channel.HOTLINE.value, Channel.COUNTER.value)
MAX_NAME = 255
MAX_PHOTOS = 5
PHONE_PROVIDER = "phone"
_PHONE_CHARS = re.compile(r"^[0-9+().\-\s]{8,24}$")
_LANDLINE = re.compile(r"^02\d{9}$")  # 0 + area code 2x… + number: 11 digits since 2017


@dataclass(frozen=True)
class BehalfForm:
    """What the staff member typed (strings as received; :func:`submit_on_behalf` checks them)."""

    channel: str
    caller_name: str
    caller_phone: str
    category_code: str
    description: str
    lat: float | None
    lon: float | None
    address: str
    no_phone: bool = False  # the caller will not give a number: the report gets no reporter


@dataclass(frozen=True)
class Entered:
    """The report and whether it was made by an earlier submit of the same form (a double submit)."""

    report: Report
    replayed: bool


def caller_phone(raw: str | None) -> str:
    """A Vietnamese mobile (``0912 345 678``, ``+84 912…``) or landline (``0299 3822 345``) number as ``84…``.

    Raises InvalidInput ``phone-required`` / ``invalid-phone`` (Vietnamese messages)."""
    text = (raw or "").strip()
    if not text:
        raise InvalidInput("Vui lòng nhập số điện thoại của người phản ánh, hoặc đánh dấu “Người gọi không để lại "
                           "số điện thoại”.", code="phone-required")
    mobile = residents.normalize_phone(text) if _PHONE_CHARS.match(text) else None
    if mobile:
        return mobile
    digits = "".join(ch for ch in text if ch.isdigit())
    national = "0" + digits[2:] if digits.startswith("84") else digits
    if _PHONE_CHARS.match(text) and _LANDLINE.match(national):
        return "84" + national[1:]
    raise InvalidInput("Số điện thoại không hợp lệ. Nhập số di động 10 chữ số (ví dụ 0912 345 678) hoặc số cố định "
                       "11 chữ số bắt đầu bằng 02.", code="invalid-phone")


def check_form(session: Session, *, staff: Staff, form: BehalfForm) -> str | None:
    """Refuse a form that cannot make a report before anything is written; returns the phone as ``84…``, or
    None when the caller left no number (``form.no_phone`` ticked and the phone field empty).

    Raises Forbidden ``read-only`` (a viewer) and InvalidInput (``invalid-channel``, ``phone-required``,
    ``invalid-phone``, ``name-too-long``, ``category-required``, ``unknown-category``, ``description-required``,
    ``description-too-long``, ``location-required``, ``outside-city``).
    """
    city.ensure_can_act(staff)
    if form.channel not in CHANNELS:
        raise InvalidInput("Hãy chọn nơi tiếp nhận: đường dây nóng hoặc tại quầy.", code="invalid-channel")
    phone = None if form.no_phone and not form.caller_phone.strip() else caller_phone(form.caller_phone)
    if len(form.caller_name.strip()) > MAX_NAME:
        raise InvalidInput(f"Họ tên quá dài (tối đa {MAX_NAME} ký tự).", code="name-too-long")
    code = form.category_code.strip()
    if not code:
        raise InvalidInput("Vui lòng chọn lĩnh vực của phản ánh.", code="category-required")
    category = city.category_by_code(session, code)
    if category is None or not category.active:
        raise InvalidInput("Lĩnh vực không hợp lệ. Vui lòng chọn trong danh sách.", code="unknown-category")
    text = nfc(form.description).strip()
    if not text:
        raise InvalidInput("Vui lòng ghi nội dung phản ánh (sự việc gì, ở đâu).", code="description-required")
    if len(text) > MAX_DESCRIPTION:
        raise InvalidInput(f"Nội dung quá dài (tối đa {MAX_DESCRIPTION} ký tự).", code="description-too-long")
    if form.lat is None or form.lon is None:
        if not form.address.strip():
            raise InvalidInput("Vui lòng chọn vị trí: tìm phường/xã rồi kéo ghim, hoặc chạm vào bản đồ; nếu không "
                               "xác định được, nhập địa chỉ.", code="location-required")
    elif not city.within_city(session, form.lat, form.lon):
        raise InvalidInput(f"Vị trí nằm ngoài địa bàn {city.city_name(session)}. Vui lòng chọn lại trên bản đồ.",
                           code="outside-city")
    return phone


def submit_on_behalf(session: Session, *, staff: Staff, form: BehalfForm, key: str, uploads: Sequence[bytes],
                     storage: Any, max_bytes: int | None) -> Entered:
    """Create the report a caller gave ``staff`` (see the module docstring). ``key`` names this form (one
    report per key); ``uploads`` are the photos' bytes. Raises what :func:`check_form`, the photo pipeline
    (TooLarge, Unsupported, InvalidInput) and intake raise; a refusal leaves the transaction to roll back."""
    phone = check_form(session, staff=staff, form=form)
    if len(uploads) > MAX_PHOTOS:
        raise InvalidInput(f"Tối đa {MAX_PHOTOS} ảnh cho một phản ánh.", code="too-many-photos")
    if phone is None:
        return _without_caller(session, staff=staff, form=form, key=key, uploads=uploads, storage=storage,
                               max_bytes=max_bytes)
    caller = _caller(session, phone=phone, name=form.caller_name, channel=form.channel)
    digest = idempotency.request_hash({"staff": staff.id, "key": key})
    stored = idempotency.claim(session, resident_id=caller, key=key, request_hash=digest)
    if stored is not None and stored.report_id is not None:
        report = session.get(Report, stored.report_id)
        assert report is not None
        return Entered(report, replayed=True)
    photo_ids = [photos.accept_upload(session, data=data, storage=storage, resident_id=caller, staff_id=staff.id,
                                      role="report", max_bytes=max_bytes).id for data in uploads]
    new = submit(session, channel=form.channel, actor=Actor.staff(staff), category_code=form.category_code.strip(),
                 description=form.description, lat=form.lat, lon=form.lon, address=form.address or None,
                 photo_ids=photo_ids, resident_id=caller)
    report = new.report
    idempotency.complete(session, resident_id=caller, key=key, status=201, body={"code": report.code},
                         report_id=report.id)
    return Entered(report, replayed=False)


def _without_caller(session: Session, *, staff: Staff, form: BehalfForm, key: str, uploads: Sequence[bytes],
                    storage: Any, max_bytes: int | None) -> Entered:
    """A report with no reporter (the caller left no number): nobody to notify, no reporter's link. The form's
    ``key`` is kept in ``external_ref`` so a double submit returns the first report."""
    session.exec(select(Staff.id).where(Staff.id == staff.id).with_for_update()).first()  # one submit at a time
    earlier = session.exec(select(Report).where(Report.external_ref == key).limit(1)).first()
    if earlier is not None:
        return Entered(earlier, replayed=True)
    photo_ids = [photos.accept_upload(session, data=data, storage=storage, staff_id=staff.id, role="report",
                                      max_bytes=max_bytes).id for data in uploads]
    new = submit(session, channel=form.channel, actor=Actor.staff(staff), category_code=form.category_code.strip(),
                 description=form.description, lat=form.lat, lon=form.lon, address=form.address or None,
                 photo_ids=photo_ids, resident_id=None, external_ref=key)
    return Entered(new.report, replayed=False)


def _caller(session: Session, *, phone: str, name: str, channel: str) -> int:
    """The resident known by ``phone`` (created on first use), with the name and number kept privately."""
    resident = residents.resident_for_identity(session, provider=PHONE_PROVIDER, subject=phone,
                                               data={"entered_via": channel})
    clean = nfc(name).strip()[:MAX_NAME]
    if clean:
        resident.display_name = clean  # the name the caller gave this time
    resident.phone = resident.phone or "0" + phone[2:]  # as staff search for it (``inbox.contact_search``)
    session.add(resident)
    session.flush()
    assert resident.id is not None
    return resident.id


def entered_by(session: Session, *, staff: Staff, code: str | None) -> Report:
    """The report with ``code`` that ``staff`` entered on a caller's behalf. Raises NotFound otherwise (another
    staff member's entry is not revealed: its page carries the reporter's link)."""
    canonical = normalize_code(code)
    report = session.exec(select(Report).where(Report.code == canonical)).first() if canonical else None
    created = session.exec(select(ReportEvent).where(ReportEvent.report_id == report.id,
                                                     ReportEvent.kind == EventKind.CREATED)
                           .order_by(col(ReportEvent.id)).limit(1)).first() if report is not None else None
    if (report is None or created is None or report.channel not in CHANNELS
            or created.actor_kind != ActorKind.STAFF or created.actor_id != str(staff.id)):
        raise NotFound("Không tìm thấy phản ánh do bạn nhập với mã này.", code="report-not-found")
    return report


def caller_number(session: Session, *, report: Report) -> str | None:
    """The caller's number (``84…``) of a report entered on their behalf, for the Zalo look-up; None if gone
    (anonymised)."""
    if report.resident_id is None:
        return None
    return session.exec(select(Identity.subject).where(Identity.resident_id == report.resident_id,
                                                       Identity.provider == PHONE_PROVIDER).limit(1)).first()
