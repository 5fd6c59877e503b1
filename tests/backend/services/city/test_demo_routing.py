"""Acceptance: the demo city routes a point in each demo ward, for each category, to the expected unit.

The expected table is written out from the pack's intent (README in backend/demo), not computed by route().
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlmodel import select

from backend.models import Area, Category, Unit
from backend.services.city import routing

AT = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)   # 09:00 in Vietnam

#: a point well inside each synthetic ward (lat, lon)
WARD_POINTS = {
    "an-hiep": (9.633, 105.932),
    "phu-loi": (9.634, 105.957),
    "soc-trang": (9.634, 105.982),
    "khanh-hoa": (9.632, 106.007),
    "my-xuyen": (9.576, 105.933),
    "vinh-phuoc": (9.576, 105.958),
    "hoa-tu": (9.576, 105.982),
    "tai-van": (9.576, 106.008),
}

#: where each category goes anywhere in the city (before ward-specific rules)
CITY_WIDE = {
    "duong-hu-hong": "so-xd",
    "chieu-sang": "ctdt",
    "cay-xanh": "ctdt",
    "thoat-nuoc": "cap-nuoc",
    "cap-nuoc": "cap-nuoc",
    "dien": "dien-luc",
    "rac-thai": "ctdt",
    "an-ninh-tieng-on": "cong-an",
    "tin-hieu-giao-thong": "so-xd",
    "giao-thong-cong-cong": "xe-buyt",
    "thu-tuc-hanh-chinh": "hcc",
    "khac": "ioc",
    "khan-cap-chay-no": "cong-an",
    "khan-cap-cap-cuu": "so-yt",
    "khan-cap-an-ninh": "cong-an",
}
WARD_CATEGORIES = ("trat-tu-do-thi", "trat-tu-xay-dung")   # always the ward/commune People's Committee
COMMUNE_LIGHTING = ("hoa-tu", "tai-van")                     # rural lighting run by the commune


def expected_unit(category: str, ward: str) -> str:
    if category in WARD_CATEGORIES:
        return f"ubnd-{ward}"
    if category == "chieu-sang" and ward in COMMUNE_LIGHTING:
        return f"ubnd-{ward}"
    return CITY_WIDE[category]


CASES = [(ward, cat) for ward in WARD_POINTS for cat in (*CITY_WIDE, *WARD_CATEGORIES)]


@pytest.fixture
def demo(session: Any, demo_city: Any) -> dict[str, Any]:
    routing.clear_cache()
    return {
        "units": {u.id: u.code for u in session.exec(select(Unit)).all()},
        "categories": {c.code: c for c in session.exec(select(Category)).all()},
    }


def test_table_covers_every_demo_category(demo: dict) -> None:
    assert set(demo["categories"]) == {*CITY_WIDE, *WARD_CATEGORIES}


@pytest.mark.parametrize("ward,category", CASES, ids=[f"{w}-{c}" for w, c in CASES])
def test_point_in_ward_routes_to_expected_unit(session: Any, demo: dict, ward: str, category: str) -> None:
    lat, lon = WARD_POINTS[ward]
    r = routing.route(session, category=demo["categories"][category], lat=lat, lon=lon, at=AT)
    assert session.get(Area, r.area_id).code == ward
    assert demo["units"][r.unit_id] == expected_unit(category, ward)
    assert r.is_triage == (expected_unit(category, ward) == "ioc")


def test_flood_priority_override_in_low_lying_ward(session: Any, demo: dict) -> None:
    cat = demo["categories"]["thoat-nuoc"]
    assert routing.route(session, category=cat, lat=9.576, lon=105.933, at=AT).priority == "urgent"
    assert routing.route(session, category=cat, lat=9.576, lon=105.958, at=AT).priority == "normal"


def test_effective_dates_in_demo(session: Any, demo: dict) -> None:
    lat, lon = WARD_POINTS["soc-trang"]
    signals, rubbish = demo["categories"]["tin-hieu-giao-thong"], demo["categories"]["rac-thai"]
    before_merger = datetime(2024, 6, 1, tzinfo=UTC)
    assert demo["units"][routing.route(session, category=signals, lat=lat, lon=lon, at=before_merger).unit_id] \
        == "so-gtvt"
    planned = datetime(2030, 1, 2, tzinfo=UTC)
    assert demo["units"][routing.route(session, category=rubbish, lat=lat, lon=lon, at=planned).unit_id] \
        == "so-nnmt"


def test_outside_the_wards_falls_back(session: Any, demo: dict) -> None:
    cats = demo["categories"]
    far = {"lat": 21.03, "lon": 105.85}   # Hà Nội
    r = routing.route(session, category=cats["trat-tu-do-thi"], at=AT, **far)
    assert (demo["units"][r.unit_id], r.is_triage, r.area_id) == ("ioc", True, None)
    r = routing.route(session, category=cats["trat-tu-xay-dung"], at=AT, **far)
    assert demo["units"][r.unit_id] == "so-xd"
    r = routing.route(session, category=None, lat=9.6, lon=105.97, at=AT)
    assert (demo["units"][r.unit_id], r.is_triage) == ("ioc", True)


def test_shared_corner_of_four_wards_goes_to_lowest_code(session: Any, demo: dict) -> None:
    # the vertex shared by phu-loi, soc-trang, vinh-phuoc and hoa-tu
    area = routing.locate(session, 9.6081, 105.9683, AT)
    assert area is not None and area.code == "hoa-tu"


def test_demo_city_bounds(session: Any, demo: dict) -> None:
    assert routing.within_city(session, 9.60, 105.97)
    assert routing.within_city(session, 9.55, 106.02)
    assert not routing.within_city(session, 21.03, 105.85)
    assert not routing.within_city(session, 9.60, 105.90)
