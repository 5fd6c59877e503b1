"""Public read queries for the app: categories, the map/list of reports, nearby open reports.

Everything here is read-only and returns model rows; the API layer shapes them. Nearby lookup
(the duplicate suggestion shown before submitting, DESIGN §14: ≤ 10 ms at 1M reports) filters a
lat/lon bounding box on ``ix_reports_geo`` and ranks the few candidates by haversine distance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, func, literal_column
from sqlmodel import Session, col, select

from backend.errors import InvalidInput, NotFound
from backend.models.categories import Category
from backend.models.photos import Photo, PhotoState
from backend.models.reports import CLOSED_STATES, FIXED_STATES, OPEN_STATES, Follower, Report
from backend.models.units import Unit

EARTH_RADIUS_M = 6_371_008.8
MAX_BBOX_DEG = 2.0
NEARBY_LIMIT = 10


def active_categories(session: Session) -> list[Category]:
    """Active categories in display order."""
    return list(session.exec(select(Category).where(Category.active == True)  # noqa: E712
                             .order_by(Category.sort_order, Category.group_code, Category.code)))


def category_by_code(session: Session, code: str) -> Category | None:
    return session.exec(select(Category).where(Category.code == code)).first()


def category_id_for(session: Session, code: str | None) -> int | None:
    """The id of the category ``code`` (None when no code is given); InvalidInput for an unknown code."""
    if not code:
        return None
    category = category_by_code(session, code)
    if category is None:
        raise InvalidInput("Lĩnh vực không tồn tại.", code="unknown-category")
    return category.id


def unit_id_for(session: Session, code: str | None) -> int | None:
    """The id of the unit ``code`` (None when no code is given); NotFound ``unknown-unit`` otherwise."""
    if not code:
        return None
    unit_id = session.exec(select(Unit.id).where(Unit.code == code)).first()
    if unit_id is None:
        raise NotFound(f"Không có đơn vị mã {code}.", code="unknown-unit")
    return unit_id


def categories_by_id(session: Session, ids: set[int]) -> dict[int, Category]:
    if not ids:
        return {}
    return {c.id: c for c in session.exec(select(Category).where(col(Category.id).in_(ids)))}  # type: ignore[misc]


def localized_attributes(category: Category, locale: str) -> list[dict[str, Any]]:
    """Open311-style attributes with descriptions/value names in ``locale`` (vi fallback)."""
    out = []
    for attr in category.attributes or []:
        if not isinstance(attr, dict) or not attr.get("code"):
            continue
        desc = attr.get(f"description_{locale}") or attr.get("description_vi") or attr.get("description") or ""
        values = [{"key": str(v.get("key")),
                   "name": str(v.get(f"name_{locale}") or v.get("name_vi") or v.get("name") or v.get("key"))}
                  for v in attr.get("values") or [] if isinstance(v, dict) and v.get("key") is not None]
        out.append({"code": str(attr["code"]), "datatype": str(attr.get("datatype") or "string"),
                    "required": bool(attr.get("required")), "order": int(attr.get("order") or 0),
                    "description": desc, "values": values})
    return sorted(out, key=lambda a: a["order"])


# ---------------------------------------------------------------------------- list / map


@dataclass(frozen=True)
class ReportFilter:
    bbox: tuple[float, float, float, float] | None = None  # min_lon, min_lat, max_lon, max_lat
    status: str | None = None  # a state, "open" or "closed"
    category_id: int | None = None
    since: datetime | None = None
    resident_id: int | None = None


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``min_lon,min_lat,max_lon,max_lat`` → floats; refuses inverted or huge boxes."""
    try:
        min_lon, min_lat, max_lon, max_lat = (float(v) for v in text.split(","))
    except ValueError:
        raise InvalidInput("bbox phải có dạng min_lon,min_lat,max_lon,max_lat.", code="invalid-bbox") from None
    if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
        raise InvalidInput("bbox không hợp lệ (min phải nhỏ hơn max).", code="invalid-bbox")
    if max_lon - min_lon > MAX_BBOX_DEG or max_lat - min_lat > MAX_BBOX_DEG:
        raise InvalidInput("Vùng bản đồ quá lớn; hãy phóng to thêm.", code="invalid-bbox")
    return min_lon, min_lat, max_lon, max_lat


