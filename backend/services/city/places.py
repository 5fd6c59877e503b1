"""Finding a place by name for staff who type what a caller says: the city's wards and communes (``areas``).

The product has no street geocoder and tests never reach the internet, so the "address search" of the staff
forms is a ward lookup: :func:`find_places` matches the typed words against the area names and codes,
accent- and case-insensitively ("soc trang" finds "Phường Sóc Trăng"), and returns each active area with
its bounding box and a point surely inside it (shapely's ``representative_point``) where the form puts the
pin for staff to drag to the exact spot. Read-only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import shapely
from shapely.geometry import shape
from sqlmodel import Session, col, select

from backend.models.areas import Area
from backend.models.base import utcnow
from backend.services.city.routing import is_active
from backend.text import fold

MAX_QUERY = 100
LIMIT = 8
_PREFIXES = ("phuong ", "xa ", "thi tran ", "dac khu ")


@dataclass(frozen=True)
class Place:
    """One ward or commune: its name, a point inside it (lat, lon) and its bounding box."""

    code: str
    name: str
    lat: float
    lon: float
    bbox: tuple[float, float, float, float]  # min_lon, min_lat, max_lon, max_lat


def find_places(session: Session, *, q: str | None, limit: int = LIMIT, at: datetime | None = None) -> list[Place]:
    """Active areas whose name or code contains every typed word (folded), best first: a name that starts
    with the words (after "Phường"/"Xã"), then the others by name. Empty for an empty or too long query."""
    words = fold(q).split()
    if not words or len(q or "") > MAX_QUERY:
        return []
    when = at or utcnow()
    rows = session.exec(select(Area).order_by(col(Area.name))).all()
    hits: list[tuple[int, str, Area]] = []
    for area in rows:
        if not is_active(area, when):
            continue
        name = fold(area.name)
        haystack = f"{name} {fold(area.code.replace('-', ' '))}"
        if all(word in haystack for word in words):
            bare = next((name[len(p):] for p in _PREFIXES if name.startswith(p)), name)
            hits.append((0 if bare.startswith(" ".join(words)) else 1, name, area))
    hits.sort(key=lambda hit: (hit[0], hit[1]))
    return [place for _rank, _name, area in hits[:max(1, limit)] if (place := _place(area)) is not None]


def _place(area: Area) -> Place | None:
    try:
        geom = shape(area.geometry)
    except Exception:  # noqa: BLE001 - a broken polygon is not offered (routing ignores it too)
        return None
    if geom.is_empty:
        return None
    point = shapely.get_coordinates(geom.representative_point())[0]
    return Place(code=area.code, name=area.name, lat=round(float(point[1]), 6), lon=round(float(point[0]), 6),
                 bbox=(area.min_lon, area.min_lat, area.max_lon, area.max_lat))
