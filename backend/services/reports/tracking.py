"""The public report page's model (``/r/<code>``, its JSON feed): what anyone may see of one report.

``public_report(session, code, now=..., storage=...)`` returns a :class:`PublicReport` — plain values,
never the reporter's identity (no resident id, name, phone, e-mail, Zalo id), never internal notes or
reasons (the public timeline is ``public_timeline``, which applies ``events.resident_fields``), never
EXIF or photo storage keys (photos are public-copy URLs). ``visibility.is_listed(report)`` is the ONE rule for
which reports have a public page at all; an unlisted or unknown code raises NotFound.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from backend.errors import NotFound
from backend.models import Photo, Report, State
from backend.models.areas import Area
from backend.models.categories import Category
from backend.models.photos import PhotoState
from backend.models.reports import OPEN_STATES
from backend.models.units import Unit
from backend.services.city import calendar as city_calendar
from backend.services.city import settings as city_settings
from backend.services.reports.codes import normalize_code
from backend.services.reports.lookup import public_timeline, state_label
from backend.services.reports.visibility import is_listed

#: the colour family of each state on the public page (a CSS class suffix)
STATE_TONES: dict[str, str] = {
    "received": "new", "triage": "new", "assigned": "work", "acknowledged": "work", "in_progress": "work",
    "on_hold": "wait", "reopened": "wait", "resolved": "done", "closed": "done", "rejected": "shut",
    "not_competent": "shut", "duplicate": "shut",
}
#: how far ahead a deadline is counted in working days before "còn hơn N ngày" (bounded work per view)
MAX_COUNTED_DAYS = 60


@dataclass
class PublicReport:
    """Everything ``/r/<code>`` and ``/r/<code>.json`` show. No personal data by construction."""

    id: int
    code: str
    status: str
    status_label: str
    tone: str
    is_open: bool
    category: str | None
    unit: str | None
    ward: str | None
    description: str
    address: str | None
    lat: float | None
    lon: float | None
    received_at: datetime
    resolve_due_at: datetime | None
    deadline_text: str | None
    is_overdue: bool
    resolved_at: datetime | None
    rating: int | None
    duplicate_of: str | None
    photos_before: list[str] = field(default_factory=list)
    photos_after: list[str] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    reopen_until: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        """The JSON feed: the same public data (the internal row id left out)."""
        data = asdict(self)
        data.pop("id")
        for key, value in list(data.items()):
            if isinstance(value, datetime):
                data[key] = value.isoformat()
        for item in data["timeline"] + data["replies"]:
            item["at"] = item["at"].isoformat() if isinstance(item.get("at"), datetime) else item.get("at")
        return data


def find_public(session: Session, code: str | None) -> Report:
    """The listed report whose code matches ``code`` (accent/case/space tolerant). Raises NotFound."""
    normal = normalize_code(_unaccent(code or ""))
    report = session.exec(select(Report).where(Report.code == normal)).first() if normal else None
    if report is None or not is_listed(report):
        raise NotFound("Không tìm thấy phản ánh với mã này.", code="not-found")
    return report


def _unaccent(text: str) -> str:
    """"pa-mê6ybg" → "pa-me6ybg": a code typed on a Vietnamese keyboard (đ → d, marks dropped)."""
    decomposed = unicodedata.normalize("NFD", text[:40].replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def public_report(session: Session, code: str | None, *, now: datetime, storage: Any,
                  locale: str = "vi") -> PublicReport:
    """The public model of the report ``code``. Raises NotFound for unknown or unlisted codes."""
    report = find_public(session, code)
    return build(session, report, now=now, storage=storage, locale=locale)


def build(session: Session, report: Report, *, now: datetime, storage: Any, locale: str = "vi") -> PublicReport:
    """:class:`PublicReport` of a listed ``report``."""
    loc = "en" if locale.startswith("en") else "vi"
    category, unit, ward = _names(session, report, loc)
    dup = session.get(Report, report.duplicate_of_id) if report.duplicate_of_id else None
    is_open = report.status in OPEN_STATES
    due = report.resolve_due_at if is_open else None
    before, after = _photos(session, report, storage)
    timeline = public_timeline(session, report, locale=loc,
                               known_units={report.unit_id: unit} if report.unit_id and unit else None)
    return PublicReport(
        id=report.id or 0, code=report.code, status=report.status, status_label=state_label(report.status, loc),
        tone=STATE_TONES.get(report.status, "new"), is_open=is_open, category=category,
        unit=unit, ward=ward,
        description=report.description or "", address=report.address, lat=report.lat, lon=report.lon,
        received_at=report.created_at, resolve_due_at=due,
        deadline_text=_deadline_text(session, due, now, loc) if due else None,
        is_overdue=bool(due and now > due), resolved_at=report.resolved_at, rating=report.rating,
        duplicate_of=dup.code if dup and is_listed(dup) else None, photos_before=before, photos_after=after,
        replies=[_reply(item) for item in timeline if _reply_text(item)],
        timeline=[_row(item) for item in timeline], reopen_until=_reopen_until(session, report))


def _names(session: Session, report: Report, loc: str) -> tuple[str | None, str | None, str | None]:
    """(category, unit, ward) names in ``loc``, in one query; names only — not the ward's polygon
    (``areas.geometry``, easily 100 KB of GeoJSON)."""
    if not (report.category_id or report.unit_id or report.area_id):
        return None, None, None
    row = session.exec(select(Category.name_vi, Category.name_en, Unit.name_vi, Unit.name_en, Area.name)
                       .select_from(Report)
                       .outerjoin(Category, col(Category.id) == Report.category_id)
                       .outerjoin(Unit, col(Unit.id) == Report.unit_id)
                       .outerjoin(Area, col(Area.id) == Report.area_id)
                       .where(Report.id == report.id)).one()
    english = loc == "en"
    category = (row[1] if english and row[1] else row[0]) if report.category_id else None
    unit = (row[3] if english and row[3] else row[2]) if report.unit_id else None
    return category, unit, row[4]


def _photos(session: Session, report: Report, storage: Any) -> tuple[list[str], list[str]]:
    rows = session.exec(select(Photo.role, Photo.public_key)
                        .where(Photo.report_id == report.id, Photo.state == PhotoState.READY,
                               col(Photo.role).in_(("report", "after")), col(Photo.public_key).is_not(None))
                        .order_by(Photo.id)).all()
    before = [storage.url(key) for role, key in rows if role == "report"]
    after = [storage.url(key) for role, key in rows if role == "after"]
    return before, after


def _reply_text(item: dict[str, Any]) -> str | None:
    if item["kind"] == "public_reply" or item.get("state") == State.RESOLVED:
        value = item.get("text") or item.get("reply")
        return str(value) if value else None
    return None


def _reply(item: dict[str, Any]) -> dict[str, Any]:
    return {"at": item["at"], "text": _reply_text(item)}


def _row(item: dict[str, Any]) -> dict[str, Any]:
    """A timeline row in resident words: the label, the new state, the unit, the public text."""
    text = next((str(item[k]) for k in ("text", "reply", "reason", "guidance") if isinstance(item.get(k), str)
                 and item[k]), None)
    return {"at": item["at"], "label": item.get("label") or "", "state": item.get("state"),
            "unit": item.get("unit"), "text": text, "rating": item.get("rating"), "of_code": item.get("of_code")}


def _deadline_text(session: Session, due: datetime, now: datetime, loc: str) -> str:
    """"còn 3 ngày làm việc" / "quá hạn" (working days of the city calendar, in city time)."""
    if now > due:
        return "overdue" if loc == "en" else "quá hạn"
    cal = city_calendar.load_calendar(session)
    tz: ZoneInfo = cal.tz
    today, last = now.astimezone(tz).date(), due.astimezone(tz).date()
    days, day = 0, today
    while day < last and days <= MAX_COUNTED_DAYS:
        day += timedelta(days=1)
        days += cal.is_working_day(day)
    if days == 0:
        when = due.astimezone(tz).strftime("%H:%M")
        return f"due today at {when}" if loc == "en" else f"hạn trong hôm nay, trước {when}"
    if loc == "en":
        return f"{days} working day{'s' if days > 1 else ''} left"
    return f"còn {days} ngày làm việc"


def _reopen_until(session: Session, report: Report) -> datetime | None:
    if report.status not in (State.RESOLVED, State.CLOSED) or report.resolved_at is None:
        return None
    return report.resolved_at + timedelta(days=city_settings.reopen_window_days(session))
