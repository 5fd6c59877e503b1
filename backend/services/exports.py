"""Exports for spreadsheets and the city's GIS platform.

- CSV (UTF-8 with BOM so Excel shows Vietnamese correctly, CRLF lines): reports (public fields
  only) and KPIs (``kpi_csv_rows``).
- GeoJSON (RFC 7946: WGS 84 lon/lat, no ``crs`` member; QGIS and ArcGIS open it as is): reports as
  points with public properties, and the ward/commune areas as polygons.

Public fields never include the reporter's identity, contact, EXIF data or internal notes.
Generators stream rows so a large export does not build the whole file in memory.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from backend.errors import InvalidInput
from backend.models.areas import Area
from backend.models.categories import Category
from backend.models.reports import Report, State
from backend.models.units import Unit
from backend.schemas.common import parse_id
from backend.services.reports import listed

log = logging.getLogger(__name__)

BOM = "\ufeff"
MAX_ROWS = 500_000
BATCH = 2000

STATE_LABELS_VI = {
    "received": "Mới tiếp nhận", "triage": "Chờ phân loại", "assigned": "Đã chuyển đơn vị xử lý",
    "acknowledged": "Đơn vị đã tiếp nhận", "in_progress": "Đang xử lý", "on_hold": "Gia hạn / Chờ phối hợp",
    "resolved": "Đã xử lý", "reopened": "Người dân phản ánh lại", "rejected": "Không hợp lệ",
    "not_competent": "Không thuộc thẩm quyền", "duplicate": "Trùng phản ánh", "closed": "Đã đóng",
}

REPORT_COLUMNS = ("code", "state", "state_vi", "category_code", "category_vi", "unit_code", "unit_vi", "area_code",
                  "area_vi", "channel", "priority", "description", "address", "lat", "lon", "created_at",
                  "acknowledged_at", "resolve_due_at", "resolved_at", "closed_at", "public_reply")


@dataclass
class ReportQuery:
    """Filters shared by the CSV and GeoJSON report exports."""

    start: datetime | None = None
    end: datetime | None = None
    unit_ids: list[int] | None = None
    category_id: int | None = None
    area_id: int | None = None
    state: str | None = None


def parse_query(args: Any, *, unit_ids: list[int] | None) -> ReportQuery:
    """Build a :class:`ReportQuery` from request args; ``unit_ids`` is the caller's visible scope."""


    def when(name: str) -> datetime | None:
        raw = (args.get(name) or "").strip()
        if not raw:
            return None
        try:
            value = datetime.fromisoformat(raw if "T" in raw else raw + "T00:00:00+07:00")
        except ValueError:
            raise InvalidInput(f"Ngày không hợp lệ: {name}.", code="invalid-date") from None
        if value.tzinfo is None:
            raise InvalidInput(f"Ngày cần múi giờ: {name}.", code="invalid-date")
        return value

    state = args.get("state") or None
    if state and state not in {s.value for s in State}:
        raise InvalidInput("Trạng thái không hợp lệ.", code="invalid-state")
    unit_id = parse_id(args.get("unit_id"), "unit_id")
    scope = unit_ids
    if unit_id is not None:
        if unit_ids is not None and unit_id not in unit_ids:
            from backend.errors import Forbidden

            raise Forbidden("Bạn không có quyền xuất dữ liệu của đơn vị này.", code="other-unit")
        scope = [unit_id]
    return ReportQuery(start=when("from"), end=when("to"), unit_ids=scope,
                       category_id=parse_id(args.get("category_id"), "category_id"),
                       area_id=parse_id(args.get("area_id"), "area_id"), state=state)


def _reports(session: Session, query: ReportQuery) -> Iterator[Report]:
    stmt = select(Report).where(listed())  # public fields, open data: never a report staff hid
    if query.start is not None:
        stmt = stmt.where(Report.created_at >= query.start)
    if query.end is not None:
        stmt = stmt.where(Report.created_at < query.end)
    if query.unit_ids is not None:
        stmt = stmt.where(col(Report.unit_id).in_(query.unit_ids or [-1]))
    if query.category_id is not None:
        stmt = stmt.where(Report.category_id == query.category_id)
    if query.area_id is not None:
        stmt = stmt.where(Report.area_id == query.area_id)
    if query.state:
        stmt = stmt.where(Report.status == query.state)
    last_id, sent = 0, 0
    while sent < MAX_ROWS:
        batch = list(session.exec(stmt.where(col(Report.id) > last_id).order_by(col(Report.id)).limit(BATCH)))
        if not batch:
            return
        yield from batch
        sent += len(batch)
        last_id = batch[-1].id  # type: ignore[assignment]


class _Names:
    """Code/name lookups for categories, units and areas (small tables; loaded once per export)."""

    def __init__(self, session: Session) -> None:
        self.categories = {c.id: (c.code, c.name_vi) for c in session.exec(select(Category))}
        self.units = {u.id: (u.code, u.name_vi) for u in session.exec(select(Unit))}
        self.areas = {row[0]: (row[1], row[2]) for row in session.exec(select(Area.id, Area.code, Area.name))}


