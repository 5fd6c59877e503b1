"""Correcting a report's location (staff drag the pin on the report page): the ``relocate`` action.

The point must be inside the city; the report's ward follows the point. The ``location_changed``
event keeps the old and new coordinates and wards (who: the event's actor). The unit is not changed
here: :func:`routing_suggestion` says where routing would send the report from the new point, and
the page offers that transfer (a separate, ordinary ``transfer`` action).
"""

from __future__ import annotations

import math
from typing import Any

from sqlmodel import Session

from backend.errors import InvalidInput
from backend.models.categories import Category
from backend.models.reports import EventKind, Report, ReportEvent
from backend.services.city import routing
from backend.services.reports.effects import Context, Effect, record

#: a move shorter than this is not a correction (a click on the pin)
MIN_MOVE_M = 1.0


def _coordinate(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput("Toạ độ không hợp lệ.", code="invalid-location", details={"field": name}) from None
    if not math.isfinite(number):
        raise InvalidInput("Toạ độ không hợp lệ.", code="invalid-location", details={"field": name})
    return number


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    k = 111_320.0
    return math.hypot((lat2 - lat1) * k, (lon2 - lon1) * k * math.cos(math.radians((lat1 + lat2) / 2)))


def relocate(ctx: Context) -> Effect:
    report = ctx.report
    lat, lon = _coordinate(ctx.fields["lat"], "lat"), _coordinate(ctx.fields["lon"], "lon")
    if not routing.within_city(ctx.session, lat, lon):
        raise InvalidInput("Vị trí mới nằm ngoài địa bàn thành phố.", code="outside-city")
    if report.lat is not None and report.lon is not None and _distance_m(report.lat, report.lon, lat, lon) < MIN_MOVE_M:
        raise InvalidInput("Vị trí không thay đổi.", code="unchanged")
    area = routing.locate(ctx.session, lat, lon)

    def effect() -> ReportEvent:
        old = {"lat": report.lat, "lon": report.lon, "area_id": report.area_id}
        report.lat, report.lon = round(lat, 7), round(lon, 7)
        report.area_id = area.id if area is not None else None
        return record(ctx, EventKind.LOCATION_CHANGED, data={
            "from": old, "to": {"lat": report.lat, "lon": report.lon, "area_id": report.area_id}})

    return effect


def routing_suggestion(session: Session, report: Report) -> int | None:
    """The unit routing would choose for the report's category at its current point, when that is not
    the unit holding it (None otherwise, or without a point)."""
    if report.lat is None or report.lon is None:
        return None
    category = session.get(Category, report.category_id) if report.category_id else None
    suggested = routing.route(session, category=category, lat=report.lat, lon=report.lon)
    return suggested.unit_id if suggested.unit_id != report.unit_id else None
