"""Open311 records built from our rows: services, service definitions, requests, updates.

Only public data leaves here: no reporter field, no EXIF, no private photo key. Text is chosen
by locale (Vietnamese by default, English when asked and available).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from sqlmodel import Session, col, select

from backend.models.categories import Category
from backend.models.photos import Photo
from backend.models.reports import OPEN_STATES, EventKind, Report
from backend.models.units import Unit
from backend.services import open311, photos
from backend.services.city import WorkingCalendar, load_calendar
from backend.services.reports import open311_status, public_text, state_label

DATATYPE_HELP = {
    "string": ("Một dòng văn bản", "A single line of text"),
    "number": ("Một số", "A number"),
    "datetime": ("Ngày giờ ISO 8601, ví dụ 2025-01-31T08:00:00Z", "An ISO 8601 datetime"),
    "text": ("Văn bản nhiều dòng", "Multi-line text"),
    "singlevaluelist": ("Chọn một giá trị trong danh sách", "Pick one value from the list"),
    "multivaluelist": ("Chọn một hay nhiều giá trị trong danh sách", "Pick one or more values"),
}


def _pick(vi: str | None, en: str | None, locale: str) -> str:
    return (en or vi or "") if locale == "en" else (vi or en or "")


def _variable(attr: dict[str, Any]) -> bool:
    return attr.get("variable") is not False


def service(category: Category, *, locale: str, batch: bool) -> dict[str, Any]:
    """One ``service``. ``metadata`` is true when the definition has any attribute, informational ones
    (``variable=false``) included: a client that skips the definition would never show their text
    (FixMyStreet even deletes the attributes it had — docs/open311.md §1.5)."""
    return {
        "service_code": category.code,
        "service_name": category.name(locale),
        "description": _pick(category.description_vi, category.description_en, locale),
        "metadata": bool(category.attributes),
        "type": "batch" if batch else "realtime",
        "keywords": category.keywords or "",
        "group": _pick(category.group_vi, category.group_en, locale) or category.group_code,
    }


def definition(category: Category, *, locale: str) -> dict[str, Any]:
    attrs = sorted(category.attributes or [], key=lambda a: (a.get("order") or 0, str(a.get("code"))))
    return {"service_code": category.code, "attributes": [_attribute(a, i, locale) for i, a in
                                                          enumerate(attrs, start=1)]}


def _attribute(attr: dict[str, Any], position: int, locale: str) -> dict[str, Any]:
    datatype = attr.get("datatype") or "string"
    help_vi, help_en = DATATYPE_HELP.get(datatype, DATATYPE_HELP["string"])
    values = [{"key": str(v.get("key")), "name": _pick(v.get("name_vi") or v.get("name"), v.get("name_en"), locale)}
              for v in attr.get("values") or []] if datatype.endswith("valuelist") else []
    return {
        "variable": _variable(attr),
        "code": str(attr.get("code")),
        "datatype": datatype,
        "required": bool(attr.get("required")),
        "datatype_description": _pick(help_vi, help_en, locale),
        "order": int(attr.get("order") or position),
        "description": _pick(attr.get("description_vi"), attr.get("description_en"), locale),
        "values": values,
    }


def public_url(photo: Photo | None, storage: Any, base_url: str) -> str | None:
    """Absolute URL of the stripped public copy (never the original), or None if not ready."""
    if photo is None:
        return None
    url = photos.public_view(photo, storage)["url"]
    return urljoin(base_url.rstrip("/") + "/", url.lstrip("/")) if url else None


def service_notice(report: Report, unit: Unit | None, calendar: WorkingCalendar, locale: str) -> str | None:
    """What the resident can expect next (GeoReport's ``service_notice``): the promised date while open,
    triage at the operations centre while no unit holds it; None once closed."""
    if report.status not in OPEN_STATES:
        return None
    english = locale.startswith("en")
    if unit is None or unit.is_triage:
        return ("Awaiting triage by the city operations centre." if english
                else "Đang chờ Trung tâm điều hành phân loại và chuyển đơn vị xử lý.")
    name = unit.name(locale)
    if report.resolve_due_at is None:
        return f"Assigned to {name}." if english else f"Đã chuyển {name} xử lý."
    due = calendar.local(report.resolve_due_at)
    if english:
        return f"Expected to be resolved by {name} by {due:%H:%M} on {due:%d/%m/%Y}."
    return f"{name} dự kiến xử lý xong trước {due:%H:%M} ngày {due:%d/%m/%Y}."


class RequestRecords:
    """Builds request records for a batch of reports with one query per related table."""

    def __init__(self, session: Session, reports: list[Report], *, locale: str, base_url: str,
                 storage: Any, extended: bool = False) -> None:
        self.locale, self.base_url, self.storage = locale, base_url.rstrip("/") + "/", storage
        self.extended = extended
        ids = [r.id for r in reports if r.id is not None]
        cat_ids = {r.category_id for r in reports if r.category_id}
        unit_ids = {r.unit_id for r in reports if r.unit_id}
        self.categories = {c.id: c for c in session.exec(select(Category).where(col(Category.id).in_(cat_ids)))}
        self.units = {u.id: u for u in session.exec(select(Unit).where(col(Unit.id).in_(unit_ids)))}
        self.notes = open311.public_notes(session, reports)
        self.photos = photos.public_report_photos(session, ids)
        self.calendar = load_calendar(session)

    def media_url(self, photo: Photo | None) -> str | None:
        return public_url(photo, self.storage, self.base_url)

    def record(self, report: Report) -> dict[str, Any]:
        category = self.categories.get(report.category_id)
        unit = self.units.get(report.unit_id)
        notes = self.notes[report.id]  # type: ignore[index]
        urls = [u for u in (self.media_url(p) for p in self.photos.get(report.id, [])) if u]  # type: ignore[arg-type]
        record = {
            "service_request_id": report.code,
            "status": open311_status(report.status),
            "status_notes": notes.text or None,
            "service_name": category.name(self.locale) if category else None,
            "service_code": category.code if category else None,
            "description": report.description or None,
            "agency_responsible": unit.name(self.locale) if unit else None,
            "service_notice": service_notice(report, unit, self.calendar, self.locale),
            "requested_datetime": report.created_at,
            "updated_datetime": notes.at,
            "expected_datetime": report.resolve_due_at,
            "address": report.address or None,
            "address_id": None,
            "zipcode": None,
            "lat": report.lat,
            "long": report.lon,
            "media_url": urls[0] if urls else None,
        }
        if self.extended:  # CitySDK / Chicago style, only when asked (``extensions=true``)
            record["extended_attributes"] = {
                "detailed_status": str(report.status).upper(), "status_label": state_label(report.status, self.locale),
                "channel": report.channel, "media_urls": urls}
        return record


def update(item: open311.FeedItem, *, locale: str, media_url: str | None = None) -> dict[str, Any]:
    """One ``request_update`` of the mySociety feed: its id is the event's (``docs/open311.md`` §2.6)."""
    event, state = item.event, item.state
    of_code = (event.data or {}).get("of_code") if event.kind == EventKind.DUPLICATE_LINKED else None
    record: dict[str, Any] = {
        "update_id": str(event.id),
        "service_request_id": item.report.code,
        "status": item.status,
        "updated_datetime": event.at,
        "description": public_text(event) or _stock_text(state, of_code, locale),
        "media_url": media_url or "",
    }
    if of_code:
        record["extras"] = {"duplicate_of": of_code}
    return record


def _stock_text(state: str, of_code: str | None, locale: str) -> str:
    """What an update without words of its own says: the state's label (a duplicate names its original)."""
    label = state_label(state, locale)
    return f"{label} {of_code}" if of_code else label
