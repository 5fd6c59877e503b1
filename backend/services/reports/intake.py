"""Intake: turn a resident's (or a staff member's, or an Open311 client's) submission into a report.

:func:`submit` (or :func:`create_report`, which returns only the report) validates everything first
and writes nothing on bad input, then in the caller's transaction: a new report with a public code
(``PA-XXXXXX``), already routed and with its deadlines (``services/deadlines/sla.py``), its photos attached,
and the ``created``, ``routed`` and ``sla_started`` events. The caller commits.

Location: a point inside the city (``routing.within_city``) or, without a point, a typed
address (the report then has no area and goes to the IOC triage queue).
Category: an active category code, or none (→ IOC triage). An emergency category is refused with
the hotline to call instead (code ``emergency-category``, ``details["hotline"]``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from backend.errors import DomainError, Forbidden, InvalidInput
from backend.models.base import construct, utcnow
from backend.models.categories import Category
from backend.models.photos import Photo, PhotoRole
from backend.models.reports import ActorKind, Channel, EventKind, Report, ReportEvent, State
from backend.models.residents import Resident
from backend.services import events
from backend.services.city import routing
from backend.services.city import settings as city_settings
from backend.services.events import Actor
from backend.services.photos.linking import (
    check_count,
    claim_for_new_report,
    claim_params,
    claim_statement_with,
    claim_statement_with_one,
)
from backend.services.reports import codes
from backend.services.reports.effects import build_search_text, route_report
from backend.services.reports.fields import existing_category, is_db_id, photo_id_list
from backend.text import nfc

log = logging.getLogger(__name__)

MAX_DESCRIPTION = 4000
MAX_ADDRESS = 500
MAX_ACCURACY_M = 100_000
MAX_ATTRIBUTES = 50
MAX_ATTRIBUTE_LEN = 1000
MAX_EXTERNAL_REF = 128


@dataclass
class _Checked:
    channel: str
    category: Category | None
    description: str
    lat: float | None
    lon: float | None
    accuracy_m: float | None
    address: str | None
    resident_id: int | None
    attributes: dict[str, Any]
    external_ref: str | None


@dataclass(frozen=True)
class NewReport:
    """What :func:`submit` wrote: the report, its photos and its events (all with ids)."""

    report: Report
    photos: list[Photo]
    events: list[ReportEvent]


def submit(session: Session, *, channel: str, actor: Actor, category_code: str | None, description: str,
           lat: float | None, lon: float | None, accuracy_m: float | None = None,
           address: str | None = None, photo_ids: list[int] | tuple[int, ...] = (),
           resident_id: int | None = None, is_anonymous: bool = False,
           attributes: dict[str, Any] | None = None, external_ref: str | None = None,
           at: datetime | None = None) -> NewReport:
    """Create and route a report (flushed, not committed); returns it with its photos and events.

    Raises InvalidInput (``invalid-channel``, ``description-too-long``, ``empty-report``,
    ``location-required``, ``invalid-location``, ``outside-city``, ``unknown-category``,
    ``emergency-category``, ``invalid-attributes``, ``too-many-photos``, ``unknown-photo``,
    ``unknown-resident``, ``photo-already-attached``, ``photo-rejected``), Forbidden
    (``foreign-photo``, ``resident-mismatch``), Unavailable (``no-triage-unit``).
    Validation errors write nothing. The photos are checked by the statement that attaches them, after the
    report's INSERT (``linking.claim_for_new_report``); when one is refused — or another report claimed it
    meanwhile — that report row is deleted again before the error is raised (``codes.withdraw``).

    A resident actor's own id is not looked up again (the caller proved it: a verified identity, the
    resident it has just found or created); a resident named by another actor (staff, bot, client) must exist.

    The report is routed and its deadlines set before it is inserted, so one INSERT carries its
    final state; its events follow in one statement (``events.batch``, with their outbox rows on PostgreSQL).
    """
    at = at or utcnow()
    routing.prefetch(session, lat, lon, at)   # the settings and the area check of _route in one query
    checked = _validate(session, channel=channel, actor=actor, category_code=category_code,
                        description=description, lat=lat, lon=lon, accuracy_m=accuracy_m, address=address,
                        resident_id=resident_id, attributes=attributes, external_ref=external_ref)
    ids = photo_id_list(photo_ids)
    check_count(ids)
    if not (checked.category or checked.description or ids):
        raise InvalidInput("Vui lòng chọn lĩnh vực, mô tả sự việc hoặc gửi ảnh.", code="empty-report")
    target = _route(session, checked, at)
    report = _new_report(checked, is_anonymous=is_anonymous, at=at)
    with events.batch(session, core=True) as written:
        events.record(session, report, EventKind.CREATED, actor=actor, at=at, to_state=State.RECEIVED,
                      data={"channel": checked.channel, "photo_ids": ids,
                            "category": checked.category.code if checked.category else None})
        route_report(session, report, target, actor=Actor.system("routing"), at=at)  # + deadlines
        returned = _insert(session, report, checked, ids, actor.staff_id)
        _keep_loaded(session, checked.category)
        try:
            attached = claim_for_new_report(session, photo_ids=ids, report=report,
                                            resident_id=checked.resident_id, staff_id=actor.staff_id,
                                            role=PhotoRole.REPORT, returned=returned)
        except DomainError:  # a refused photo: the report goes again (its events are not written yet)
            codes.withdraw(session, report)
            raise
    log.info("report %s created via %s, routed to unit %s (%s)", report.code, checked.channel,
             report.unit_id, report.status)
    return NewReport(report, attached, list(written))


def create_report(session: Session, **fields: Any) -> Report:
    """:func:`submit` (same keyword arguments, same errors), returning only the report."""
    return submit(session, **fields).report


def _new_report(checked: _Checked, *, is_anonymous: bool, at: datetime) -> Report:
    category = checked.category
    return construct(Report, {  # Report(...) without its per-field cost
        "channel": checked.channel, "category_id": category.id if category else None, "status": State.RECEIVED,
        "priority": category.priority_default if category else "normal", "description": checked.description,
        "lat": checked.lat, "lon": checked.lon, "accuracy_m": checked.accuracy_m, "address": checked.address,
        "resident_id": checked.resident_id, "is_anonymous": bool(is_anonymous), "attributes": checked.attributes,
        "external_ref": checked.external_ref, "created_at": at, "updated_at": at})


def _insert(session: Session, report: Report, checked: _Checked, ids: list[int],
            staff_id: int | None) -> list[tuple[Any, ...]] | None:
    """INSERT the report with a free code; on PostgreSQL, with photos, the photo claim runs in the same
    statement (its rows returned for ``claim_for_new_report``); else None (the claim runs on its own)."""
    def prepare(r: Report) -> None:
        _set_search_text(r, checked.category)

    if ids and session.get_bind().dialect.name == "postgresql":
        then = claim_statement_with_one if len(ids) == 1 else claim_statement_with
        return codes.insert_with_code_then(session, report, then,
                                           claim_params(ids, resident_id=checked.resident_id, staff_id=staff_id),
                                           prepare=prepare)
    codes.insert_with_code(session, report, prepare=prepare)
    return None


def _set_search_text(report: Report, category: Category | None) -> None:
    report.search_text = build_search_text(report, category)


_KEEP_KEY = "phananh.intake_loaded"


def _keep_loaded(session: Session, *rows: Any) -> None:
    """Hold the rows intake loaded until the transaction ends: the identity map keeps only weak
    references, and the caller's rendering reads them again by primary key (no second SELECT)."""
    session.info.setdefault(_KEEP_KEY, []).extend(r for r in rows if r is not None)


