"""Routing: which unit receives a report, from its category and location (pure data, no code rules).

- **Areas** are ward/commune polygons. ``locate()`` finds the area covering a point with a shapely
  ``STRtree`` built from every area row and cached per process and database, keyed on the
  ``areas_version`` city setting (bumped by the city-pack loader) and on a per-process counter bumped by
  any ORM flush touching an Area, so edits are seen at once (see ``area_index``).
- **Border rule**: an area *covers* its boundary, so a point exactly on a border shared by two wards
  matches both; the active area with the **lowest code** wins (deterministic). Points in a polygon's
  hole are not covered by it.
- **Rules** (``routing_rules``): the most specific active rule wins: category + area, then category
  only, then area only. Ties: the latest ``active_from`` (none counts as the oldest), then the lowest
  id. A rule whose unit has ended with a successor (``units.successor_id``) routes to the successor;
  a rule whose unit is otherwise not active at that time is skipped. Rules with neither category nor area
  are ignored. Activity windows are half-open: ``active_from <= at < active_to``.
- **Fallbacks**: no rule → the category's ``default_unit_id`` (if active, or its successor) → the triage unit (IOC).
  A report without a category always goes to triage: the IOC has to classify it first.
- **Rule cache**: ``route()`` reads the rules and the units' activity windows from a per-process,
  per-database :class:`RuleBook`, valid for the same fingerprint as the area index plus the
  ``routing_version`` city setting. Any ORM flush that touches an Area, a RoutingRule or a Unit
  writes a new random ``routing_version`` in the same transaction (so other processes notice at
  their next transaction) and bumps the per-process generation (so this process notices at once).
  Whoever edits those tables with raw SQL must also write ``routing_version`` (or call
  ``clear_cache``). ``route()`` still checks that the area it found exists (one primary-key query), unless
  ``prefetch()`` read that row together with the transaction's settings (an intake's single query for both).
"""

from __future__ import annotations

import logging
import math
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import shapely
from shapely.geometry import shape
from sqlalchemy import String, and_, bindparam, cast, event, func, literal, null, or_, union_all
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import defer
from sqlmodel import Session, select

from backend.db import database_key
from backend.errors import Unavailable
from backend.models.areas import Area
from backend.models.categories import Category
from backend.models.routing import RoutingRule
from backend.models.units import Unit
from backend.services.city import settings as city_settings
from backend.statements import DriverStatement

log = logging.getLogger(__name__)

#: margin (degrees, ≈ 1.1 km) around the union of the areas when no ``bounds`` setting exists
AREA_BOUNDS_MARGIN = 0.01


@dataclass(frozen=True)
class Route:
    """Where a report goes. ``priority`` is the rule's override, else the category default."""

    unit_id: int
    area_id: int | None
    rule_id: int | None
    priority: str | None
    is_triage: bool


def is_active(row: Any, at: datetime) -> bool:
    """True when ``row.active_from <= at < row.active_to`` (missing bounds are open)."""
    start, end = getattr(row, "active_from", None), getattr(row, "active_to", None)
    return (start is None or start <= at) and (end is None or at < end)


