"""The per-process rule cache of ``routing.route``: no rule queries when warm, and every edit is seen."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, text

from backend.models import Area, Category, RoutingRule, Unit
from backend.services.city import routing
from backend.services.city import settings as city_settings

NOW = datetime(2026, 6, 15, 3, 0, tzinfo=UTC)
SQUARE = {"type": "Polygon", "coordinates": [[[100, 10], [101, 10], [101, 11], [100, 11], [100, 10]]]}


@pytest.fixture(autouse=True)
def _fresh_cache() -> Any:
    routing.clear_cache()
    yield
    routing.clear_cache()


def _city(session: Any) -> dict[str, Any]:
    area = Area(code="c-area", name="c-area", geometry=SQUARE, min_lon=100, min_lat=10, max_lon=101, max_lat=11)
    ioc, dept, ward = (Unit(code="c-ioc", name_vi="IOC", is_triage=True), Unit(code="c-dept", name_vi="Sở"),
                       Unit(code="c-ward", name_vi="Phường"))
    session.add_all([area, ioc, dept, ward])
    session.flush()
    cat = Category(code="c-cat", name_vi="Danh mục", default_unit_id=dept.id)
    session.add(cat)
    session.flush()
    return {"area": area, "ioc": ioc, "dept": dept, "ward": ward, "cat": cat}


def _statements(session: Any, fn: Any) -> tuple[Any, list[str]]:
    seen: list[str] = []
    engine = session.get_bind().engine

    def listener(_conn, _cursor, statement, *_args) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        return fn(), seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def _own(statements: list[str]) -> list[str]:
    """Without the test's own transaction (SAVEPOINT/RELEASE stand for BEGIN/COMMIT here)."""
    return [s for s in statements if not s.startswith(("SAVEPOINT", "RELEASE"))]


def _route(session: Any, cat: Category) -> routing.Route:
    return routing.route(session, category=cat, lat=10.5, lon=100.5, at=NOW)


def test_warm_route_only_checks_the_area_row(session: Any) -> None:
    city = _city(session)
    assert _route(session, city["cat"]).unit_id == city["dept"].id
    result, statements = _statements(session, lambda: _route(session, city["cat"]))
    assert result.unit_id == city["dept"].id and result.area_id == city["area"].id
    assert len(statements) == 1 and "FROM areas" in statements[0], statements


def test_a_flushed_rule_edit_writes_a_new_routing_version(session: Any) -> None:
    city = _city(session)
    before = city_settings.get(session, routing.ROUTING_VERSION_KEY)
    rule = RoutingRule(unit_id=city["ward"].id, category_id=city["cat"].id, area_id=city["area"].id)
    session.add(rule)
    session.flush()
    added = city_settings.get(session, routing.ROUTING_VERSION_KEY)
    assert added and added != before
    rule.priority = "urgent"
    session.flush()
    assert city_settings.get(session, routing.ROUTING_VERSION_KEY) not in (before, added)


def test_pending_rule_edits_are_flushed_before_routing(session: Any) -> None:
    city = _city(session)
    assert _route(session, city["cat"]).unit_id == city["dept"].id
    session.add(RoutingRule(unit_id=city["ward"].id, category_id=city["cat"].id))   # not flushed
    assert _route(session, city["cat"]).unit_id == city["ward"].id


def test_unit_window_edits_are_seen(session: Any) -> None:
    city = _city(session)
    session.add(RoutingRule(unit_id=city["ward"].id, category_id=city["cat"].id))
    session.flush()
    assert _route(session, city["cat"]).unit_id == city["ward"].id
    city["ward"].active_to = datetime(2026, 1, 1, tzinfo=UTC)
    assert _route(session, city["cat"]).unit_id == city["dept"].id   # the rule's unit is closed: fallback


def test_another_process_edit_is_seen_through_routing_version(session: Any) -> None:
    """Raw SQL stands for another process: this process's generation does not move, the setting does."""
    city = _city(session)
    session.commit()
    assert _route(session, city["cat"]).unit_id == city["dept"].id
    session.commit()
    session.execute(text("INSERT INTO routing_rules (category_id, unit_id, note) VALUES (:c, :u, '')"),
                    {"c": city["cat"].id, "u": city["ward"].id})
    session.commit()
    assert _route(session, city["cat"]).unit_id == city["dept"].id   # stale: nobody signalled the change
    session.commit()
    city_settings.put(session, routing.ROUTING_VERSION_KEY, "bumped-elsewhere")
    session.commit()
    assert _route(session, city["cat"]).unit_id == city["ward"].id