@event.listens_for(OrmSession, "after_transaction_end")
def _release_loaded(session: OrmSession, transaction: Any) -> None:
    if transaction.parent is None:   # the outermost transaction (a savepoint's end keeps it)
        session.info.pop(_KEEP_KEY, None)


@event.listens_for(OrmSession, "after_soft_rollback")
def _release_on_rollback(session: OrmSession, _previous: Any) -> None:
    session.info.pop(_KEEP_KEY, None)


# --------------------------------------------------------------------------- validation (read only)


def _validate(session: Session, *, channel: str, actor: Actor, category_code: str | None, description: Any,
              lat: Any, lon: Any, accuracy_m: Any, address: Any, resident_id: int | None, attributes: Any,
              external_ref: Any) -> _Checked:
    if channel not in {c.value for c in Channel}:
        raise InvalidInput("Kênh tiếp nhận không hợp lệ.", code="invalid-channel")
    text = _description(description)
    resident_id = _resident(actor, resident_id)
    if resident_id is not None and actor.kind != ActorKind.RESIDENT and session.get(Resident, resident_id) is None:
        raise InvalidInput("Người phản ánh không tồn tại.", code="unknown-resident")
    category = _category(session, category_code)
    point, addr = _location(session, lat, lon, address)
    return _Checked(channel=channel, category=category, description=text, lat=point[0], lon=point[1],
                    accuracy_m=_accuracy(accuracy_m) if point[0] is not None else None, address=addr,
                    resident_id=resident_id, attributes=_attributes(attributes),
                    external_ref=_external_ref(external_ref))


