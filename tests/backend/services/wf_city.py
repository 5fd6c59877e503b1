"""A small city for the intake/workflow tests: units, categories, one ward, staff, residents.

Import the fixture into a test module (``from wf_city import city_fixture``) and ask for ``city``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import Session, func, select

from backend.models import (
    Area,
    Category,
    Follower,
    Outbox,
    Photo,
    Report,
    ReportEvent,
    Resident,
    RoutingRule,
    Staff,
    Unit,
)
from backend.services import routing
from backend.services import settings as city_settings
from backend.services.events import Actor

# a Monday 09:00 in Hà Nội (02:00 UTC): office hours, no holiday
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
INSIDE = (21.03, 105.85)        # in the ward polygon
INSIDE_NO_AREA = (20.95, 105.75)  # in the city bounds, outside any ward
OUTSIDE = (10.77, 106.70)        # Hồ Chí Minh City


@dataclass
class City:
    session: Session
    units: dict[str, Unit] = field(default_factory=dict)
    cats: dict[str, Category] = field(default_factory=dict)
    staff: dict[str, Staff] = field(default_factory=dict)
    residents: list[Resident] = field(default_factory=list)
    area: Area | None = None

    def actor(self, name: str) -> Actor:
        return Actor.staff(self.staff[name])

    def resident(self, i: int = 0) -> Actor:
        return Actor.resident(self.residents[i].id)

    def photo(self, *, resident: int | None = 0, staff: str | None = None) -> int:
        photo = Photo(resident_id=self.residents[resident].id if resident is not None and staff is None else None,
                      staff_id=self.staff[staff].id if staff else None, state="ready", mime="image/jpeg")
        self.session.add(photo)
        self.session.flush()
        assert photo.id is not None
        return photo.id


def counts(session: Session) -> dict[str, int]:
    """Row counts of what intake/workflow write."""
    session.flush()
    return {
        "reports": session.exec(select(func.count()).select_from(Report)).one(),
        "events": session.exec(select(func.count()).select_from(ReportEvent)).one(),
        "attached": session.exec(select(func.count()).select_from(Photo).where(Photo.report_id.is_not(None))).one(),
        "outbox": session.exec(select(func.count()).select_from(Outbox)).one(),
        "followers": session.exec(select(func.count()).select_from(Follower)).one(),
    }


def _square(lat: float, lon: float, d: float) -> dict[str, Any]:
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]
    return {"type": "Polygon", "coordinates": [ring]}


def build_city(session: Session) -> City:
    routing.clear_cache()
    city = City(session)
    for code, name, triage in (("ioc", "Trung tâm Điều hành IOC", True), ("roads", "Sở Xây dựng", False),
                               ("ward", "UBND phường Hoàn Kiếm", False), ("water", "Công ty Nước sạch", False)):
        unit = Unit(code=code, name_vi=name, name_en=code.title(), is_triage=triage)
        session.add(unit)
        city.units[code] = unit
    session.flush()
    area = Area(code="hk", name="Phường Hoàn Kiếm", geometry=_square(*INSIDE, 0.02),
                min_lon=INSIDE[1] - 0.02, min_lat=INSIDE[0] - 0.02, max_lon=INSIDE[1] + 0.02,
                max_lat=INSIDE[0] + 0.02)
    session.add(area)
    city.area = area
    for code, name, kwargs in (
        ("pothole", "Ổ gà, hư hỏng mặt đường", {"default_unit_id": city.units["roads"].id,
                                                 "requires_after_photo": True}),
        ("lamp", "Đèn chiếu sáng hỏng", {}),
        ("trash", "Rác thải", {"default_unit_id": city.units["ward"].id, "priority_default": "urgent"}),
        ("fire", "Cháy nổ", {"is_emergency": True, "hotline": "114"}),
        ("old", "Lĩnh vực cũ", {"active": False}),
    ):
        cat = Category(code=code, name_vi=name, name_en=code, **kwargs)
        session.add(cat)
        city.cats[code] = cat
    session.flush()
    session.add(RoutingRule(category_id=city.cats["lamp"].id, area_id=area.id, unit_id=city.units["ward"].id))
    city_settings.put(session, "bounds", [105.7, 20.9, 106.0, 21.1])
    city_settings.put(session, "city_name", "Hà Nội")
    for name, role, unit in (("admin", "admin", None), ("disp", "dispatcher", "ioc"), ("head", "head", "roads"),
                             ("officer", "officer", "roads"), ("ward", "officer", "ward"),
                             ("viewer", "viewer", "roads"), ("ioc_officer", "officer", "ioc")):
        staff = Staff(email=f"{name}@example.vn", name=name.title(), role=role,
                      unit_id=city.units[unit].id if unit else None)
        session.add(staff)
        city.staff[name] = staff
    for i in range(2):
        resident = Resident(display_name=f"Dân {i}")
        session.add(resident)
        city.residents.append(resident)
    session.flush()
    return city


@pytest.fixture(name="city")
def city_fixture(session: Session) -> City:
    return build_city(session)
