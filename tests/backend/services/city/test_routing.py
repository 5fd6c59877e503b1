"""Routing with small hand-made polygons: borders, holes, concave shapes, rule specificity, dates."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from backend.errors import Unavailable
from backend.models import Area, Category, RoutingRule, Unit
from backend.services.city import routing
from backend.services.city import settings as city_settings

NOW = datetime(2026, 6, 15, 3, 0, tzinfo=UTC)
PAST = datetime(2020, 1, 1, tzinfo=UTC)
FUTURE = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_index() -> Any:
    routing.clear_cache()
    yield
    routing.clear_cache()


def square(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def add_area(session: Any, code: str, rings: list[list[list[float]]], **kw: Any) -> Area:
    xs = [p[0] for p in rings[0]]
    ys = [p[1] for p in rings[0]]
    area = Area(code=code, name=code, geometry={"type": "Polygon", "coordinates": rings},
                min_lon=min(xs), min_lat=min(ys), max_lon=max(xs), max_lat=max(ys), **kw)
    session.add(area)
    session.flush()
    return area


def add_unit(session: Any, code: str, **kw: Any) -> Unit:
    unit = Unit(code=code, name_vi=f"Đơn vị {code}", **kw)
    session.add(unit)
    session.flush()
    return unit


def add_category(session: Any, code: str, default: Unit | None = None, **kw: Any) -> Category:
    cat = Category(code=code, name_vi=f"Danh mục {code}", default_unit_id=default.id if default else None, **kw)
    session.add(cat)
    session.flush()
    return cat


def add_rule(session: Any, unit: Unit, category: Category | None = None, area: Area | None = None,
             **kw: Any) -> RoutingRule:
    rule = RoutingRule(unit_id=unit.id, category_id=category.id if category else None,
                       area_id=area.id if area else None, **kw)
    session.add(rule)
    session.flush()
    return rule


@pytest.fixture
def world(session: Any) -> dict[str, Any]:
    """Two squares sharing a border, a square with a hole (and an island inside it), an L-shape."""
    w: dict[str, Any] = {}
    # west square (code sorts AFTER east, to show the border rule is by code, not insertion order)
    w["west"] = add_area(session, "z-west", [square(100, 10, 101, 11)])
    w["east"] = add_area(session, "a-east", [square(101, 10, 102, 11)])
    w["ring"] = add_area(session, "m-ring", [square(103, 10, 106, 13), square(104, 11, 105, 12)[::-1]])
    w["island"] = add_area(session, "n-island", [square(104, 11, 105, 12)])
    # L-shape: the notch (107.5..108, 10.5..11) is inside the bbox but outside the polygon
    w["ell"] = add_area(session, "l-shape", [[[107, 10], [108, 10], [108, 10.5], [107.5, 10.5], [107.5, 11],
                                              [107, 11], [107, 10]]])
    w["ioc"] = add_unit(session, "t-ioc", is_triage=True, kind="ioc")
    w["dept"] = add_unit(session, "t-dept")
    w["ward_w"] = add_unit(session, "t-ward-w", kind="ward")
    w["ward_e"] = add_unit(session, "t-ward-e", kind="ward")
    w["other"] = add_unit(session, "t-other")
    w["cat"] = add_category(session, "t-cat", default=w["dept"])
    w["nodefault"] = add_category(session, "t-nodefault")
    return w


def code_at(session: Any, lat: float, lon: float, at: datetime | None = NOW) -> str | None:
    area = routing.locate(session, lat, lon, at)
    return area.code if area else None


# --------------------------------------------------------------------------- locate


def test_points_inside_each_polygon(session: Any, world: dict) -> None:
    assert code_at(session, 10.5, 100.5) == "z-west"
    assert code_at(session, 10.5, 101.5) == "a-east"
    assert code_at(session, 10.2, 107.2) == "l-shape"


def test_shared_border_and_corner_resolve_to_lowest_code(session: Any, world: dict) -> None:
    assert code_at(session, 10.5, 101.0) == "a-east"
    assert code_at(session, 11.0, 101.0) == "a-east"   # shared corner
    assert code_at(session, 10.5, 100.0) == "z-west"   # outer edge belongs to the only polygon


def test_hole_and_island(session: Any, world: dict) -> None:
    assert code_at(session, 11.5, 104.5) == "n-island"      # inside the hole: only the island covers it
    assert code_at(session, 11.0, 104.5) == "m-ring"        # on the hole's edge: both cover, lowest code
    assert code_at(session, 10.5, 103.5) == "m-ring"


def test_hole_without_island_is_outside(session: Any, world: dict) -> None:
    world["island"].active_to = PAST
    session.flush()
    assert code_at(session, 11.5, 104.5) is None


def test_concave_notch_is_outside(session: Any, world: dict) -> None:
    assert code_at(session, 10.8, 107.8) is None
    assert code_at(session, 10.5, 107.75) == "l-shape"      # on the notch's edge


@pytest.mark.parametrize("lat,lon", [(50.0, 50.0), (float("nan"), 100.5), (10.5, float("inf")),
                                     (None, 100.5), (10.5, None), (95.0, 100.5), (10.5, 181.0)])
def test_outside_or_invalid_points(session: Any, world: dict, lat: Any, lon: Any) -> None:
    assert routing.locate(session, lat, lon, NOW) is None


def test_inactive_and_future_areas_are_skipped(session: Any, world: dict) -> None:
    world["east"].active_to = NOW
    world["west"].active_from = FUTURE
    session.flush()
    assert code_at(session, 10.5, 101.5) is None
    assert code_at(session, 10.5, 101.0) is None   # border: east retired, west not yet active
    assert code_at(session, 10.5, 100.5, at=FUTURE + timedelta(days=1)) == "z-west"


def test_index_sees_new_and_moved_areas_without_clearing(session: Any, world: dict) -> None:
    assert code_at(session, 20.5, 120.5) is None
    area = add_area(session, "new", [square(120, 20, 121, 21)])
    assert code_at(session, 20.5, 120.5) == "new"
    area.geometry = {"type": "Polygon", "coordinates": [square(130, 20, 131, 21)]}
    area.min_lon, area.max_lon = 130, 131
    session.flush()
    assert code_at(session, 20.5, 120.5) is None
    assert code_at(session, 20.5, 130.5) == "new"


def test_areas_version_setting_invalidates(session: Any, world: dict) -> None:
    area = world["west"]
    assert code_at(session, 10.5, 100.5) == "z-west"
    # same bbox, different shape: only the loader's version bump reveals it
    area.geometry = {"type": "Polygon", "coordinates": [[[100, 10], [101, 10], [100, 11], [100, 10]]]}
    session.flush()
    city_settings.put(session, "areas_version", 99)
    assert code_at(session, 10.9, 100.9) is None


def test_area_deleted_behind_the_orms_back_is_never_returned(session: Any, world: dict) -> None:
    assert code_at(session, 20.5, 140.5) is None
    add_area(session, "gone", [square(140, 20, 141, 21)])
    assert code_at(session, 20.5, 140.5) == "gone"
    session.execute(text("DELETE FROM areas WHERE code = 'gone'"))   # no ORM flush: the cached index is stale
    session.expunge_all()
    assert routing.locate(session, 20.5, 140.5, NOW) is None
    r = routing.route(session, category=None, lat=20.5, lon=140.5, at=NOW)
    assert r.area_id is None and r.is_triage


# --------------------------------------------------------------------------- rules


def route(session: Any, category: Category | None, lat: float | None = 10.5, lon: float | None = 100.5,
          at: datetime = NOW) -> routing.Route:
    return routing.route(session, category=category, lat=lat, lon=lon, at=at)


def test_specificity_category_area_beats_category_beats_area(session: Any, world: dict) -> None:
    w = world
    area_rule = add_rule(session, w["ward_e"], area=w["west"])
    assert route(session, w["cat"]).rule_id == area_rule.id
    cat_rule = add_rule(session, w["other"], category=w["cat"])
    assert route(session, w["cat"]).rule_id == cat_rule.id
    both = add_rule(session, w["ward_w"], category=w["cat"], area=w["west"], priority="urgent")
    r = route(session, w["cat"])
    assert (r.unit_id, r.rule_id, r.area_id, r.priority, r.is_triage) == (
        w["ward_w"].id, both.id, w["west"].id, "urgent", False)
    # in the east square only the category rule applies
    assert route(session, w["cat"], lon=101.5).unit_id == w["other"].id


def test_overlapping_rules_latest_start_then_lowest_id(session: Any, world: dict) -> None:
    w = world
    old = add_rule(session, w["other"], category=w["cat"], active_from=PAST)
    newer = add_rule(session, w["ward_w"], category=w["cat"], active_from=PAST + timedelta(days=30))
    add_rule(session, w["ward_e"], category=w["cat"])  # no start: counts as the oldest
    assert route(session, w["cat"]).rule_id == newer.id
    assert route(session, w["cat"], at=PAST + timedelta(days=1)).rule_id == old.id
    twin = add_rule(session, w["dept"], category=w["cat"], active_from=PAST + timedelta(days=30))
    assert route(session, w["cat"]).rule_id == min(newer.id, twin.id)


def test_effective_dates_future_and_expired_rules(session: Any, world: dict) -> None:
    w = world
    future = add_rule(session, w["ward_e"], category=w["cat"], active_from=FUTURE)
    add_rule(session, w["other"], category=w["cat"], active_from=PAST, active_to=NOW)  # ended exactly now
    r = route(session, w["cat"])
    assert (r.unit_id, r.rule_id) == (w["dept"].id, None)           # category default
    assert route(session, w["cat"], at=FUTURE - timedelta(seconds=1)).rule_id is None
    assert route(session, w["cat"], at=FUTURE).rule_id == future.id
    assert route(session, w["cat"], at=NOW - timedelta(seconds=1)).unit_id == w["other"].id


def test_rule_to_inactive_unit_falls_through(session: Any, world: dict) -> None:
    w = world
    w["ward_w"].active_to = PAST
    add_rule(session, w["ward_w"], category=w["cat"], area=w["west"])
    fallback = add_rule(session, w["other"], category=w["cat"])
    assert route(session, w["cat"]).rule_id == fallback.id


def test_default_unit_then_triage(session: Any, world: dict) -> None:
    w = world
    r = route(session, w["cat"], lat=50, lon=50)          # outside every area
    assert (r.unit_id, r.area_id, r.rule_id, r.is_triage) == (w["dept"].id, None, None, False)
    assert r.priority == "normal"
    r = route(session, w["nodefault"])
    assert (r.unit_id, r.is_triage, r.area_id) == (w["ioc"].id, True, w["west"].id)
    w["dept"].active_from = FUTURE
    session.flush()
    assert route(session, w["cat"]).unit_id == w["ioc"].id


def test_no_category_goes_to_triage_even_with_area_rule(session: Any, world: dict) -> None:
    w = world
    add_rule(session, w["ward_w"], area=w["west"])
    r = route(session, None)
    assert (r.unit_id, r.is_triage, r.rule_id, r.area_id) == (w["ioc"].id, True, None, w["west"].id)
    r = route(session, None, lat=None, lon=None)
    assert (r.unit_id, r.area_id) == (w["ioc"].id, None)


def test_rule_to_triage_unit_is_triage(session: Any, world: dict) -> None:
    w = world
    add_rule(session, w["ioc"], category=w["cat"])
    assert route(session, w["cat"]).is_triage is True


def test_route_is_frozen(session: Any, world: dict) -> None:
    r = route(session, world["cat"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.unit_id = 1  # type: ignore[misc]


def test_naive_and_default_times(session: Any, world: dict) -> None:
    assert route(session, world["cat"], at=datetime(2026, 1, 1)).unit_id == world["dept"].id
    assert routing.route(session, category=world["cat"], lat=10.5, lon=100.5).unit_id == world["dept"].id


# --------------------------------------------------------------------------- triage unit and city bounds


def test_triage_unit_missing_or_retired(session: Any) -> None:
    with pytest.raises(Unavailable) as exc:
        routing.triage_unit(session)
    assert exc.value.code == "no-triage-unit"
    add_unit(session, "old-ioc", is_triage=True, active_to=PAST)
    with pytest.raises(Unavailable):
        routing.route(session, category=None, lat=None, lon=None)
    ioc = add_unit(session, "new-ioc", is_triage=True)
    assert routing.triage_unit(session).id == ioc.id


def test_within_city_without_configuration_accepts_valid_points(session: Any) -> None:
    assert routing.within_city(session, 10.0, 106.0) is True
    assert routing.within_city(session, float("nan"), 106.0) is False
    assert routing.within_city(session, 10.0, float("-inf")) is False
    assert routing.within_city(session, None, 106.0) is False
    assert routing.within_city(session, 91.0, 106.0) is False


def test_within_city_uses_area_union_with_margin(session: Any, world: dict) -> None:
    assert routing.within_city(session, 10.5, 100.5)
    assert routing.within_city(session, 9.995, 99.995)              # inside the margin
    assert not routing.within_city(session, 9.9, 100.5)
    assert not routing.within_city(session, 10.5, 108.5)


def test_within_city_bounds_setting_wins(session: Any, world: dict) -> None:
    city_settings.put(session, "bounds", [100.0, 10.0, 100.8, 10.8])
    assert routing.within_city(session, 10.5, 100.5)
    assert not routing.within_city(session, 10.5, 101.5)
    assert not routing.within_city(session, 10.85, 100.5)
    assert routing.within_city(session, 10.8, 100.8)                 # edges are inside
