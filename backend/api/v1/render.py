"""Report rows → the app's shapes (public view, owner view, list rows). Never personal data.

The public view is built from an allow-list of columns: no reporter id, no phone/e-mail/Zalo id,
no EXIF, no storage keys (photos go through ``photos.public_view``, which returns URLs only).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from backend import http
from backend.models.base import utcnow
from backend.models.categories import Category
from backend.models.photos import Photo, PhotoState
from backend.models.reports import OPEN_STATES, EventKind, Report, ReportEvent, State
from backend.models.units import Unit
from backend.services import city, photos, reports, residents

_TEXT_KEYS = ("text", "reply", "reason", "guidance")


def label(state: str, loc: str | None = None) -> str:
    return reports.state_label(state, loc or http.locale())


def _category(cat: Category | None, loc: str) -> dict[str, str] | None:
    return {"code": cat.code, "name": cat.name(loc)} if cat else None


def _store() -> Any:
    return photos.get_storage(http.settings())


def _photo(p: Photo, store: Any) -> dict[str, Any]:
    view = photos.public_view(p, store)
    return {"id": view["id"], "role": p.role, "url": view.get("url"), "thumbnails": {
        str(k): v for k, v in (view.get("thumbnails") or {}).items() if v}, "width": view.get("width"),
        "height": view.get("height")}


_PUBLIC_ROLES = ("report", "after")


def public_photos(session: Session, report: Report) -> list[dict[str, Any]]:
    store = _store()
    rows = session.exec(select(Photo).where(Photo.report_id == report.id, Photo.state == PhotoState.READY,
                                            col(Photo.role).in_(_PUBLIC_ROLES)).order_by(Photo.id))
    return [_photo(p, store) for p in rows]


def public_view(session: Session, report: Report) -> dict[str, Any]:
    return _public(session, report, followers=residents.follower_count(session, report),
                   photo_views=public_photos(session, report))


def _public(session: Session, report: Report, *, followers: int,
            photo_views: list[dict[str, Any]]) -> dict[str, Any]:
    loc = http.locale()
    cat = session.get(Category, report.category_id) if report.category_id else None
    dup = session.get(Report, report.duplicate_of_id) if report.duplicate_of_id else None
    return {
        "code": report.code, "status": report.status, "status_label": label(report.status, loc),
        "is_open": report.status in OPEN_STATES, "category": _category(cat, loc),
        "description": report.description, "lat": report.lat, "lon": report.lon, "address": report.address,
        "created_at": report.created_at, "updated_at": report.updated_at,
        "resolve_due_at": report.resolve_due_at if report.status in OPEN_STATES else None,
        "resolved_at": report.resolved_at, "public_reply": report.public_reply,
        "duplicate_of": dup.code if dup else None, "followers": followers, "photos": photo_views,
    }


def owner_view(session: Session, report: Report) -> dict[str, Any]:
    """The reporter's view: the public view plus private fields and the public timeline."""
    return _owner(session, report, public_view(session, report), timeline(session, report))


def new_report_view(session: Session, new: reports.NewReport) -> dict[str, Any]:
    """``owner_view`` of a report intake has just written, built from what intake holds in memory:
    no follower yet, its photos and events are intake's rows (no query for them)."""
    report, store = new.report, _store()
    ready = sorted((p for p in new.photos if p.state == PhotoState.READY and p.role in _PUBLIC_ROLES),
                   key=lambda p: p.id or 0)
    view = _public(session, report, followers=0, photo_views=[_photo(p, store) for p in ready])
    return _owner(session, report, view, _new_timeline(session, report, new.events))