def _when(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _valid_point(lat: float | None, lon: float | None) -> bool:
    if lat is None or lon is None or isinstance(lat, bool) or isinstance(lon, bool):
        return False
    try:
        lat, lon = float(lat), float(lon)
    except (TypeError, ValueError):
        return False
    return math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180


# --------------------------------------------------------------------------- area index


class AreaIndex:
    """An in-memory STRtree over area polygons; ``candidates()`` returns covering area ids."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        """``rows``: ``(id, code, geometry[, active_from, active_to])``."""
        ids, codes, geoms, windows = [], [], [], []
        for area_id, code, geometry, *window in rows:
            try:
                geom = shape(geometry)
            except Exception:  # noqa: BLE001 - a broken row must not break routing
                log.warning("area %s has an unreadable geometry; ignored", code)
                continue
            if geom.is_empty:
                continue
            shapely.prepare(geom)
            ids.append(area_id)
            codes.append(code)
            geoms.append(geom)
            windows.append(_Window(*(window or (None, None))))
        self.ids = ids
        self.codes = codes
        self.windows = windows
        self.tree = shapely.STRtree(geoms)

    def candidates(self, lat: float, lon: float) -> list[tuple[str, int]]:
        """``(code, id)`` of every area covering the point, sorted by code."""
        hits = self.tree.query(shapely.Point(lon, lat), predicate="covered_by")
        return sorted((self.codes[i], self.ids[i]) for i in hits)

    def find(self, lat: float, lon: float, at: datetime) -> int | None:
        """Id of the area active at ``at`` covering the point (lowest code wins), else None."""
        hits = self.tree.query(shapely.Point(lon, lat), predicate="covered_by")
        active = [(self.codes[i], self.ids[i]) for i in hits if is_active(self.windows[i], at)]
        return min(active)[1] if active else None


@dataclass(frozen=True)
class _Window:
    active_from: datetime | None
    active_to: datetime | None


@dataclass(frozen=True)
class _Rule:
    id: int
    category_id: int | None
    area_id: int | None
    unit_id: int
    priority: str | None
    active_from: datetime | None
    active_to: datetime | None


@dataclass(frozen=True)
class _Unit:
    id: int
    is_triage: bool
    active_from: datetime | None
    active_to: datetime | None
    name_vi: str = ""
    name_en: str | None = None
    successor_id: int | None = None


#: how many successors routing follows from an ended unit (a merger of a merger …)
MAX_SUCCESSORS = 5


class RuleBook:
    """Every routing rule and unit window in memory; answers :func:`route`'s questions without SQL."""

    def __init__(self, rules: list[_Rule], units: list[_Unit]) -> None:
        self.units = {u.id: u for u in units}
        self.triage = sorted((u for u in units if u.is_triage), key=lambda u: u.id)
        buckets: dict[tuple[int | None, int | None], list[_Rule]] = defaultdict(list)
        for rule in rules:
            if _specificity(rule) > 0:
                buckets[(rule.category_id, rule.area_id)].append(rule)
        self.buckets = {k: sorted(v, key=_rule_order) for k, v in buckets.items()}

    def rules(self, category_id: int, area_id: int | None, at: datetime) -> list[_Rule]:
        """Active rules for (category, area), best first (same order as :func:`matching_rules`)."""
        keys = [(category_id, area_id), (category_id, None)] if area_id is not None else [(category_id, None)]
        if area_id is not None:
            keys.append((None, area_id))
        return [r for k in keys for r in self.buckets.get(k, ()) if is_active(r, at)]

    def active_unit(self, unit_id: int | None, at: datetime) -> _Unit | None:
        """The unit if active at ``at``; for a unit that has ended, its active successor (followed up to
        :data:`MAX_SUCCESSORS` hops); else None."""
        unit = self.units.get(unit_id) if unit_id is not None else None
        for _ in range(MAX_SUCCESSORS + 1):
            if unit is None or is_active(unit, at):
                return unit
            ended = unit.active_to is not None and unit.active_to <= at
            unit = self.units.get(unit.successor_id) if ended and unit.successor_id is not None else None
        return None

    def triage_unit(self, at: datetime) -> _Unit:
        for unit in self.triage:
            if is_active(unit, at):
                return unit
        raise _no_triage()


_cache: dict[str, tuple[tuple[Any, ...], AreaIndex]] = {}
_rule_cache: dict[str, tuple[tuple[Any, ...], RuleBook]] = {}
_cache_lock = threading.Lock()
_generation = 0        # bumped whenever a session in this process flushes an Area change
_rule_generation = 0   # ... an Area, RoutingRule or Unit change

#: city setting rewritten (random token) by every flush that changes routing data: other processes' caches
ROUTING_VERSION_KEY = "routing_version"
_ROUTING_MODELS = (Area, RoutingRule, Unit)


city_settings.stamp_on_change(ROUTING_VERSION_KEY, _ROUTING_MODELS)


@event.listens_for(OrmSession, "after_flush")
def _note_routing_changes(session: OrmSession, _context: Any) -> None:
    global _generation, _rule_generation
    changed = [obj for obj in (*session.new, *session.dirty, *session.deleted) if isinstance(obj, _ROUTING_MODELS)]
    if changed:
        _rule_generation += 1
    if any(isinstance(obj, Area) for obj in changed):
        _generation += 1
        session.info.pop(_CONFIRMED_KEY, None)


def _fingerprint(session: Session) -> tuple[Any, ...]:
    """``routing_version`` is rewritten by any ORM flush of an Area (see ``settings.stamp_on_change``), so an
    area edited in another process is noticed even when ``areas_version`` was not bumped (or raced)."""
    return (city_settings.get(session, "areas_version", 0), city_settings.get(session, ROUTING_VERSION_KEY),
            _generation)


def area_index(session: Session) -> AreaIndex:
    """The cached index for this database, rebuilt when the areas changed.

    Validity key: the ``areas_version`` city setting (bumped by the city-pack loader, so other processes
    notice) and a per-process generation bumped by any ORM flush that inserts, changes or deletes an Area.
    Whoever edits areas with raw SQL must bump ``areas_version`` (or call ``clear_cache``).
    """
    key = database_key(session)
    fingerprint = _fingerprint(session)
    cached = _cache.get(key)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    rows = session.exec(select(Area.id, Area.code, Area.geometry, Area.active_from, Area.active_to)).all()
    index = AreaIndex([tuple(r) for r in rows])
    with _cache_lock:
        _cache[key] = (fingerprint, index)
    log.info("area index rebuilt: %d areas", len(index.ids))
    return index


def clear_cache() -> None:
    """Forget every cached index (tests, or after editing areas outside the loader)."""
    with _cache_lock:
        _cache.clear()
        _rule_cache.clear()


def locate(session: Session, lat: float | None, lon: float | None, at: datetime | None = None) -> Area | None:
    """The active area covering the point (see the border rule above), or None."""
    if not _valid_point(lat, lon):
        return None
    area_id = area_index(session).find(float(lat), float(lon), _when(at))  # type: ignore[arg-type]
    if area_id is None:
        return None
    return session.get(Area, area_id, options=[defer(Area.geometry)])


def within_city(session: Session, lat: float | None, lon: float | None) -> bool:
    """Is the point inside the city? Uses the ``bounds`` setting, else the areas' union bbox + margin.

    With neither configured, any valid coordinate is accepted. NaN, inf and None are rejected.
    """
    if not _valid_point(lat, lon):
        return False
    lat, lon = float(lat), float(lon)  # type: ignore[arg-type]
    box = city_settings.bounds(session)
    margin = 0.0
    if box is None:
        row = session.exec(select(func.min(Area.min_lon), func.min(Area.min_lat),
                                  func.max(Area.max_lon), func.max(Area.max_lat))).one()
        if row[0] is None:
            return True
        box, margin = tuple(float(v) for v in row), AREA_BOUNDS_MARGIN
    min_lon, min_lat, max_lon, max_lat = box
    return (min_lon - margin <= lon <= max_lon + margin) and (min_lat - margin <= lat <= max_lat + margin)


# --------------------------------------------------------------------------- units and rules


def triage_unit(session: Session, at: datetime | None = None) -> Unit:
    """The active triage unit (the IOC). Raises Unavailable when the city has none."""
    when = _when(at)
    units = session.exec(select(Unit).where(Unit.is_triage == True).order_by(Unit.id)).all()  # noqa: E712
    for unit in units:
        if is_active(unit, when):
            return unit
    raise _no_triage()


def _no_triage() -> Unavailable:
    return Unavailable("Chưa cấu hình đơn vị tiếp nhận và phân loại (IOC); không thể điều phối phản ánh.",
                       code="no-triage-unit")


def _specificity(rule: RoutingRule | _Rule) -> int:
    return 2 * (rule.category_id is not None) + (rule.area_id is not None)


def _rule_order(rule: RoutingRule | _Rule) -> tuple[int, float, int]:
    started = rule.active_from.timestamp() if rule.active_from else float("-inf")
    return (-_specificity(rule), -started, rule.id or 0)


def matching_rules(session: Session, *, category_id: int | None, area_id: int | None,
                   at: datetime) -> list[tuple[RoutingRule, Unit]]:
    """Active rules that apply to (category, area), best first, each with its unit (one query)."""
    conditions = []
    if category_id is not None:   # category + this area, or category only
        conditions.append(and_(RoutingRule.category_id == category_id,
                               or_(RoutingRule.area_id.is_(None), RoutingRule.area_id == area_id)))
    if area_id is not None:       # area only
        conditions.append(and_(RoutingRule.category_id.is_(None), RoutingRule.area_id == area_id))
    if not conditions:
        return []
    rows = session.exec(select(RoutingRule, Unit).join(Unit, Unit.id == RoutingRule.unit_id)
                        .where(or_(*conditions))).all()
    applicable = [
        (r, u) for r, u in rows
        if r.category_id in (None, category_id) and r.area_id in (None, area_id)
        and _specificity(r) > 0 and is_active(r, at)
    ]
    return sorted(applicable, key=lambda pair: _rule_order(pair[0]))


def _active_unit(session: Session, unit_id: int | None, at: datetime) -> Unit | None:
    if unit_id is None:
        return None
    unit = session.get(Unit, unit_id)
    return unit if unit is not None and is_active(unit, at) else None


def rule_book(session: Session) -> RuleBook:
    """The cached rules and units of this database (see "Rule cache" in the module doc)."""
    if city_settings.has_changes(session, _ROUTING_MODELS):
        session.flush()   # what a query would autoflush: pending edits must count
    key = database_key(session)
    fingerprint = (*_fingerprint(session), _rule_generation)
    cached = _rule_cache.get(key)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    rules = [_Rule(*row) for row in session.exec(select(
        RoutingRule.id, RoutingRule.category_id, RoutingRule.area_id, RoutingRule.unit_id, RoutingRule.priority,
        RoutingRule.active_from, RoutingRule.active_to)).all()]
    units = [_Unit(*row) for row in session.exec(select(Unit.id, Unit.is_triage, Unit.active_from,
                                                        Unit.active_to, Unit.name_vi, Unit.name_en,
                                                        Unit.successor_id)).all()]
    book = RuleBook(rules, units)
    with _cache_lock:
        _rule_cache[key] = (fingerprint, book)
    log.info("routing rules cached: %d rules, %d units", len(rules), len(units))
    return book


_CONFIRMED_KEY = "phananh.routing_confirmed_area"   # session.info: an area id read from the db this transaction
_AREAS = Area.__table__.c
_PREFETCH = DriverStatement(union_all(city_settings.SNAPSHOT_QUERY, select(literal(1), cast(_AREAS.id, String), null())
                                      .where(_AREAS.id == bindparam("area_id"))))


def prefetch(session: Session, lat: Any, lon: Any, at: datetime | None = None) -> None:
    """Before an intake's first settings read: the settings snapshot and the existence of the area this
    process's last index puts the point in, in one query (``route`` then needs none for that area).
    Without a snapshot to load, a point or an index, nothing happens; a stale guess costs ``route`` its query."""
    cached = _cache.get(database_key(session))
    if city_settings.has_snapshot(session) or cached is None or not _valid_point(lat, lon):
        return
    guess = cached[1].find(float(lat), float(lon), _when(at))
    if guess is not None:
        found = city_settings.keep_snapshot(session, _PREFETCH.rows(session, {"area_id": guess}))
        session.info[_CONFIRMED_KEY] = guess if found else None


@event.listens_for(OrmSession, "after_transaction_end")
def _forget_confirmed(session: OrmSession, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_CONFIRMED_KEY, None)


def _existing_area(session: Session, lat: float | None, lon: float | None, at: datetime) -> int | None:
    """Id of the covering area (see ``locate``), checked against the database (one indexed query, or
    none when ``prefetch`` read that very row in this transaction)."""
    if not _valid_point(lat, lon):
        return None
    area_id = area_index(session).find(float(lat), float(lon), at)  # type: ignore[arg-type]
    if area_id is None:
        return None
    if session.info.get(_CONFIRMED_KEY) == area_id:
        return area_id
    areas = Area.__table__.c   # core, not ORM: this runs on every intake
    row = session.connection().execute(select(areas.id).where(areas.id == area_id)).first()
    return row[0] if row is not None else None


def unit_name(session: Session, unit_id: int, lang: str = "vi") -> str | None:
    """A unit's name from the cached rule book (no query; same validity as routing), None if unknown."""
    unit = rule_book(session).units.get(unit_id)
    if unit is None:
        return None
    return unit.name_en if lang.startswith("en") and unit.name_en else unit.name_vi


def route(session: Session, *, category: Category | None, lat: float | None, lon: float | None,
          at: datetime | None = None) -> Route:
    """Decide the unit for a report (no side effects). Raises Unavailable if triage is needed but unset."""
    when = _when(at)
    book = rule_book(session)
    area_id = _existing_area(session, lat, lon, when)   # never an id the index remembers but the db lost
    if category is None:
        return Route(book.triage_unit(when).id, area_id, None, None, True)
    for rule in book.rules(category.id, area_id, when):  # type: ignore[arg-type]
        unit = book.active_unit(rule.unit_id, when)
        if unit is not None:
            return Route(unit.id, area_id, rule.id, rule.priority or category.priority_default, unit.is_triage)
    unit = book.active_unit(category.default_unit_id, when) or book.triage_unit(when)
    return Route(unit.id, area_id, None, category.priority_default, unit.is_triage)