def _status_clause(status: str) -> Any:
    if status == "open":
        return col(Report.status).in_(sorted(OPEN_STATES))
    if status == "closed":
        return col(Report.status).in_(sorted(CLOSED_STATES | FIXED_STATES))
    return Report.status == status


def list_reports(session: Session, flt: ReportFilter, *, page: int = 1, per_page: int = 20) -> list[Report]:
    """Reports matching ``flt``, newest first; ``per_page + 1`` rows (the envelope trims)."""
    stmt = select(Report)
    if flt.resident_id is not None:
        stmt = stmt.where(Report.resident_id == flt.resident_id)
    elif flt.status != "duplicate":
        stmt = stmt.where(Report.duplicate_of_id == None)  # noqa: E711
    if flt.bbox:
        min_lon, min_lat, max_lon, max_lat = flt.bbox
        stmt = stmt.where(col(Report.lat).between(min_lat, max_lat), col(Report.lon).between(min_lon, max_lon))
    if flt.status:
        stmt = stmt.where(_status_clause(flt.status))
    if flt.category_id is not None:
        stmt = stmt.where(Report.category_id == flt.category_id)
    if flt.since is not None:
        stmt = stmt.where(Report.updated_at >= flt.since)
    stmt = stmt.order_by(col(Report.created_at).desc(), col(Report.id).desc())
    return list(session.exec(stmt.offset((page - 1) * per_page).limit(per_page + 1)))


# ---------------------------------------------------------------------------- nearby


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _num(value: float) -> Any:
    """A float rendered into the SQL text: PostgreSQL then plans each box with its real bounds
    (a cached generic plan for ``lat BETWEEN $1 AND $2`` picks a 6x slower index scan)."""
    if not math.isfinite(value):
        raise InvalidInput("Toạ độ không hợp lệ.", code="invalid-location")
    return literal_column(f"{value:.7f}", Float)


def nearby_open(session: Session, *, lat: float, lon: float, radius_m: float = 150,
                category_id: int | None = None, limit: int = NEARBY_LIMIT) -> list[tuple[Report, float]]:
    """Open reports within ``radius_m`` of the point, nearest first, as (report, distance in m).

    Two steps keep it cheap at a million reports: (id, lat, lon) of the candidates in the bounding
    box (``ix_reports_geo``), ranked by haversine in Python; then only the ``limit`` nearest rows.
    """
    dlat = radius_m / 111_320.0
    dlon = radius_m / (111_320.0 * max(0.01, math.cos(math.radians(lat))))
    stmt = (select(Report.id, Report.lat, Report.lon)
            .where(col(Report.lat).between(_num(lat - dlat), _num(lat + dlat)),
                   col(Report.lon).between(_num(lon - dlon), _num(lon + dlon)),
                   col(Report.status).in_(sorted(OPEN_STATES)),
                   Report.duplicate_of_id == None)  # noqa: E711
            .limit(5000))
    if category_id is not None:
        stmt = stmt.where(Report.category_id == category_id)
    hits = []
    for report_id, r_lat, r_lon in session.exec(stmt):
        d = haversine_m(lat, lon, r_lat, r_lon)
        if d <= radius_m:
            hits.append((d, report_id))
    hits.sort()
    nearest = hits[:limit]
    if not nearest:
        return []
    rows = {r.id: r for r in session.exec(select(Report).where(col(Report.id).in_([i for _, i in nearest])))}
    return [(rows[i], d) for d, i in nearest if i in rows]


def follower_counts(session: Session, report_ids: list[int]) -> dict[int, int]:
    if not report_ids:
        return {}
    rows = session.exec(select(Follower.report_id, func.count()).where(col(Follower.report_id).in_(report_ids))
                        .group_by(Follower.report_id))
    return dict(rows.all())


def first_public_photos(session: Session, report_ids: list[int]) -> dict[int, Photo]:
    """The first ready report photo of each report (for thumbnails on the map/list)."""
    if not report_ids:
        return {}
    rows = session.exec(select(Photo).where(col(Photo.report_id).in_(report_ids), Photo.role == "report",
                                            Photo.state == PhotoState.READY).order_by(Photo.id))
    out: dict[int, Photo] = {}
    for photo in rows:
        out.setdefault(photo.report_id, photo)  # type: ignore[arg-type]
    return out
