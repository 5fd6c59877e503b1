"""City pack loader (idempotent upsert, all-or-nothing validation) and city settings."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func
from sqlmodel import select

from backend.errors import InvalidInput
from backend.models import Area, CalendarOverride, Category, CitySetting, ReplyTemplate, RoutingRule, Unit
from backend.services.city import loading as cities
from backend.services.city import routing
from backend.services.city import settings as city_settings

TABLES = (Unit, Category, Area, RoutingRule, CalendarOverride, ReplyTemplate, CitySetting)


def row_counts(session: Any) -> dict[str, int]:
    return {m.__tablename__: session.exec(select(func.count()).select_from(m)).one() for m in TABLES}


def mini_pack() -> dict[str, Any]:
    return {
        "settings": {"city_name": "Thành phố Thử", "timezone": "Asia/Ho_Chi_Minh", "reopen_window_days": 5,
                     "map_center": {"lat": 9.6, "lon": 105.97}},
        "units": [
            {"code": "ioc", "kind": "ioc", "is_triage": True, "name_vi": "Trung tâm điều hành"},
            {"code": "so-xd", "name_vi": "Sở Xây dựng", "parent": "ioc"},
        ],
        "categories": [{"code": "duong", "name_vi": "Hư hỏng đường", "default_unit": "so-xd",
                        "keywords": ["ổ gà", "hư đường"], "sla": {"normal": "5d"},
                        "attributes": [{"code": "size", "datatype": "singlevaluelist", "description_vi": "Cỡ",
                                        "values": [{"key": "s", "name_vi": "Nhỏ", "name_en": "Small"}]}]}],
        "areas": [{"code": "p1", "name": "Phường 1", "is_synthetic": True,
                   "geometry": {"type": "Polygon",
                                "coordinates": [[[105, 9], [105.1, 9], [105.1, 9.1], [105, 9.1], [105, 9]]]}}],
        "routing_rules": [{"category": "duong", "area": "p1", "unit": "ioc", "active_from": "2025-07-01",
                           "priority": "urgent"}],
        "calendar_overrides": [{"day": "2026-12-31", "is_working": False, "note": "Nghỉ bù"}],
        "reply_templates": [{"state": "resolved", "title": "Đã xử lý", "body": "Kính gửi Quý công dân, ..."},
                            {"category": "duong", "state": "resolved", "locale": "en", "title": "Fixed",
                             "body": "Dear citizen, ..."}],
    }


# --------------------------------------------------------------------------- loading


def test_demo_loads_idempotently(session: Any) -> None:
    first = cities.load_demo(session=session)
    counts = row_counts(session)
    assert first["units"] == 19 and first["categories"] == 17 and first["areas"] == 8
    assert first["changed"] > 0
    session.expunge_all()   # compare against what the database returns (JSON, timezones), not the identity map
    second = cities.load_demo(session=session)
    assert second == {**first, "changed": 0}
    assert row_counts(session) == counts
    assert counts["units"] == 19 and counts["areas"] == 8 and counts["routing_rules"] == 22
    assert counts["calendar_overrides"] == 0


def test_demo_content(session: Any) -> None:
    cities.load_demo(session=session)
    ioc = routing.triage_unit(session)
    assert ioc.code == "ioc" and ioc.name_vi == "Trung tâm Giám sát, điều hành đô thị thông minh"
    areas = session.exec(select(Area)).all()
    assert all(a.is_synthetic and "mô phỏng" in a.name for a in areas)
    pothole = session.exec(select(Category).where(Category.code == "duong-hu-hong")).one()
    assert pothole.requires_after_photo and pothole.sla["ack"] == "8h" and "ổ gà" in pothole.keywords
    datatypes = {a["datatype"] for c in session.exec(select(Category)).all() for a in c.attributes}
    assert datatypes == {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}
    fire = session.exec(select(Category).where(Category.code == "khan-cap-chay-no")).one()
    assert fire.is_emergency and fire.hotline == "114"
    assert city_settings.jurisdiction_id(session) == "soctrang.demo.phananh.vn"
    assert city_settings.bounds(session) == (105.92, 9.55, 106.02, 9.66)
    assert "Sóc Trăng" in city_settings.city_name(session)


def test_pack_with_every_kind_and_reload_after_edit(session: Any) -> None:
    pack = mini_pack()
    counts = cities.load_city_pack(session, pack)
    assert counts == {"units": 2, "categories": 1, "areas": 1, "routing_rules": 1, "calendar_overrides": 1,
                      "reply_templates": 2, "settings": 4, "changed": 13}
    units = {u.code: u for u in session.exec(select(Unit)).all()}
    assert units["so-xd"].parent_id == units["ioc"].id
    rule = session.exec(select(RoutingRule)).one()
    assert rule.active_from == datetime(2025, 6, 30, 17, 0, tzinfo=UTC)   # midnight in Vietnam
    cat = session.exec(select(Category)).one()
    assert cat.keywords == "ổ gà, hư đường" and cat.sla["normal"] == "5d" and cat.sla["ack"] == "8h"
    assert session.exec(select(CalendarOverride)).one().day == date(2026, 12, 31)
    assert city_settings.reopen_window_days(session) == 5
    assert cities.load_city_pack(session, copy.deepcopy(pack))["changed"] == 0

    pack["units"][1]["name_vi"] = "Sở Xây dựng thành phố"
    pack["areas"][0]["geometry"]["coordinates"] = [[[106, 9], [106.1, 9], [106.1, 9.1], [106, 9.1], [106, 9]]]
    before = city_settings.get(session, "areas_version")
    assert cities.load_city_pack(session, pack)["changed"] == 2
    assert city_settings.get(session, "areas_version") == before + 1
    assert row_counts(session)["units"] == 2
    assert routing.locate(session, 9.05, 106.05).code == "p1"
    assert routing.locate(session, 9.05, 105.05) is None


def test_read_pack_json_with_relative_geojson(tmp_path: Path, session: Any) -> None:
    pack = mini_pack()
    areas = pack.pop("areas")
    (tmp_path / "geo").mkdir()
    (tmp_path / "geo" / "w.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {k: v for k, v in a.items() if k != "geometry"},
         "geometry": a["geometry"]} for a in areas]}), encoding="utf-8")
    pack["areas_geojson"] = "geo/w.geojson"
    path = tmp_path / "city.json"
    path.write_text(json.dumps(pack, ensure_ascii=False), encoding="utf-8")
    loaded = cities.read_pack(path)
    assert cities.load_city_pack(session, loaded)["areas"] == 1
    assert session.exec(select(Area)).one().code == "p1"


# --------------------------------------------------------------------------- bad packs


def _broken(edit: Any) -> dict[str, Any]:
    pack = mini_pack()
    edit(pack)
    return pack


BAD_PACKS = {
    "missing code": (lambda p: p["units"][1].pop("code"), "code"),
    "unknown unit in category": (lambda p: p["categories"][0].update(default_unit="nope"), "nope"),
    "unknown unit in rule": (lambda p: p["routing_rules"][0].update(unit="ghost"), "ghost"),
    "unknown area in rule": (lambda p: p["routing_rules"][0].update(area="p9"), "p9"),
    "rule without category or area": (lambda p: p["routing_rules"][0].update(category=None, area=None), "category"),
    "bowtie geometry": (lambda p: p["areas"][0]["geometry"].update(
        coordinates=[[[105, 9], [105.1, 9.1], [105.1, 9], [105, 9.1], [105, 9]]]), "p1"),
    "point geometry": (lambda p: p["areas"][0].update(geometry={"type": "Point", "coordinates": [105, 9]}), "p1"),
    "latitude out of range": (lambda p: p["areas"][0]["geometry"].update(
        coordinates=[[[9, 105], [9.1, 105], [9.1, 105.1], [9, 105]]]), "p1"),
    "bad date": (lambda p: p["routing_rules"][0].update(active_from="01/07/2025"), "active_from"),
    "end before start": (lambda p: p["routing_rules"][0].update(active_to="2025-01-01"), "active_to"),
    "bad override day": (lambda p: p["calendar_overrides"][0].update(day="2026-02-30"), "day"),
    "two triage units": (lambda p: p["units"][1].update(is_triage=True), "is_triage"),
    "duplicate code": (lambda p: p["units"].append(dict(p["units"][1])), "so-xd"),
    "emergency without hotline": (lambda p: p["categories"][0].update(is_emergency=True), "hotline"),
    "bad datatype": (lambda p: p["categories"][0]["attributes"][0].update(datatype="blob"), "blob"),
    "bad sla": (lambda p: p["categories"][0].update(sla={"normal": "three days"}), "sla"),
    "bad priority": (lambda p: p["routing_rules"][0].update(priority="asap"), "asap"),
    "unknown state": (lambda p: p["reply_templates"][0].update(state="done"), "done"),
    "bad bounds": (lambda p: p["settings"].update(bounds=[106, 9, 105, 10]), "bounds"),
    "bad timezone": (lambda p: p["settings"].update(timezone="Mars/Olympus"), "timezone"),
    "units not a list": (lambda p: p.update(units={"ioc": {}}), "units"),
    "not a boolean": (lambda p: p["units"][0].update(is_triage="yes"), "is_triage"),
    "reserved setting": (lambda p: p["settings"].update(areas_version=3), "areas_version"),
}


@pytest.mark.parametrize("name", list(BAD_PACKS))
def test_bad_pack_rejected_and_nothing_written(session: Any, name: str) -> None:
    edit, needle = BAD_PACKS[name]
    before = row_counts(session)
    with pytest.raises(InvalidInput) as exc:
        cities.load_city_pack(session, _broken(edit))
    assert exc.value.code == "pack-invalid"
    assert "không hợp lệ" in exc.value.message
    assert any(needle in problem for problem in exc.value.details), exc.value.details
    assert row_counts(session) == before


def test_bad_pack_after_demo_changes_nothing(session: Any) -> None:
    cities.load_demo(session=session)
    before = row_counts(session)
    pack = cities.read_pack(cities.DEMO_PACK)
    pack["units"][0]["name_vi"] = "Đổi tên"
    pack["routing_rules"].append({"category": "khac", "unit": "khong-co"})
    with pytest.raises(InvalidInput):
        cities.load_city_pack(session, pack)
    assert row_counts(session) == before
    assert routing.triage_unit(session).name_vi != "Đổi tên"


@pytest.mark.parametrize("name,content,code", [
    ("city.yaml", "units: [code: ioc\n  - broken", "pack-syntax"),
    ("city.json", "{\"units\": [", "pack-syntax"),
    ("city.toml", "units = []", "pack-format"),
    ("city.yaml", "- just\n- a list\n", "pack-invalid"),
    ("city.yaml", "units: []\nareas_geojson: missing.geojson\n", "pack-unreadable"),
    ("city.yaml", "units: []\nareas_geojson: [1, 2]\n", "pack-invalid"),
])
def test_read_pack_rejects_bad_files(tmp_path: Path, name: str, content: str, code: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInput) as exc:
        cities.read_pack(path)
    assert exc.value.code == code


def test_read_pack_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as exc:
        cities.read_pack(tmp_path / "none.yaml")
    assert exc.value.code == "pack-unreadable"


def test_demo_pack_is_valid_yaml_with_synthetic_wards() -> None:
    raw = yaml.safe_load(cities.DEMO_PACK.read_text(encoding="utf-8"))
    assert raw["areas_geojson"] == "wards.geojson" and raw["calendar_overrides"] == []
    geo = json.loads((cities.DEMO_PACK.parent / "wards.geojson").read_text(encoding="utf-8"))
    assert all(f["properties"]["is_synthetic"] is True for f in geo["features"])


# --------------------------------------------------------------------------- settings


def test_settings_defaults(session: Any) -> None:
    assert city_settings.get(session, "missing", 42) == 42
    assert city_settings.city_name(session) == "phananh"
    assert city_settings.bounds(session) is None
    assert city_settings.jurisdiction_id(session) == "phananh.local"
    assert city_settings.timezone(session) == "Asia/Ho_Chi_Minh"
    assert city_settings.reopen_window_days(session) == 7
    assert city_settings.close_after_days(session) == 7
    assert city_settings.reporter_visible_to_units(session) is True
    assert city_settings.moderation_required(session) is False
    assert city_settings.hotlines(session) == {"police": "113", "fire": "114", "ambulance": "115", "city": "1022"}
    assert city_settings.office_hours(session)["mon"] == [["07:30", "11:30"], ["13:30", "17:00"]]
    assert "sat" not in city_settings.office_hours(session)
    assert city_settings.quiet_hours(session) == ["21:00", "07:00"]


def test_settings_put_get_delete_and_wrong_types(session: Any) -> None:
    assert city_settings.put(session, "close_after_days", 10) is True
    assert city_settings.put(session, "close_after_days", 10) is False
    assert city_settings.close_after_days(session) == 10
    city_settings.put(session, "moderation_required", True)
    assert city_settings.moderation_required(session) is True
    city_settings.put(session, "close_after_days", True)          # a bool is not a number of days
    assert city_settings.close_after_days(session) == 7
    city_settings.put(session, "hotlines", ["113"])
    assert city_settings.hotlines(session)["fire"] == "114"
    city_settings.put(session, "bounds", [1, 2, 3])
    assert city_settings.bounds(session) is None
    value = city_settings.get(session, "hotlines")
    value.append("x")                                                  # callers get a copy
    assert city_settings.get(session, "hotlines") == ["113"]
    assert city_settings.put(session, "hotlines", None) is True
    assert city_settings.get(session, "hotlines") is None


GARBAGE = [None, [], {}, 0, -1, 1.5, True, "", "x" * 5000, [1, 2], {"a": 1}, float("nan"), ["ổ gà"], [None]]


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every (nested) key/index path in the pack."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_garbage_anywhere_is_a_clear_error_or_accepted(session: Any) -> None:
    """Replace every field of a good pack by junk: InvalidInput (nothing written) or a clean load."""
    base = mini_pack()
    for path in _paths(base):
        for junk in GARBAGE:
            pack = copy.deepcopy(base)
            target = pack
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = junk
            nested = session.begin_nested()
            try:
                cities.load_city_pack(session, pack)
            except InvalidInput as exc:
                assert exc.details, (path, junk)
            finally:
                nested.rollback()


def test_a_city_pack_declares_a_merged_units_successor_and_refuses_an_unknown_one(session):
    routing.clear_cache()
    cities.load_demo(session=session)
    gtvt = session.exec(select(Unit).where(Unit.code == "so-gtvt")).one()
    xd = session.exec(select(Unit).where(Unit.code == "so-xd")).one()
    assert gtvt.successor_id == xd.id
    pack = copy.deepcopy(cities.read_pack(cities.DEMO_PACK))
    next(u for u in pack["units"] if u["code"] == "so-gtvt")["successor"] = "so-khong-co"
    with pytest.raises(InvalidInput) as refused:
        cities.load_city_pack(session, pack)
    assert "đơn vị kế nhiệm 'so-khong-co' không được khai báo" in str(refused.value.details or refused.value)


def test_a_reload_of_the_pack_keeps_an_end_day_an_admin_set(session):
    """The pack does not declare an end for so-xd; an admin ended it; reloading the same pack keeps the end."""
    routing.clear_cache()
    cities.load_demo(session=session)
    xd = session.exec(select(Unit).where(Unit.code == "so-xd")).one()
    ended = datetime(2031, 1, 1, tzinfo=UTC)
    xd.active_to = ended
    session.flush()
    cities.load_demo(session=session)
    session.refresh(xd)
    assert xd.active_to is not None and xd.active_to.replace(tzinfo=UTC) == ended