def _owner(session: Session, report: Report, view: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    until = None
    if report.status in (State.RESOLVED, State.CLOSED) and report.resolved_at:
        until = report.resolved_at + timedelta(days=city.reopen_window_days(session))
    view.update({
        "is_mine": True, "is_anonymous": report.is_anonymous, "accuracy_m": report.accuracy_m,
        "rating": report.rating, "rating_text": report.rating_text,
        "can_rate": report.status == State.RESOLVED and report.rating is None,
        "can_reopen": until is not None and utcnow() <= until, "reopen_until": until,
        "timeline": items, "attributes": report.attributes or {},
    })
    return view


def timeline(session: Session, report: Report) -> list[dict[str, Any]]:
    """The whole public timeline (with the reporter's own comments), oldest first."""
    items = reports.public_timeline(session, report, locale=http.locale(), include_comments=True)
    return [_timeline_row(item) for item in items]


def _timeline_row(item: dict[str, Any]) -> dict[str, Any]:
    text = next((str(item[k]) for k in _TEXT_KEYS if isinstance(item.get(k), str) and item[k]), None)
    return {"at": item["at"], "kind": item["kind"], "label": item.get("label"), "text": text,
            "state": item.get("state"), "state_label": item.get("state_label"), "unit": item.get("unit"),
            "rating": item.get("rating"), "of_code": item.get("of_code")}


#: the public events intake writes; none shows data fields (see ``services.reports.public_timeline``)
_INTAKE_KINDS = frozenset({EventKind.CREATED, EventKind.ROUTED})


def _new_timeline(session: Session, report: Report, written: list[ReportEvent]) -> list[dict[str, Any]]:
    """``timeline()`` of a new report from its events in memory, item for item what
    ``public_timeline`` reads back (tests/backend/api/v1/test_v1_reports.py compares the two)."""
    shown = sorted((e for e in written if e.is_public), key=lambda e: (e.at, e.id or 0))
    if any(e.kind not in _INTAKE_KINDS for e in shown):
        return timeline(session, report)
    loc = http.locale()
    en = loc.startswith("en")
    items = []
    for event in shown:
        item: dict[str, Any] = {"at": event.at, "kind": event.kind,
                                "label": reports.EVENT_LABELS[event.kind][1 if en else 0]}
        if event.to_state and event.to_state != event.from_state:
            item["state"], item["state_label"] = event.to_state, label(event.to_state, loc)
        if event.kind == EventKind.ROUTED and event.to_unit_id:
            name = city.unit_name(session, event.to_unit_id, "en" if en else "vi")  # cached, no query
            item["unit"] = name if name is not None else _unit_name(session, event.to_unit_id, en)
        items.append(_timeline_row(item))
    return items


def _unit_name(session: Session, unit_id: int, en: bool) -> str:
    unit = session.get(Unit, unit_id)
    return unit.name("en" if en else "vi") if unit else ""


def summaries(session: Session, reports: list[Report], *, distances: list[float] | None = None) -> list[dict]:
    """Rows for the map / list / nearby (one query each for categories, thumbnails, followers)."""
    loc = http.locale()
    cats = city.categories_by_id(session, {r.category_id for r in reports if r.category_id})
    ids = [r.id for r in reports if r.id is not None]
    thumbs = photos.first_public_photos(session, ids)
    store = _store()
    followers = residents.follower_counts(session, ids) if distances is not None else {}
    out = []
    for i, r in enumerate(reports):
        thumb = thumbs.get(r.id)  # type: ignore[arg-type]
        thumb_url = None
        if thumb is not None:
            tview = photos.public_view(thumb, store)
            thumb_url = next(iter(v for v in (tview.get("thumbnails") or {}).values() if v), tview.get("url"))
        row = {"code": r.code, "status": r.status, "status_label": label(r.status, loc),
               "category": _category(cats.get(r.category_id), loc) if r.category_id else None,  # type: ignore[arg-type]
               "lat": r.lat, "lon": r.lon, "created_at": r.created_at,
               "resolve_due_at": r.resolve_due_at if r.status in OPEN_STATES else None, "thumbnail": thumb_url}
        if distances is not None:
            row["distance_m"] = round(distances[i], 1)
            row["followers"] = followers.get(r.id, 0)  # type: ignore[arg-type]
        out.append(row)
    return out