def test_an_area_deleted_behind_the_cache_is_not_used(session: Any) -> None:
    city = _city(session)
    session.add(RoutingRule(unit_id=city["ward"].id, area_id=city["area"].id, category_id=city["cat"].id))
    session.flush()
    assert _route(session, city["cat"]).area_id == city["area"].id
    session.execute(text("DELETE FROM routing_rules"))
    session.execute(text("DELETE FROM areas"))
    session.expunge_all()
    result = routing.route(session, category=session.get(Category, city["cat"].id), lat=10.5, lon=100.5, at=NOW)
    assert result.area_id is None


def test_an_area_moved_in_another_process_is_seen_through_routing_version(session: Any) -> None:
    """Another process's ORM flush of an Area writes ``routing_version`` only (no ``areas_version`` bump)."""
    city = _city(session)
    session.add(RoutingRule(unit_id=city["ward"].id, area_id=city["area"].id, category_id=city["cat"].id))
    session.commit()
    assert _route(session, city["cat"]).unit_id == city["ward"].id
    session.commit()
    moved = {"type": "Polygon", "coordinates": [[[102, 10], [103, 10], [103, 11], [102, 11], [102, 10]]]}
    session.execute(text("UPDATE areas SET geometry = :g, min_lon = 102, max_lon = 103 WHERE id = :id"),
                    {"g": json.dumps(moved), "id": city["area"].id})
    city_settings.put(session, routing.ROUTING_VERSION_KEY, "area-moved-elsewhere")
    session.commit()
    assert _route(session, city["cat"]).unit_id == city["dept"].id  # the point is no longer in the ward


def test_prefetch_reads_the_settings_and_the_area_in_one_query(session: Any) -> None:
    """An intake's first settings read and its area check share one round trip (issue 20)."""
    city = _city(session)
    session.commit()
    assert _route(session, city["cat"]).unit_id == city["dept"].id   # this process now has an index
    session.commit()

    def intake_reads() -> Any:
        routing.prefetch(session, 10.5, 100.5, NOW)
        city_settings.get(session, "city_name")
        return _route(session, city["cat"])

    result, statements = _statements(session, intake_reads)
    statements = _own(statements)
    assert result.area_id == city["area"].id and result.unit_id == city["dept"].id
    assert len(statements) == 1, statements
    assert "city_settings" in statements[0] and "areas" in statements[0]
    session.commit()   # the next transaction confirms its area again
    _, statements = _statements(session, lambda: _route(session, city["cat"]))
    assert any("FROM areas" in s for s in statements), statements


def test_prefetch_never_vouches_for_an_area_deleted_behind_the_cache(session: Any) -> None:
    city = _city(session)
    session.add(RoutingRule(unit_id=city["ward"].id, area_id=city["area"].id, category_id=city["cat"].id))
    session.commit()
    assert _route(session, city["cat"]).unit_id == city["ward"].id
    session.commit()
    session.execute(text("DELETE FROM routing_rules"))
    session.execute(text("DELETE FROM areas"))
    session.commit()
    routing.prefetch(session, 10.5, 100.5, NOW)   # the stale index still finds the deleted ward
    assert city_settings.has_snapshot(session)
    result = routing.route(session, category=session.get(Category, city["cat"].id), lat=10.5, lon=100.5, at=NOW)
    assert result.area_id is None and result.unit_id == city["dept"].id


def test_prefetch_does_nothing_without_a_point_an_index_or_with_settings_already_read(session: Any) -> None:
    city = _city(session)
    session.commit()
    for lat, lon in ((None, None), (float("nan"), 100.5), (True, 100.5), ("x", 100.5)):
        _, statements = _statements(session, lambda lat=lat, lon=lon: routing.prefetch(session, lat, lon, NOW))
        assert not _own(statements)
        assert not city_settings.has_snapshot(session)
    _, statements = _statements(session, lambda: routing.prefetch(session, 10.5, 100.5, NOW))
    assert not _own(statements)   # no index built yet in this process: nothing to guess from
    _route(session, city["cat"])
    _, statements = _statements(session, lambda: routing.prefetch(session, 10.5, 100.5, NOW))
    assert not _own(statements)   # this transaction already read the settings
