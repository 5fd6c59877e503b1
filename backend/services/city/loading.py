"""City packs: load a city (units, categories, areas, rules, templates, settings) into the database.

``read_pack(path)`` parses and validates a pack file (parsing and validation live in
``services.city.pack``); ``load_city_pack(session, pack)`` validates again and upserts everything by
its natural key, idempotently: units, categories and areas by ``code``; routing rules by (category
code, area code, active_from); calendar overrides by day; reply templates by (category code, state,
locale, title); settings by key. Loading the same pack twice changes nothing. Rows absent from the
pack are left alone (retire them with ``active_to``); a unit's end day or successor set by an admin is kept by a
reload of a pack that does not declare one. On any error nothing is written and
``InvalidInput`` carries the list of problems in ``details``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from backend.models.areas import Area
from backend.models.calendar import CalendarOverride
from backend.models.categories import Category
from backend.models.routing import RoutingRule
from backend.models.templates import ReplyTemplate
from backend.models.units import Unit
from backend.services.city import calendar as working_calendar
from backend.services.city import pack as citypack
from backend.services.city import settings as city_settings
from backend.services.city.pack import KINDS, validate

log = logging.getLogger(__name__)

DEMO_PACK: Path = Path(__file__).resolve().parents[2] / "demo" / "city.yaml"


def read_pack(path: str | Path) -> dict[str, Any]:
    """Parse and validate a pack file (``.yaml``/``.yml``/``.json``). Raises InvalidInput."""
    return citypack.read(path)


def load_city_pack(session: Session, pack: dict[str, Any]) -> dict[str, int]:
    """Validate, then upsert the pack. Returns item counts per kind plus ``changed`` (rows written).

    Raises InvalidInput (nothing written) for a malformed pack. Only flushes.
    """
    data = validate(pack)
    changed = 0
    units, n = _load(session, Unit, data["units"], ("code",), {"parent", "successor", "active_to"})
    changed += n
    for item in data["units"]:
        row = units[item["code"]]
        changed += _apply(row, {"parent_id": units[item["parent"]].id if item["parent"] else None})
        # declared in the pack wins; an end day or a successor set by an admin is not cleared by a reload
        if item["successor"]:
            changed += _apply(row, {"successor_id": units[item["successor"]].id})
        if item["active_to"]:
            changed += _apply(row, {"active_to": item["active_to"]})
    categories, n = _load(session, Category, [
        {**c, "default_unit_id": units[c["default_unit"]].id if c["default_unit"] else None}
        for c in data["categories"]], ("code",), {"default_unit"})
    changed += n
    areas, n = _load(session, Area, data["areas"], ("code",))
    changed += n
    if n:
        city_settings.put(session, "areas_version", int(city_settings.get(session, "areas_version", 0)) + 1)
    ids = {"category": categories, "area": areas}
    rules = [{**{k: v for k, v in r.items() if k not in ("category", "area", "unit")},
              "category_id": _id(ids, "category", r), "area_id": _id(ids, "area", r),
              "unit_id": units[r["unit"]].id} for r in data["routing_rules"]]
    changed += _load(session, RoutingRule, rules, ("category_id", "area_id", "active_from"))[1]
    overrides_changed = _load(session, CalendarOverride, data["calendar_overrides"], ("day",))[1]
    if overrides_changed:
        working_calendar.forget_overrides(session)
    changed += overrides_changed
    templates = [{**{k: v for k, v in t.items() if k != "category"}, "category_id": _id(ids, "category", t)}
                 for t in data["reply_templates"]]
    changed += _load(session, ReplyTemplate, templates, ("category_id", "state", "locale", "title"))[1]
    for key, value in data["settings"].items():
        changed += city_settings.put(session, key, value)
    session.flush()
    counts = {kind: len(data[kind]) for kind in KINDS}
    counts["changed"] = changed
    log.info("city pack loaded: %s", counts)
    return counts


def load_demo(*, session: Session) -> dict[str, int]:
    """Load the bundled demo city (synthetic wards around Sóc Trăng; see backend/demo/README.md)."""
    return load_city_pack(session, read_pack(DEMO_PACK))


def _id(ids: dict[str, dict[str, Any]], kind: str, item: dict[str, Any]) -> int | None:
    return ids[kind][item[kind]].id if item[kind] else None


def _apply(row: Any, values: dict[str, Any]) -> bool:
    """Set the attributes that differ; True if any did."""
    dirty = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            dirty = True
    return dirty


def _load(session: Session, model: Any, items: list[dict[str, Any]], key: tuple[str, ...],
          skip: frozenset[str] | set[str] = frozenset()) -> tuple[dict[Any, Any], int]:
    """Upsert ``items`` into ``model`` by the ``key`` columns; returns (key value → row, rows changed).

    Single-column keys are returned unwrapped (``rows["ioc"]``).
    """
    def ident(get: Any) -> Any:
        parts = tuple(get(name) for name in key)
        return parts[0] if len(parts) == 1 else parts

    existing = {ident(lambda n, r=row: getattr(r, n)): row for row in session.exec(select(model)).all()}
    rows, changed = {}, 0
    for item in items:
        values = {k: v for k, v in item.items() if k not in skip}
        ident_value = ident(values.__getitem__)
        row = existing.get(ident_value)
        if row is None:
            row = model(**values)
            session.add(row)
            changed += 1
        else:
            changed += _apply(row, values)
        rows[ident_value] = existing[ident_value] = row
    session.flush()
    return rows, changed