def _description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput("Mô tả không hợp lệ.", code="invalid-description")
    text = nfc(value).strip()
    if len(text) > MAX_DESCRIPTION:
        raise InvalidInput(f"Mô tả quá dài (tối đa {MAX_DESCRIPTION} ký tự).", code="description-too-long",
                           details={"max": MAX_DESCRIPTION, "length": len(text)})
    if "\x00" in text:
        raise InvalidInput("Mô tả chứa ký tự không hợp lệ.", code="invalid-description")
    return text


def _resident(actor: Actor, resident_id: int | None) -> int | None:
    if resident_id is not None and not is_db_id(resident_id):
        raise InvalidInput("Người phản ánh không hợp lệ.", code="invalid-resident")
    if actor.kind == ActorKind.RESIDENT:
        if resident_id is not None and resident_id != actor.resident_id:
            raise Forbidden("Không thể gửi phản ánh thay người khác.", code="resident-mismatch")
        return actor.resident_id
    return resident_id


def _category(session: Session, code: Any) -> Category | None:
    if code is None or (isinstance(code, str) and not code.strip()):
        return None
    category = existing_category(session, code)
    if category.is_emergency:
        hotline = category.hotline or city_settings.hotlines(session).get("police", "113")
        raise InvalidInput(f"Đây là tình huống khẩn cấp: vui lòng gọi ngay {hotline}. "
                           "Hệ thống phản ánh không xử lý trường hợp khẩn cấp.",
                           code="emergency-category", details={"hotline": hotline, "category_code": category.code})
    return category


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput("Toạ độ không hợp lệ.", code="invalid-location")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInput("Toạ độ không hợp lệ.", code="invalid-location")
    return number


def _location(session: Session, lat: Any, lon: Any, address: Any) -> tuple[tuple[float | None, float | None],
                                                                             str | None]:
    lat, lon = _number(lat), _number(lon)
    addr = None
    if address is not None:
        if not isinstance(address, str):
            raise InvalidInput("Địa chỉ không hợp lệ.", code="invalid-address")
        addr = nfc(address).strip() or None
        if addr and len(addr) > MAX_ADDRESS:
            raise InvalidInput(f"Địa chỉ quá dài (tối đa {MAX_ADDRESS} ký tự).", code="address-too-long")
        if addr and "\x00" in addr:
            raise InvalidInput("Địa chỉ không hợp lệ.", code="invalid-address")
    if (lat is None) != (lon is None):
        raise InvalidInput("Cần cả vĩ độ và kinh độ.", code="invalid-location")
    if lat is None:
        if not addr:
            raise InvalidInput("Vui lòng chia sẻ vị trí hoặc nhập địa chỉ nơi xảy ra sự việc.",
                               code="location-required")
        return (None, None), addr
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):  # type: ignore[operator]
        raise InvalidInput("Toạ độ không hợp lệ.", code="invalid-location")
    if not routing.within_city(session, lat, lon):
        raise InvalidInput(f"Vị trí nằm ngoài địa bàn {city_settings.city_name(session)}.", code="outside-city",
                           details={"lat": lat, "lon": lon})
    return (lat, lon), addr


def _accuracy(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidInput("Độ chính xác vị trí không hợp lệ.", code="invalid-accuracy")
    return min(float(value), float(MAX_ACCURACY_M))


def _attributes(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    bad = InvalidInput("Thông tin bổ sung không hợp lệ.", code="invalid-attributes")
    if not isinstance(value, dict) or len(value) > MAX_ATTRIBUTES:
        raise bad
    clean: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > 64 or "\x00" in key:
            raise bad
        if isinstance(item, list):
            if len(item) > MAX_ATTRIBUTES or not all(_scalar(v) for v in item):
                raise bad
        elif not _scalar(item):
            raise bad
        clean[key] = item
    return clean


def _scalar(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= MAX_ATTRIBUTE_LEN and "\x00" not in value
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, bool | int)


def _external_ref(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_EXTERNAL_REF or "\x00" in value:
        raise InvalidInput("Mã tham chiếu ngoài không hợp lệ.", code="invalid-external-ref")
    return value.strip() or None


def _route(session: Session, checked: _Checked, at: datetime) -> routing.Route:
    """Where the report goes (no writes). A typed address without a point goes to IOC triage."""
    if checked.lat is None:
        return routing.Route(routing.triage_unit(session, at).id, None, None,  # type: ignore[arg-type]
                             checked.category.priority_default if checked.category else None, True)
    return routing.route(session, category=checked.category, lat=checked.lat, lon=checked.lon, at=at)