def public_fields(report: Report, names: _Names) -> dict[str, Any]:
    cat = names.categories.get(report.category_id, ("", ""))
    unit = names.units.get(report.unit_id, ("", ""))
    area = names.areas.get(report.area_id, ("", ""))

    def iso(value: datetime | None) -> str:
        return value.isoformat() if value else ""

    return {"code": report.code, "state": report.status, "state_vi": STATE_LABELS_VI.get(report.status, ""),
            "category_code": cat[0], "category_vi": cat[1], "unit_code": unit[0], "unit_vi": unit[1],
            "area_code": area[0], "area_vi": area[1], "channel": report.channel, "priority": report.priority,
            "description": report.description, "address": report.address or "",
            "lat": round(report.lat, 6) if report.lat is not None else "",
            "lon": round(report.lon, 6) if report.lon is not None else "",
            "created_at": iso(report.created_at), "acknowledged_at": iso(report.acknowledged_at),
            "resolve_due_at": iso(report.resolve_due_at), "resolved_at": iso(report.resolved_at),
            "closed_at": iso(report.closed_at), "public_reply": report.public_reply or ""}


def _safe_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in free text (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_lines(rows: Iterable[list[Any]]) -> Iterator[str]:
    """CSV text chunks: a BOM first, then CRLF-terminated rows."""
    yield BOM
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    for n, row in enumerate(rows, start=1):
        writer.writerow([_safe_cell(v) for v in row])
        if n % 500 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def reports_csv(session: Session, *, query: ReportQuery) -> Iterator[str]:
    names = _Names(session)

    def rows() -> Iterator[list[Any]]:
        yield list(REPORT_COLUMNS)
        for report in _reports(session, query):
            fields = public_fields(report, names)
            yield [fields[c] for c in REPORT_COLUMNS]

    return csv_lines(rows())


def kpis_csv(result: dict[str, Any]) -> Iterator[str]:

    return csv_lines(kpi_csv_rows(result))


def reports_geojson(session: Session, *, query: ReportQuery) -> Iterator[str]:
    """A FeatureCollection of report points (reports without a location are left out)."""
    names = _Names(session)
    yield '{"type":"FeatureCollection","features":['
    first = True
    for report in _reports(session, query):
        if report.lat is None or report.lon is None:
            continue
        props = public_fields(report, names)
        props.pop("lat")
        props.pop("lon")
        feature = {"type": "Feature", "id": report.code,
                   "geometry": {"type": "Point", "coordinates": [round(report.lon, 6), round(report.lat, 6)]},
                   "properties": props}
        yield ("" if first else ",") + json.dumps(feature, ensure_ascii=False)
        first = False
    yield "]}"


def areas_geojson(session: Session) -> dict[str, Any]:
    """The ward/commune polygons as a FeatureCollection (code, name, kind)."""
    features = []
    for area in session.exec(select(Area).order_by(col(Area.code))):
        geometry = area.geometry or {}
        if geometry.get("type") == "Feature":
            geometry = geometry.get("geometry") or {}
        elif geometry.get("type") == "FeatureCollection":
            feats = geometry.get("features") or []
            geometry = feats[0].get("geometry", {}) if feats else {}
        if geometry.get("type") not in ("Polygon", "MultiPolygon"):
            continue
        features.append({"type": "Feature", "id": area.code, "geometry": geometry,
                         "properties": {"code": area.code, "name": area.name, "kind": area.kind}})
    return {"type": "FeatureCollection", "features": features}


KPI_CSV_HEADER = ["month", "start", "end", "received", "resolved", "open",
              "closures", "on_time_closures", "open_overdue", "on_time_rate", "backlog",
              "resolutions", "reopens", "reopen_rate", "transfer_rate", "first_unit_share",
              "ack_count", "ack_median_working_hours", "ack_p90_working_hours", "ack_median_hours", "ack_p90_hours",
              "resolve_count", "resolve_median_working_hours", "resolve_p90_working_hours",
              "resolve_median_hours", "resolve_p90_hours", "satisfaction_mean", "satisfaction_count"]


def kpi_csv_rows(result: dict[str, Any]) -> list[list[Any]]:
    """Header + one row per month (or one row for the period) of a ``deadlines.figures`` result; instants are
    city time with their offset (+07:00)."""
    entries = result.get("months") or [{"month": "", **result["period"]}]
    rows: list[list[Any]] = [list(KPI_CSV_HEADER)]
    for e in entries:
        ack, res = e["time_to_acknowledge"], e["time_to_resolve"]
        rows.append([e.get("month", ""), e["start"], e["end"],
                     e["received"], e["resolved"], e["open"], e["closures"], e["on_time_closures"],
                     e["open_overdue"], e["on_time_rate"], e["backlog"], e["resolutions"], e["reopens"],
                     e["reopen_rate"], e["transfer_rate"], e["first_unit_share"],
                     ack["count"], ack["median_working_hours"], ack["p90_working_hours"], ack["median_hours"],
                     ack["p90_hours"], res["count"], res["median_working_hours"], res["p90_working_hours"],
                     res["median_hours"], res["p90_hours"], e["satisfaction"]["mean"], e["satisfaction"]["count"]])
    return rows
